/**
 * The fault suite's checker: pure verdicts on what a workload recorded (which member and timeline
 * acknowledged each write, and when) and on the cluster's final state. No I/O here; the fault
 * scenarios (test/faults) collect the inputs.
 */
import type { ApiCluster } from "../../local/state";

/** One acknowledged write: its id, when the ack arrived (Date.now()), and who acknowledged it. */
export interface Ack {
  id: number;
  at: number;
  /** The member whose PostgreSQL committed it (from inet_server_port() → cluster.json), or "port:N" when unknown. */
  member: string;
  /** The timeline of the WAL it was written on (first 8 hex digits of pg_walfile_name(pg_current_wal_lsn())). */
  timeline: number;
  /** How long the INSERT (its commit included) took, ms, when the workload measured it. */
  latencyMs?: number;
}

/** Timeline from a WAL file name: its first 8 hex digits ("00000002000000000000000A" → 2). */
export function timelineOfWalFile(walFile: string): number {
  if (!/^[0-9A-Fa-f]{24}$/.test(walFile)) throw new Error(`not a WAL file name: "${walFile}"`);
  return parseInt(walFile.slice(0, 8), 16);
}

/** Member name for a PostgreSQL port (cluster.json's nodes), "port:N" when no node has it. */
export function memberOfPort(nodes: readonly { name: string; pgPort: number }[], port: number): string {
  return nodes.find((n) => n.pgPort === port)?.name ?? `port:${port}`;
}

/** A stretch of acks that a second member made while another member was (or had been) the newer primary. */
export interface SplitBrainMoment {
  from: number;
  to: number;
  /** The member that acknowledged writes it should not have. */
  member: string;
  timeline: number;
  /** Who held the newest timeline (or that same timeline) before, and its timeline. */
  against: string;
  againstTimeline: number;
  acks: number;
}

/**
 * Intervals where acks from two different members interleave. Acks are taken in arrival order; a
 * legitimate handover always moves to a higher timeline, so an ack is a split-brain ack when an
 * earlier ack came from a higher timeline (an old primary still acknowledging after a new one did),
 * or from the same timeline but another member (two primaries on one timeline). Consecutive such
 * acks of one member form one moment. Pure.
 */
export function splitBrainMoments(acks: readonly Ack[]): SplitBrainMoment[] {
  const sorted = [...acks].sort((a, b) => a.at - b.at || a.id - b.id);
  const owner = new Map<number, string>(); // timeline → first member that acked on it
  let maxTl = -Infinity;
  let maxMember = "";
  const moments: SplitBrainMoment[] = [];
  let open: SplitBrainMoment | undefined;
  for (const a of sorted) {
    const first = owner.get(a.timeline);
    let against: { member: string; timeline: number } | undefined;
    if (a.timeline < maxTl) against = { member: maxMember, timeline: maxTl };
    else if (first !== undefined && first !== a.member) against = { member: first, timeline: a.timeline };
    if (against) {
      if (open && open.member === a.member && open.timeline === a.timeline) {
        open.to = a.at;
        open.acks++;
      } else {
        open = {
          from: a.at,
          to: a.at,
          member: a.member,
          timeline: a.timeline,
          against: against.member,
          againstTimeline: against.timeline,
          acks: 1,
        };
        moments.push(open);
      }
      continue;
    }
    open = undefined;
    if (first === undefined) owner.set(a.timeline, a.member);
    if (a.timeline > maxTl) {
      maxTl = a.timeline;
      maxMember = a.member;
    }
  }
  return moments;
}

/** Acks by `member` that arrived after `since` (e.g. a frozen old primary after the new leader existed). Pure. */
export function acksAfter(acks: readonly Ack[], member: string, since: number): Ack[] {
  return acks.filter((a) => a.member === member && a.at > since);
}

export interface HealVerdict {
  healed: boolean;
  leader?: string;
  problems: string[];
}

/**
 * Healed: exactly one leader, every other member a replica streaming from it on its timeline (per
 * /cluster), every one of them in the leader's pg_stat_replication, and the former primary among
 * them (rejoined). Pure: takes /cluster and the application_names streaming from the leader.
 */
export function judgeHealed(
  cluster: ApiCluster | undefined,
  expected: readonly string[],
  streamingFromLeader: readonly string[] | undefined,
  formerPrimary?: string,
): HealVerdict {
  const problems: string[] = [];
  if (!cluster) return { healed: false, problems: ["no agent API answered /cluster"] };
  const leaders = cluster.members.filter((m) => m.role === "leader" || m.role === "primary" || m.role === "master");
  if (leaders.length !== 1)
    problems.push(leaders.length === 0 ? "no leader" : `${leaders.length} leaders: ${leaders.map((l) => l.name).join(", ")}`);
  const leader = leaders.length === 1 ? leaders[0] : undefined;
  if (leader && leader.state !== "running") problems.push(`leader ${leader.name} is ${leader.state}`);
  for (const name of expected) {
    if (name === leader?.name) continue;
    const m = cluster.members.find((x) => x.name === name);
    if (!m) {
      problems.push(`${name}: not in /cluster`);
      continue;
    }
    if (!(m.role === "replica" || m.role === "sync_standby") || m.state !== "streaming") problems.push(`${name}: ${m.role} ${m.state}`);
    else if (leader?.timeline !== undefined && m.timeline !== undefined && m.timeline !== leader.timeline) {
      problems.push(`${name}: timeline ${m.timeline}, leader on ${leader.timeline}`);
    }
    if (leader && streamingFromLeader && !streamingFromLeader.includes(name))
      problems.push(`${name}: not in ${leader.name}'s pg_stat_replication`);
  }
  if (leader && !streamingFromLeader) problems.push(`${leader.name}: pg_stat_replication not readable`);
  if (formerPrimary !== undefined && formerPrimary !== leader?.name && !expected.includes(formerPrimary)) {
    problems.push(`former primary ${formerPrimary} is not an expected member`);
  }
  return { healed: problems.length === 0, leader: leader?.name, problems };
}

/** Median of a list (rounded), undefined when empty. Pure. */
export function median(xs: readonly number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : Math.round((s[mid - 1] + s[mid]) / 2);
}
