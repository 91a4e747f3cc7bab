/**
 * How an etcd member starts: the pure decision behind `hapg etcd-join` (node-init runs it before
 * etcd starts). etcd membership only changes by runtime reconfiguration:
 *  - a data directory with data: etcd ignores its initial-cluster flags; start on the data;
 *  - no running cluster answers: only a member of `etcdInitialMembers` bootstraps (state `new`, the
 *    initial members); any other member waits (node-init fails, systemd tries again);
 *  - the running cluster lists the member as added but never started: start with state `existing`
 *    (or `new`, when the whole list is still the initial bootstrap in progress);
 *  - it lists the member as started although the data directory is empty (a lost volume): remove
 *    it, then add it again; it does not list it: add it (`member add`), then start `existing`.
 * Changes are made only while every other member is healthy (an add to a cluster missing a member
 * could cost its quorum).
 */
import type { Topology, TopologyHost } from "../topology/schema";
import type { EtcdMember } from "./etcd-members";

export interface JoinInput {
  self: string;
  selfPeerUrl: string;
  dataDirEmpty: boolean;
  topology: Topology;
  peerUrlOf: (h: TopologyHost) => string;
  /** The running cluster's member list; undefined: no member answered. */
  members?: EtcdMember[];
  /** Member id → healthy (the members in `members`). */
  health?: Record<string, boolean>;
}

export type JoinDecision =
  | { action: "start"; state: "new" | "existing"; initialCluster: string; reason: string }
  | { action: "add"; removeFirst?: string; reason: string }
  | { action: "wait"; reason: string };

/** `name=peerURL,...` for ETCD_INITIAL_CLUSTER, naming a not-yet-started member by the topology (or `self`). */
export function initialClusterOf(
  members: EtcdMember[],
  topology: Topology,
  peerUrlOf: (h: TopologyHost) => string,
  self?: { name: string; peerUrl: string },
): string {
  const nameOf = (m: EtcdMember) =>
    m.name ||
    (self && m.peerUrls.includes(self.peerUrl) ? self.name : (topology.etcd.find((h) => m.peerUrls.includes(peerUrlOf(h)))?.name ?? ""));
  return members.flatMap((m) => m.peerUrls.map((u) => `${nameOf(m)}=${u}`)).join(",");
}

export function joinDecision(i: JoinInput): JoinDecision {
  const initial = i.topology.etcd.filter((h) => i.topology.etcdInitialMembers.includes(h.name));
  const initialCluster = initial.map((h) => `${h.name}=${i.peerUrlOf(h)}`).join(",");
  const listed = i.members
    ? initialClusterOf(i.members, i.topology, i.peerUrlOf, { name: i.self, peerUrl: i.selfPeerUrl })
    : initialCluster;
  if (!i.dataDirEmpty)
    return {
      action: "start",
      state: "existing",
      initialCluster: listed,
      reason: "the data directory holds this member's data: etcd starts on it",
    };
  if (!i.topology.etcd.some((h) => h.name === i.self)) return { action: "wait", reason: `${i.self} is not an etcd member in the topology` };
  if (!i.members) {
    if (i.topology.etcdInitialMembers.includes(i.self)) {
      return {
        action: "start",
        state: "new",
        initialCluster,
        reason: "no running cluster answers and this is an initial member: bootstrap",
      };
    }
    return { action: "wait", reason: "no running etcd cluster answers, and only initial members may bootstrap one: try again later" };
  }
  const mine = i.members.find((m) => m.name === i.self || m.peerUrls.includes(i.selfPeerUrl));
  const others = i.members.filter((m) => m !== mine);
  const sick = others.filter((m) => m.name !== "" && i.health?.[m.id] !== true).map((m) => m.name);
  if (mine && mine.name === "") {
    const bootstrapping =
      i.topology.etcdInitialMembers.includes(i.self) &&
      i.members.length === initial.length &&
      initial.every((h) => i.members!.some((m) => m.peerUrls.includes(i.peerUrlOf(h))));
    if (bootstrapping) return { action: "start", state: "new", initialCluster, reason: "the initial bootstrap is in progress: join it" };
    return { action: "start", state: "existing", initialCluster: listed, reason: "etcd lists this member as added, not started: start it" };
  }
  if (sick.length) return { action: "wait", reason: `member(s) ${sick.join(", ")} not healthy: no membership change now` };
  if (mine)
    return {
      action: "add",
      removeFirst: mine.id,
      reason: "etcd lists this member as started but its data directory is empty (a lost volume): remove and add it again",
    };
  return { action: "add", reason: "etcd does not list this member: add it (member add) and start as existing" };
}
