/**
 * The resources an egress mode asks for (the decision itself is ./egress.ts):
 *  - "publicIp": an auto-assigned public IPv4 on each instance's primary interface (the launch
 *    template's), so its first boot already has a way out; no Elastic IP. No security group rule
 *    changes: the address only carries the host's outbound traffic (and the replies to it).
 *  - "endpoints": an S3 gateway endpoint on the placement subnets' route tables and the SSM interface
 *    endpoints with private DNS, behind a group that admits HTTPS from the hosts only — each only when
 *    the VPC does not have it already (`endpointsToCreate`).
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

/** An endpoint the VPC already has for a service, as `aws.ec2.getVpcEndpoint` describes it. */
export interface ExistingEndpoint {
  id: string;
  privateDnsEnabled: boolean;
  routeTableIds: string[];
}

/**
 * The VPC's endpoint for a service, or undefined when it has none: the lookup then fails ("no matching
 * EC2 VPC Endpoint found"). A refused lookup is an error of its own; any other failure counts as none,
 * and a duplicate would then be refused by AWS with the conflicting name in the message.
 */
function existingEndpoint(vpcId: string, serviceName: string, opts: pulumi.InvokeOptions): Promise<ExistingEndpoint | undefined> {
  return aws.ec2.getVpcEndpoint({ vpcId, serviceName, state: "available" }, opts).then(
    (e) => ({ id: e.id, privateDnsEnabled: e.privateDnsEnabled, routeTableIds: e.routeTableIds ?? [] }),
    (err: unknown) => {
      if (/AccessDenied|UnauthorizedOperation|not authorized/i.test(String((err as Error)?.message ?? err))) throw err;
      return undefined;
    },
  );
}

/**
 * What to create for egress "endpoints", given what the VPC has. Pure. An isolated VPC usually has
 * its S3 gateway and SSM endpoints already (and a second cluster finds the first one's): AWS refuses a
 * second interface endpoint with private DNS for one service in a VPC, and a second S3 route in a route
 * table, so only what is missing is created — an existing gateway endpoint gets the placement subnets'
 * route tables it lacks.
 */
export function endpointsToCreate(
  services: string[],
  routeTableIds: string[],
  existing: { s3?: ExistingEndpoint; interfaces: Record<string, ExistingEndpoint | undefined> },
): { s3: "create" | { endpointId: string; addRouteTables: string[] }; interfaces: string[] } {
  const s3 = existing.s3
    ? { endpointId: existing.s3.id, addRouteTables: routeTableIds.filter((t) => !existing.s3!.routeTableIds.includes(t)) }
    : ("create" as const);
  return { s3, interfaces: services.filter((svc) => !existing.interfaces[svc]?.privateDnsEnabled) };
}

/**
 * The VPC endpoints of egress "endpoints" that the VPC lacks (none for the other modes). The hosts
 * must wait for them. Endpoints another stack created are used as they are: they go when that stack goes.
 */
export function createEndpoints(
  name: string,
  args: ResolvedClusterArgs,
  vpcId: pulumi.Input<string>,
  plan: EgressPlan,
  sgs: SecurityGroups,
  parent: pulumi.Resource,
): pulumi.Output<pulumi.Resource[]> {
  if (args.egress !== "endpoints") return pulumi.output([]);
  const opts = { parent };
  const region = aws.getRegionOutput({}, opts).region;
  // The hosts' own API calls too: the boot claim (EC2) and the roll (EC2 Auto Scaling).
  const services = [...ssmEndpointServices(args.sessionManager), ...HOST_API_ENDPOINT_SERVICES];
  const lookups = pulumi.all([vpcId, region]).apply(async ([vpc, r]) => {
    const found = await Promise.all(["s3", ...services].map((svc) => existingEndpoint(vpc, `com.amazonaws.${r}.${svc}`, opts)));
    return { s3: found[0], interfaces: Object.fromEntries(services.map((svc, i) => [svc, found[i + 1]])) };
  });
  return pulumi.all([lookups, plan.routeTableIds]).apply(([existing, tables]) => {
    const todo = endpointsToCreate(services, tables, existing);
    return [
      ...createS3Endpoint(name, args, vpcId, region, plan, todo.s3, opts),
      ...createInterfaceEndpoints(name, args, vpcId, region, plan, sgs, todo.interfaces, opts),
    ];
  });
}

function createS3Endpoint(
  name: string,
  args: ResolvedClusterArgs,
  vpcId: pulumi.Input<string>,
  region: pulumi.Output<string>,
  plan: EgressPlan,
  todo: ReturnType<typeof endpointsToCreate>["s3"],
  opts: pulumi.CustomResourceOptions,
): pulumi.Resource[] {
  if (todo !== "create") {
    return todo.addRouteTables.map(
      (t) =>
        new aws.ec2.VpcEndpointRouteTableAssociation(
          childName(name, `vpce-s3-${t}`),
          { vpcEndpointId: todo.endpointId, routeTableId: t },
          opts,
        ),
    );
  }
  return [
    new aws.ec2.VpcEndpoint(
      childName(name, "vpce-s3"),
      {
        vpcId,
        serviceName: pulumi.interpolate`com.amazonaws.${region}.s3`,
        vpcEndpointType: "Gateway",
        routeTableIds: plan.routeTableIds,
        tags: resourceTags(args.tags, args.clusterName, childName(args.clusterName, "s3")),
      },
      opts,
    ),
  ];
}

function createInterfaceEndpoints(
  name: string,
  args: ResolvedClusterArgs,
  vpcId: pulumi.Input<string>,
  region: pulumi.Output<string>,
  plan: EgressPlan,
  sgs: SecurityGroups,
  services: string[],
  opts: pulumi.CustomResourceOptions,
): pulumi.Resource[] {
  if (services.length === 0) return [];
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
  const subnetIds = plan.placement.apply((p) => oneSubnetPerZone(placementSubnets(p)));
  const interfaces = services.map(
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
  return [...interfaces, ...rules];
}
