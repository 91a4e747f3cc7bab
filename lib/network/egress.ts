/**
 * How each host reaches S3 (the agent bundle), SSM (secrets, Session Manager) and the Debian mirror
 * (packages). Pure: route tables in, a mode per subnet (or the problems, each naming the fix) out.
 * The lookups that feed it are in ./routes.ts, the resources it asks for in ./egress-resources.ts.
 *
 * Why it matters: every host launches on a network interface created first (for its fixed private
 * IP), and AWS assigns a public IPv4 address only to a new interface. So in a public subnet (the
 * default VPC's) a host has no way out unless it gets an Elastic IP, and in a private subnet only
 * if the subnet routes to a NAT. Without a way out, the package step, the bundle download and the
 * SSM reads all fail at first boot: a broken cluster that no preview would have shown.
 */
import type * as pulumi from "@pulumi/pulumi";
import { EgressMode } from "../args/types";

/** What a host actually uses, once "auto" is decided. */
export type ResolvedEgress = Exclude<EgressMode, "auto">;

/** One route of a route table, as `aws.ec2.getRouteTable` returns it (targets absent or ""). */
export interface RouteInfo {
  cidrBlock?: string;
  gatewayId?: string;
  natGatewayId?: string;
  instanceId?: string;
  networkInterfaceId?: string;
  transitGatewayId?: string;
  coreNetworkArn?: string;
  localGatewayId?: string;
  vpcPeeringConnectionId?: string;
  carrierGatewayId?: string;
}

/** The route table a subnet uses: its explicitly associated one, else the VPC's main route table. */
export interface SubnetRouteTable {
  subnetId: string;
  routeTableId: string;
  /** True when the subnet has no explicit association and uses the VPC's main route table. */
  main: boolean;
  routes: RouteInfo[];
}

/** Where the IPv4 default route of a route table leads. */
export type DefaultRoute =
  | { kind: "internetGateway"; target: string }
  /** A NAT gateway, a NAT instance, a transit gateway, a virtual private gateway, Cloud WAN, an Outposts local gateway. */
  | { kind: "nat"; target: string }
  /**
   * A default route that cannot carry a host's traffic to the internet (VPC peering is not transitive,
   * a carrier gateway needs a carrier IP).
   */
  | { kind: "unusable"; target: string }
  | { kind: "none" };

const present = (v: string | undefined): v is string => typeof v === "string" && v !== "";

/** Classifies the 0.0.0.0/0 route of a route table. Pure. */
export function defaultRoute(routes: RouteInfo[]): DefaultRoute {
  const r = routes.find((x) => x.cidrBlock === "0.0.0.0/0");
  if (!r) return { kind: "none" };
  if (present(r.gatewayId) && r.gatewayId.startsWith("igw-")) return { kind: "internetGateway", target: r.gatewayId };
  const nat = [
    r.natGatewayId,
    r.transitGatewayId,
    r.instanceId,
    r.networkInterfaceId,
    r.coreNetworkArn,
    r.localGatewayId,
    r.gatewayId,
  ].find(present);
  if (nat) return { kind: "nat", target: nat };
  const other = [r.vpcPeeringConnectionId, r.carrierGatewayId].find(present);
  return other ? { kind: "unusable", target: other } : { kind: "none" };
}

const NEEDS = "so a node there cannot reach S3, SSM or the Debian mirror";
const ENDPOINTS_HINT = 'or set egress to "endpoints" (with an amiId that has the packages preinstalled)';

/** Problems of the `egress` arg that need no lookup. Pure. */
export function egressArgProblems(egress: EgressMode, amiId: pulumi.Input<string> | undefined): string[] {
  if (egress === "endpoints" && amiId === undefined) {
    return [
      'egress: "endpoints" leaves the nodes without a route to the Debian mirror, so their packages must already be on the AMI: ' +
        'set amiId to an AMI with the packages preinstalled (see README, "Outbound access"), or use egress "auto", "publicIp" or "nat"',
    ];
  }
  return [];
}

