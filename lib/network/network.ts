/**
 * Resolves the VPC and subnets (looked up when not given) and places each host in a subnet, spread
 * over availability zones. The zone check runs once the lookups resolve (`validatePlacement`).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { ResolvedClusterArgs } from "../args/types";
import { SubnetInfo, validatePlacement } from "../args/validate";

export interface Network {
  vpcId: pulumi.Output<string>;
  vpcCidr: pulumi.Output<string>;
  /** Every subnet given (or found), for the load balancer. */
  subnetIds: pulumi.Output<string[]>;
  /** Subnet of each PostgreSQL node and each dedicated etcd member, by index. */
  placement: pulumi.Output<{ nodes: SubnetInfo[]; etcd: SubnetInfo[] }>;
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
  return {
    vpcId,
    vpcCidr: aws.ec2.getVpcOutput({ id: vpcId }, opts).cidrBlock,
    subnetIds: checked.apply((s) => s.map((x) => x.id)),
    placement: checked.apply((s) => validatePlacement(s, { nodes: args.nodeCount, etcd: etcdHosts })),
  };
}
