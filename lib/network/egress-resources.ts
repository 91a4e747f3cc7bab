/**
 * The resources an egress mode asks for (the decision itself is ./egress.ts):
 *  - "publicIp": an auto-assigned public IPv4 on each instance's primary interface (the launch
 *    template's), so its first boot already has a way out; no Elastic IP. No security group rule
 *    changes: the address only carries the host's outbound traffic (and the replies to it).
 *  - "endpoints": an S3 gateway endpoint on the placement subnets' route tables and the SSM interface
 *    endpoints with private DNS, behind a group that admits HTTPS from the hosts only.
 *  - "nat": nothing.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { ResolvedClusterArgs } from "../args/types";
import { SubnetInfo } from "../args/validate";
import { childName, resourceTags } from "../naming/names";
import { SecurityGroups } from "../security/groups";
import { HOST_API_ENDPOINT_SERVICES } from "../iam/host-policies";
import { oneSubnetPerZone, ssmEndpointServices } from "./egress";
import { EgressPlan, placementSubnets } from "./routes";

export interface HostEgress {
  /**
   * Whether the host's instances get an auto-assigned public IPv4 on their primary interface (egress
   * "publicIp"): outbound only (no security group admits traffic from the internet). Not an Elastic
   * IP: auto-assigned addresses do not count against the account's Elastic IP quota (5 per region in
   * a fresh account), and a replacement instance gets its own.
   */
  publicIp: pulumi.Output<boolean>;
}

/**
 * Whether the host in `subnet` needs a public address: its subnet's egress is "publicIp" (explicit, or
 * chosen by "auto" from the route tables). Through the plan, so a refused placement also holds the
 * host back.
 */
export function createHostEgress(subnet: pulumi.Output<SubnetInfo>, plan: EgressPlan, args: ResolvedClusterArgs): HostEgress {
  if (args.egress === "publicIp") return { publicIp: plan.bySubnet.apply(() => true) };
  if (args.egress === "auto") return { publicIp: pulumi.all([subnet, plan.bySubnet]).apply(([s, modes]) => modes[s.id] === "publicIp") };
  return { publicIp: plan.bySubnet.apply(() => false) };
}

/** The VPC endpoints of egress "endpoints" (none for the other modes). The hosts must wait for them. */
export function createEndpoints(
  name: string,
  args: ResolvedClusterArgs,
  vpcId: pulumi.Input<string>,
  plan: EgressPlan,
  sgs: SecurityGroups,
  parent: pulumi.Resource,
): pulumi.Resource[] {
  if (args.egress !== "endpoints") return [];
  const opts = { parent };
  const region = aws.getRegionOutput({}, opts).region;
  const sg = new aws.ec2.SecurityGroup(
    childName(name, "sg-endpoints"),
    {
      vpcId,
      description: `VPC endpoints of HA PostgreSQL ${args.clusterName}`,
      tags: resourceTags(args.tags, args.clusterName, childName(args.clusterName, "endpoints")),
    },
    opts,
  );
  const hostGroups = args.etcd.placement === "dedicated" ? (["nodes", "etcd"] as const) : (["nodes"] as const);
  const rules = hostGroups.map(
    (group) =>
      new aws.vpc.SecurityGroupIngressRule(
        childName(name, `in-endpoints-${group}-443`),
        {
          securityGroupId: sg.id,
          ipProtocol: "tcp",
          fromPort: 443,
          toPort: 443,
          referencedSecurityGroupId: sgs[group].id,
          description: `${group} to SSM endpoints`,
        },
        opts,
      ),
  );
  const s3 = new aws.ec2.VpcEndpoint(
    childName(name, "vpce-s3"),
    {
      vpcId,
      serviceName: pulumi.interpolate`com.amazonaws.${region}.s3`,
      vpcEndpointType: "Gateway",
      routeTableIds: plan.routeTableIds,
      tags: resourceTags(args.tags, args.clusterName, childName(args.clusterName, "s3")),
    },
    opts,
  );
  const subnetIds = plan.placement.apply((p) => oneSubnetPerZone(placementSubnets(p)));
  // The hosts' own API calls too: the boot claim (EC2) and the roll (EC2 Auto Scaling).
  const interfaces = [...ssmEndpointServices(args.sessionManager), ...HOST_API_ENDPOINT_SERVICES].map(
    (service) =>
      new aws.ec2.VpcEndpoint(
        childName(name, `vpce-${service}`),
        {
          vpcId,
          serviceName: pulumi.interpolate`com.amazonaws.${region}.${service}`,
          vpcEndpointType: "Interface",
          privateDnsEnabled: true,
          subnetIds,
          securityGroupIds: [sg.id],
          tags: resourceTags(args.tags, args.clusterName, childName(args.clusterName, service)),
        },
        opts,
      ),
  );
  return [s3, ...interfaces, ...rules];
}
