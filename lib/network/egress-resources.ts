/**
 * The resources an egress mode asks for (the decision itself is ./egress.ts):
 *  - "publicIp": one Elastic IP per host, on the host's own network interface, declared before the
 *    instance so that its first boot already has a way out. No security group rule changes: the
 *    address only carries the host's outbound traffic (and the replies to it).
 *  - "endpoints": an S3 gateway endpoint on the placement subnets' route tables and the SSM interface
 *    endpoints with private DNS, behind a group that admits HTTPS from the hosts only.
 *  - "nat": nothing.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { ResolvedClusterArgs } from "../args/types";
import { SubnetInfo } from "../args/validate";
import { childName, resourceTags } from "../naming/names";
import { HostSlot } from "../nodes/host";
import { SecurityGroups } from "../security/groups";
import { oneSubnetPerZone, ssmEndpointServices } from "./egress";
import { EgressPlan, placementSubnets } from "./routes";

export interface HostEgress {
  /** The host's Elastic IP when it uses "publicIp" (none otherwise): the instance must wait for it. */
  eip: pulumi.Output<aws.ec2.Eip[]>;
  /** The Elastic IP's address, or undefined. */
  publicIp: pulumi.Output<string | undefined>;
}

function createEip(name: string, slot: HostSlot, args: ResolvedClusterArgs, parent: pulumi.Resource): aws.ec2.Eip {
  const tag = childName(args.clusterName, slot.host);
  return new aws.ec2.Eip(
    childName(name, `${slot.host}-eip`),
    { domain: "vpc", networkInterface: slot.eni.id, tags: resourceTags(args.tags, args.clusterName, `${tag}-egress`) },
    { parent },
  );
}

/**
 * The host's public address, if its subnet's egress is "publicIp". With an explicit "publicIp" the
 * address is declared up front (it shows in every preview); with "auto" it is declared once the
 * route table lookup has decided (known at preview too, unless the subnets themselves are not).
 */
export function createHostEgress(
  name: string,
  slot: HostSlot,
  subnet: pulumi.Output<SubnetInfo>,
  plan: EgressPlan,
  args: ResolvedClusterArgs,
  parent: pulumi.Resource,
): HostEgress {
  let eip: pulumi.Output<aws.ec2.Eip[]>;
  if (args.egress === "publicIp") {
    const e = createEip(name, slot, args, parent);
    // Through the plan, so a refused placement also holds the instance back.
    eip = plan.bySubnet.apply(() => [e]);
  } else if (args.egress === "auto") {
    eip = pulumi
      .all([subnet, plan.bySubnet])
      .apply(([s, modes]) => (modes[s.id] === "publicIp" ? [createEip(name, slot, args, parent)] : []));
  } else {
    eip = plan.bySubnet.apply(() => []);
  }
  return { eip, publicIp: eip.apply((e) => (e.length ? e[0].publicIp : pulumi.output<string | undefined>(undefined))) };
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
  const interfaces = ssmEndpointServices(args.sessionManager).map(
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
