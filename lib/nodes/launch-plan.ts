/**
 * What each host launches from, and the topology that follows from it. Pure: the component computes
 * these from resolved values, and the tests (the second `pulumi up`) compute the very same.
 */
import type { ResolvedDataVolume } from "../args/types";
import { topologyDocument } from "../topology/document";
import { hostRevision } from "../topology/revision";
import { renderUserData } from "../userdata/render";
import type { HostSpec } from "../userdata/spec";
import type { Topology } from "../../sidecar/contract/topology";

export interface HostLaunch {
  host: string;
  ip: string;
  revision: string;
  /** The final user-data: with the host's own revision in it. */
  userData: string;
}

/** The revision of a host (digested from its user-data without the revision), then its user-data with it. */
export function hostLaunch(spec: HostSpec, ami: string, instanceType: string, dataVolume: ResolvedDataVolume): HostLaunch {
  const { revision: _ignored, ...withoutRevision } = spec;
  const revision = hostRevision({
    ami,
    instanceType,
    userData: renderUserData(withoutRevision),
    dataVolume: {
      sizeGiB: dataVolume.sizeGiB,
      type: dataVolume.type,
      ...(dataVolume.iops !== undefined ? { iops: dataVolume.iops } : {}),
      ...(dataVolume.throughputMiBps !== undefined ? { throughputMiBps: dataVolume.throughputMiBps } : {}),
    },
  });
  return { host: spec.hostName, ip: spec.privateIp, revision, userData: renderUserData({ ...withoutRevision, revision }) };
}

/**
 * The topology from the hosts' launches: nodes, and the etcd members (dedicated hosts, or the first
 * `etcdMembers` nodes with their node's revision when colocated).
 */
export function topologyFromLaunches(launches: HostLaunch[], nodeNames: string[], etcdNames: string[]): Topology {
  const byName = new Map(launches.map((l) => [l.host, l]));
  const entry = (n: string) => {
    const l = byName.get(n);
    if (!l) throw new Error(`topology: no launch for host ${n}`);
    return { name: n, ip: l.ip, revision: l.revision };
  };
  return topologyDocument({ nodes: nodeNames.map(entry), etcd: etcdNames.map(entry) });
}
