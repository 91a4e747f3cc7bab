/**
 * Resolves the VPC and subnets (looked up when not given) and places each host in a subnet, spread
 * over availability zones. The zone check runs once the lookups resolve (`validatePlacement`).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { ResolvedClusterArgs } from "../args/types";
import { SubnetInfo, validatePlacement, ZoneOffer } from "../args/validate";
import { oneSubnetPerZone } from "./egress";

export interface Network {
  vpcId: pulumi.Output<string>;
  /** Every IPv4 CIDR block associated with the VPC, the primary first (hosts may be in a secondary block's subnets). */
  vpcCidrs: pulumi.Output<string[]>;
  /**
   * The load balancer's subnets: one per zone of the subnets given (or found), the same one hosts are
   * placed in. CreateLoadBalancer takes one subnet per Availability Zone (Elastic Load Balancing API
   * Reference, CreateLoadBalancer, Subnets).
   */
  subnetIds: pulumi.Output<string[]>;
  /** Subnet of each PostgreSQL node and each dedicated etcd member, by index. */
  placement: pulumi.Output<{ nodes: SubnetInfo[]; etcd: SubnetInfo[] }>;
}

/** The VPC's associated IPv4 blocks, the primary first, each once. Pure. */
export function vpcCidrBlocks(v: { cidrBlock: string; cidrBlockAssociations?: Array<{ cidrBlock: string; state?: string }> }): string[] {
  const associated = (v.cidrBlockAssociations ?? []).filter((a) => !a.state || a.state === "associated").map((a) => a.cidrBlock);
  return [...new Set([v.cidrBlock, ...associated])];
}

export function resolveNetwork(args: ResolvedClusterArgs, parent: pulumi.Resource): Network {
  const opts = { parent };
  const describe = (ids: string[]) =>
    pulumi
      .all(ids.map((id) => aws.ec2.getSubnetOutput({ id }, opts)))
      .apply((subnets) => subnets.map((s) => ({ id: s.id, availabilityZone: s.availabilityZone, vpcId: s.vpcId })));

  let vpcId: pulumi.Output<string>;
  let subnets: pulumi.Output<Array<SubnetInfo & { vpcId: string }>>;
  if (args.subnetIds !== undefined) {
    subnets = pulumi.output(args.subnetIds).apply((ids) => {
      if (ids.length < 2)
        throw new Error(`subnetIds: ${ids.length} subnet(s) cannot span zones: give subnets in at least 2 availability zones`);
      return describe(ids);
    });
    vpcId = args.vpcId !== undefined ? pulumi.output(args.vpcId) : subnets.apply((s) => s[0].vpcId);
  } else {
    vpcId = args.vpcId !== undefined ? pulumi.output(args.vpcId) : aws.ec2.getVpcOutput({ default: true }, opts).id;
    subnets = aws.ec2
      .getSubnetsOutput(
        {
          filters: [
            { name: "vpc-id", values: [vpcId] },
            { name: "default-for-az", values: ["true"] },
          ],
        },
        opts,
      )
      .ids.apply(describe);
  }
  const checked = pulumi.all([subnets, vpcId]).apply(([s, vpc]) => {
    const foreign = s.find((x) => x.vpcId !== vpc);
    if (foreign) throw new Error(`subnetIds: ${foreign.id} is in ${foreign.vpcId}, not in vpcId ${vpc}: use subnets of one VPC`);
    return s;
  });
  const etcdHosts = args.etcd.placement === "dedicated" ? args.etcd.members : 0;
  // Not every zone offers every type (use1-az3 has no m7i, no t3): place hosts only where theirs is offered.
  const offer = (path: string, type: string) =>
    checked.apply((s) => {
      const zones = [...new Set(s.map((x) => x.availabilityZone))].sort();
      return aws.ec2
        .getInstanceTypeOfferingsOutput(
          {
            locationType: "availability-zone",
            filters: [
              { name: "instance-type", values: [type] },
              { name: "location", values: zones },
            ],
          },
          opts,
        )
        .apply((o): ZoneOffer => ({ path, type, zones: o.locations }));
    });
  const offers = pulumi.all([offer("instanceType", args.instanceType), offer("etcd.instanceType", args.etcd.instanceType)]);
  return {
    vpcId,
    vpcCidrs: aws.ec2.getVpcOutput({ id: vpcId }, opts).apply((v) => vpcCidrBlocks(v)),
    subnetIds: checked.apply((s) => oneSubnetPerZone(s)),
    placement: pulumi
      .all([checked, offers])
      .apply(([s, [nodes, etcd]]) => validatePlacement(s, { nodes: args.nodeCount, etcd: etcdHosts }, { nodes, etcd })),
  };
}
