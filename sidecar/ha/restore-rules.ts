/**
 * Rows B1–B3 of docs/ha-states.md: a cluster bootstrapped from another cluster's backup
 * (`bootstrap.fromBackup` in the agent config). Pure. They replace rows U1 and U3 for a member with
 * no data directory:
 * - B1: the member that wins the initialize race restores the backup to the target and promotes,
 *   instead of running initdb;
 * - B2: every other member restores a backup of the source taken before the fork and replays WAL
 *   (the source's archive, then the cluster's own and the new primary's stream), instead of copying
 *   the new primary with pg_basebackup;
 * - B3: until the leader runs as primary and has published the timeline it forked onto, wait.
 */
import type { Member } from "../dcs/types";
import type { HostPort } from "../postgres/types";
import type { Decision, HaInput } from "./types";

export function restoreRow(input: HaInput, leaderMember: Member | undefined, upstream: HostPort | undefined): Decision | undefined {
  if (!input.self.restoreFromBackup || input.local.dataDir.initialized) return undefined;
  const cluster = input.cluster!;
  if (cluster.initialize === undefined) {
    return {
      actions: [{ type: "claimInitialize" }, { type: "bootstrap", fromBackup: true }, { type: "acquireLeader" }],
      reason: "cluster is not initialized: racing for the initialize key to restore it from the backup (bootstrap.fromBackup)",
      role: "uninitialized",
    };
  }
  const leader = cluster.leader;
  if (!leader || leader.name === input.self.name || !leaderMember || !upstream) return undefined; // rows U2/U4 and "release" apply
  const d = leaderMember.data;
  if (d.state !== "running" || d.role !== "primary" || !d.history?.length || d.timeline === undefined) {
    return {
      actions: [],
      reason: `leader ${leader.name} has not finished its restore (no new timeline published yet): waiting to restore from the same backup`,
      role: "uninitialized",
    };
  }
  return {
    actions: [
      { type: "restoreReplica", leader: leader.name, upstream, timeline: d.timeline, history: d.history },
      { type: "startReplica", leader: leader.name, upstream },
    ],
    reason: `no data directory: restoring from the backup the cluster was restored from, then replaying WAL and streaming from leader ${leader.name}`,
    role: "uninitialized",
  };
}