export interface EgressDecision {
  /** The mode of each subnet that has no problem. */
  bySubnet: Record<string, ResolvedEgress>;
  /** One message per refused subnet, naming the subnet, its route table and the fix. Empty when all is well. */
  problems: string[];
}

/**
 * Decides, for every placement subnet, how its hosts get out, and refuses a subnet from which they
 * cannot. Pure: the route tables are looked up by the caller.
 */
export function decideEgress(mode: EgressMode, tables: SubnetRouteTable[]): EgressDecision {
  const bySubnet: Record<string, ResolvedEgress> = {};
  const problems: string[] = [];
  for (const t of tables) {
    const where = `subnet ${t.subnetId} (${t.main ? "the VPC's main route table " : "route table "}${t.routeTableId})`;
    if (mode === "endpoints") {
      // The endpoints carry S3 and SSM; the packages come with the AMI (checked by egressArgProblems).
      bySubnet[t.subnetId] = "endpoints";
      continue;
    }
    const route = defaultRoute(t.routes);
    const routeText =
      route.kind === "none" ? "has no route to 0.0.0.0/0" : `routes 0.0.0.0/0 to ${route.target}, which does not reach the internet for it`;
    if (route.kind === "none" || route.kind === "unusable") {
      problems.push(
        `egress: ${where} ${routeText}, ${NEEDS}: ` +
          `add a route to a NAT gateway, use subnets with a route to an internet gateway, ${ENDPOINTS_HINT}`,
      );
    } else if (mode === "auto") {
      bySubnet[t.subnetId] = route.kind === "internetGateway" ? "publicIp" : "nat";
    } else if (mode === "publicIp" && route.kind !== "internetGateway") {
      problems.push(
        `egress: "publicIp" needs a route to an internet gateway, but ${where} routes 0.0.0.0/0 to ${route.target}: ` +
          `use egress "nat" (or "auto") for these subnets, or subnets whose route table has a route to an internet gateway`,
      );
    } else if (mode === "nat" && route.kind !== "nat") {
      problems.push(
        `egress: "nat" needs a route to a NAT gateway, but ${where} routes 0.0.0.0/0 to the internet gateway ${route.target}, ` +
          `which a node without a public address cannot use: use egress "publicIp" (or "auto"), or subnets that route to a NAT gateway`,
      );
    } else {
      bySubnet[t.subnetId] = mode;
    }
  }
  return { bySubnet, problems };
}

/** One subnet per availability zone, for interface endpoints (AWS takes at most one per zone). Pure. */
export function oneSubnetPerZone(subnets: Array<{ id: string; availabilityZone: string }>): string[] {
  const byZone = new Map<string, string>();
  for (const s of [...subnets].sort((a, b) => a.id.localeCompare(b.id)))
    if (!byZone.has(s.availabilityZone)) byZone.set(s.availabilityZone, s.id);
  return [...byZone.keys()].sort().map((z) => byZone.get(z) as string);
}

/** The SSM services a host needs an interface endpoint for: parameters always, Session Manager's two when it is on. */
export function ssmEndpointServices(sessionManager: boolean): string[] {
  return sessionManager ? ["ssm", "ssmmessages", "ec2messages"] : ["ssm"];
}

/** Interface endpoints answer for the services' public names only with the VPC's DNS support and DNS hostnames on. Pure. */
export function endpointDnsProblems(vpcId: string, vpc: { enableDnsSupport?: boolean; enableDnsHostnames?: boolean }): string[] {
  if (vpc.enableDnsSupport && vpc.enableDnsHostnames) return [];
  return [
    `egress: "endpoints" needs private DNS for the SSM endpoints, but ${vpcId} has ` +
      `${vpc.enableDnsSupport ? "" : "enableDnsSupport "}${!vpc.enableDnsSupport && !vpc.enableDnsHostnames ? "and " : ""}` +
      `${vpc.enableDnsHostnames ? "" : "enableDnsHostnames "}off: turn them on for the VPC, or use egress "auto", "publicIp" or "nat"`,
  ];
}
