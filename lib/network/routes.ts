/**
 * The thin wrapper around `decideEgress` (./egress.ts): looks up the route table of every subnet a
 * host is placed in, at preview as at deploy, and refuses a placement with no way out before any
 * host is declared there.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { ResolvedClusterArgs } from "../args/types";
import { ClusterArgsError, SubnetInfo } from "../args/validate";
import { decideEgress, endpointDnsProblems, ResolvedEgress, RouteInfo, SubnetRouteTable } from "./egress";
import { Network } from "./network";

export type Placement = { nodes: SubnetInfo[]; etcd: SubnetInfo[] };

export interface EgressPlan {
  /** The network's placement, passed through only once every placement subnet has a way out. */
  placement: pulumi.Output<Placement>;
  /** The egress of each placement subnet (what "auto" chose). */
  bySubnet: pulumi.Output<Record<string, ResolvedEgress>>;
  /** The placement subnets' route tables (for the S3 gateway endpoint). */
  routeTableIds: pulumi.Output<string[]>;
}

/** The subnets hosts are placed in, each once, sorted. */
export function placementSubnets(p: Placement): SubnetInfo[] {
  const byId = new Map([...p.nodes, ...p.etcd].map((s) => [s.id, s]));
  return [...byId.values()].sort((a, b) => a.id.localeCompare(b.id));
}

/** The route table a subnet uses: its explicit association, else the VPC's main route table (as AWS does). */
function routeTableOf(subnetId: string, vpcId: string, opts: pulumi.InvokeOutputOptions): pulumi.Output<SubnetRouteTable> {
  const explicit = aws.ec2.getRouteTablesOutput({ vpcId, filters: [{ name: "association.subnet-id", values: [subnetId] }] }, opts).ids;
  return explicit.apply((ids) => {
    const main = ids.length === 0;
    const table = main
      ? aws.ec2.getRouteTableOutput({ vpcId, filters: [{ name: "association.main", values: ["true"] }] }, opts)
      : aws.ec2.getRouteTableOutput({ routeTableId: ids[0] }, opts);
    return table.apply((t) => ({ subnetId, routeTableId: t.routeTableId, main, routes: (t.routes ?? []) as RouteInfo[] }));
  });
}

export function planEgress(args: ResolvedClusterArgs, network: Network, parent: pulumi.Resource): EgressPlan {
  const opts = { parent };
  const tables = pulumi
    .all([network.placement, network.vpcId])
    .apply(([p, vpcId]) => pulumi.all(placementSubnets(p).map((s) => routeTableOf(s.id, vpcId, opts))));
  // Interface endpoints need the VPC's DNS attributes; the other modes do not look at them.
  const dns =
    args.egress === "endpoints"
      ? aws.ec2.getVpcOutput({ id: network.vpcId }, opts).apply((v) => endpointDnsProblems(v.id, v))
      : pulumi.output([] as string[]);
  const decision = pulumi.all([tables, dns]).apply(([t, dnsProblems]) => {
    const d = decideEgress(args.egress, t);
    const problems = [...d.problems, ...dnsProblems];
    if (problems.length) throw new ClusterArgsError(problems);
    return d.bySubnet;
  });
  return {
    placement: pulumi.all([network.placement, decision]).apply(([p]) => p),
    bySubnet: decision,
    routeTableIds: pulumi.all([tables, decision]).apply(([t]) => [...new Set(t.map((x) => x.routeTableId))].sort()),
  };
}
