/**
 * Where each host goes once the subnets' zones and the instance types' offerings are known (deploy
 * time, after the lookups). Pure.
 */
import { ClusterArgsError } from "./errors";

export interface SubnetInfo {
  id: string;
  availabilityZone: string;
}

/** Which zones offer a host kind's instance type (DescribeInstanceTypeOfferings, location-type availability-zone). */
export interface ZoneOffer {
  /** The argument that chose the type, for the error. */
  path: string;
  type: string;
  zones: string[];
}

/**
 * Checks the subnets once their zones are known and assigns each host a subnet, spreading hosts
 * round robin over the zones (sorted, so the result is stable across deployments) that offer the
 * host's instance type (all zones when `offers` is not given). Pure.
 */
export function validatePlacement(
  subnets: SubnetInfo[],
  hostCounts: { nodes: number; etcd: number },
  offers?: { nodes: ZoneOffer; etcd: ZoneOffer },
): { nodes: SubnetInfo[]; etcd: SubnetInfo[] } {
  if (subnets.length === 0) {
    throw new ClusterArgsError(["subnetIds: no subnets found (the default VPC has no default-for-zone subnets?): pass subnetIds"]);
  }
  const zones = [...new Set(subnets.map((s) => s.availabilityZone))].sort();
  if (zones.length < 2) {
    throw new ClusterArgsError([
      `subnetIds: every subnet is in ${zones[0]}: a zone outage would take the whole cluster down: give subnets in at least 2 availability zones (3 recommended)`,
    ]);
  }
  // One subnet per zone (the first by id) so hosts spread over zones, not over subnets of one zone.
  const perZone = zones.map((z) => subnets.filter((s) => s.availabilityZone === z).sort((x, y) => x.id.localeCompare(y.id))[0]);
  const problems: string[] = [];
  const usable = (offer: ZoneOffer | undefined, count: number): SubnetInfo[] => {
    if (!offer || count === 0) return perZone;
    const ok = perZone.filter((s) => offer.zones.includes(s.availabilityZone));
    if (ok.length < 2) {
      const missing = zones.filter((z) => !offer.zones.includes(z));
      problems.push(
        `${offer.path}: "${offer.type}" is offered in ${ok.length} zone${ok.length === 1 ? "" : "s"} of subnetIds (${ok.map((s) => s.availabilityZone).join(", ")}; not in ${missing.join(", ")}): ` +
          `give subnets in at least 2 zones that offer it, or pick a type offered there (aws ec2 describe-instance-type-offerings --location-type availability-zone)`,
      );
    }
    return ok;
  };
  const nodeZones = usable(offers?.nodes, hostCounts.nodes);
  const etcdZones = usable(offers?.etcd, hostCounts.etcd);
  if (problems.length) throw new ClusterArgsError(problems);
  const pick = (from: SubnetInfo[], count: number) => Array.from({ length: count }, (_, i) => from[i % from.length]);
  return { nodes: pick(nodeZones, hostCounts.nodes), etcd: pick(etcdZones, hostCounts.etcd) };
}
