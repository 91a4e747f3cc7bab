/**
 * Planned switchover and manual failover (rows SW1–SW6 of docs/ha-states.md). Pure. The etcd
 * `failover` key holds the request ({leader, member, scheduled_at}, as Patroni writes it); the REST
 * API checks a request against the same rules (`candidateProblem`) before it creates the key.
 *
 * A switchover is a hand-over, not a crash: the leader stops PostgreSQL cleanly (a fast shutdown
 * streams every WAL record, up to the shutdown checkpoint, to the connected standbys), waits until
 * the candidate has received up to that checkpoint, then releases the key. The candidate takes it
 * and promotes; the others wait for it instead of racing. The old leader, whose data directory ends
 * at the checkpoint the candidate has, follows the new timeline without pg_rewind or a copy.
 */
import type { ClusterSnapshot, FailoverRequest, Member } from "../dcs/types";
import type { SynchronousMode } from "../contract/settings/schema";
import type { HostPort } from "../postgres/types";
import { handedOverBy } from "./failsafe";
import { quorumVerdict } from "./quorum";
import type { Decision, HaInput } from "./types";

export interface CandidateRules {
  synchronousMode: SynchronousMode;
  maximumLagOnFailover: number;
}

/** The request's candidate (Patroni 3 writes `member`; `candidate` is accepted as written by older clients). */
export function requestedCandidate(f: FailoverRequest): string | undefined {
  return f.member ?? f.candidate;
}

/** Parses scheduled_at; undefined when absent; NaN when malformed (the API refuses those before writing). */
export function scheduledTime(f: FailoverRequest): number | undefined {
  return f.scheduled_at === undefined ? undefined : Date.parse(f.scheduled_at);
}

/**
 * Why `name` may not take over from the current leader now, or undefined when it may. The same rules
 * the election applies (docs/ha-states.md "Election"), checked on the member keys.
 */
export function candidateProblem(cluster: ClusterSnapshot, name: string, rules: CandidateRules): string | undefined {
  const member = cluster.members.find((m) => m.name === name);
  const names = cluster.members.map((m) => m.name).join(", ") || "none";
  if (!member) return `no member named "${name}" (members: ${names})`;
  if (cluster.leader?.name === name) return `"${name}" is already the leader: name another member`;
  if (member.data.tags.nofailover) return `"${name}" is tagged nofailover and is never promoted: choose another member`;
  if (member.data.state !== "running" || member.data.role !== "replica") {
    return `"${name}" is not a running replica (state ${member.data.state}, role ${member.data.role})`;
  }
  if (rules.synchronousMode !== "off") {
    const sync = cluster.sync;
    if (!sync || !sync.standbys.includes(name)) {
      const recorded = sync?.standbys.join(", ") || "none yet";
      return `synchronous mode is "${rules.synchronousMode}": only the synchronous standby (${recorded}) holds every acknowledged commit`;
    }
    return undefined;
  }
  const lag = lagOf(cluster, member);
  if (lag === undefined) return `"${name}" has not published its WAL position yet: try again in a moment`;
  if (lag > rules.maximumLagOnFailover) {
    return `"${name}" is ${lag} bytes behind the leader (maximumLagOnFailover ${rules.maximumLagOnFailover}): wait for it to catch up`;
  }
  return undefined;
}

/** The best member to hand over to when the request names none: eligible, then most advanced, then by name. */
export function bestCandidate(cluster: ClusterSnapshot, rules: CandidateRules): string | undefined {
  const eligible = cluster.members.filter((m) => candidateProblem(cluster, m.name, rules) === undefined);
  eligible.sort((a, b) => (b.data.xlog_location ?? 0) - (a.data.xlog_location ?? 0) || a.name.localeCompare(b.name));
  return eligible[0]?.name;
}

function lagOf(cluster: ClusterSnapshot, member: Member): number | undefined {
  const pos = member.data.xlog_location;
  if (pos === undefined) return undefined;
  const leader = cluster.members.find((m) => m.name === cluster.leader?.name);
  const leaderPos = Math.max(cluster.leaderOptime ?? 0, leader?.data.xlog_location ?? 0);
  return Math.max(0, leaderPos - pos);
}

function rulesOf(input: HaInput): CandidateRules {
  return { synchronousMode: input.self.synchronousMode, maximumLagOnFailover: input.self.maximumLagOnFailover };
}

/** Not yet due: a scheduled time in the future (the decision's wall clock, when the driver gives one). */
function notYetDue(input: HaInput, f: FailoverRequest): boolean {
  const at = scheduledTime(f);
  return at !== undefined && (input.wallNow === undefined || input.wallNow < at);
}

/**
 * Rows SW1–SW3: a running primary that holds the key sees a request. Undefined: no request, or one
 * not yet due (the usual leader row applies).
 */
export function leaderSwitchoverRow(input: HaInput): Decision | undefined {
  const f = input.cluster?.failover;
  if (!f) return undefined;
  const me = input.self.name;
  if (f.leader !== undefined && f.leader !== me) {
    return {
      actions: [{ type: "clearFailover" }],
      reason: `a switchover from ${f.leader} was requested but we (${me}) are the leader now: dropping the stale request`,
      role: "leader",
    };
  }
  if (notYetDue(input, f)) return undefined;
  const rules = rulesOf(input);
  const named = requestedCandidate(f);
  const candidate = named ?? bestCandidate(input.cluster!, rules);
  const problem = candidate ? candidateProblem(input.cluster!, candidate, rules) : "no member may take over now";
  if (problem || !candidate) {
    return {
      actions: [{ type: "clearFailover" }],
      reason: `switchover refused when it was due: ${problem}; staying the leader and dropping the request`,
      role: "leader",
    };
  }
  return {
    actions: [
      { type: "stopForHandOver", candidate },
      { type: "awaitCandidate", candidate },
      { type: "releaseLeader", to: candidate },
    ],
    reason: `switchover to ${candidate}: stopping PostgreSQL cleanly, waiting until ${candidate} has every WAL record, then releasing the leader key`,
    role: "replica",
  };
}

/**
 * Rows SW4–SW5: a running replica while there is no leader and a request is in the key. Undefined:
 * no request concerns us (the election applies).
 */
export function replicaSwitchoverRow(input: HaInput): Decision | undefined {
  const f = input.cluster?.failover;
  if (!f || notYetDue(input, f)) return undefined;
  const candidate = requestedCandidate(f);
  if (!candidate) return undefined;
  const me = input.self.name;
  if (candidate === me) {
    const refused = takeOverProblem(input);
    if (refused) return { actions: [], reason: `no leader; requested to take over but ${refused}`, role: "replica" };
    const by = handedOverBy(input);
    return {
      actions: [
        { type: "acquireLeader", ...(by !== undefined ? { handedOverBy: by } : {}) },
        { type: "promote" },
        { type: "clearFailover" },
      ],
      reason: f.leader
        ? `${f.leader} released the leader key for a switchover to us: taking it and promoting`
        : "manual failover to us: taking the leader key and promoting",
      role: "candidate",
    };
  }
  const member = input.cluster!.members.find((m) => m.name === candidate);
  if (member && member.data.state === "running") {
    return { actions: [], reason: `no leader; a switchover to ${candidate} is in progress: leaving the key to it`, role: "replica" };
  }
  return undefined;
}

/** Why the named candidate must not promote itself after all (the lag and synchronous rules, on its own live position). */
function takeOverProblem(input: HaInput): string | undefined {
  const { self, local, memory, cluster } = input;
  if (self.nofailover) return "this member is tagged nofailover";
  const lsn = local.pg.lsn;
  if (lsn === undefined) return "our WAL position is unknown";
  if (self.synchronousMode !== "off") {
    const sync = cluster?.sync;
    if (sync && !sync.standbys.includes(self.name) && sync.leader !== self.name) return "we are not the synchronous standby";
    // A manual failover (no leader handed over to us) under a quorum key: the election's quorum rule.
    const quorum = cluster?.failover?.leader === undefined ? quorumVerdict(input) : undefined;
    return quorum && !quorum.ok ? quorum.reason : undefined;
  }
  const leaderOptime = Math.max(memory.lastLeaderOptime ?? 0, cluster?.leaderOptime ?? 0);
  if (leaderOptime - lsn > self.maximumLagOnFailover) {
    return `we are ${leaderOptime - lsn} bytes behind the leader's last position (maximumLagOnFailover ${self.maximumLagOnFailover})`;
  }
  return undefined;
}

/**
 * Row SW6: the former leader after a hand-over, PostgreSQL stopped cleanly at the checkpoint the
 * candidate received. Undefined: not after a hand-over, or its data directory changed since.
 */
export function handedOverRow(input: HaInput, upstream: HostPort | undefined): Decision | undefined {
  const h = input.memory.handOver;
  const { cluster, local } = input;
  if (!h || local.dataDir.checkpointLsn !== h.checkpointLsn || local.dataDir.clusterState !== "shut down") return undefined;
  const leader = cluster!.leader;
  if (!leader) {
    const f = cluster!.failover;
    const candidate = f && requestedCandidate(f);
    const alive = cluster!.members.some((m) => m.name === candidate && m.data.state === "running");
    if (candidate === h.candidate && alive) {
      return { actions: [], reason: `handed over to ${h.candidate}: waiting for it to take the leader key`, role: "replica" };
    }
    return undefined;
  }
  if (leader.name === input.self.name || !upstream) return undefined;
  const member = cluster!.members.find((m) => m.name === leader.name);
  // The new timeline must fork after our shutdown checkpoint; otherwise we have WAL it lacks (rewind).
  const fork = member?.data.history?.find(([tl]) => tl === local.dataDir.timeline)?.[1];
  if (fork !== undefined && fork < h.checkpointLsn) return undefined;
  return {
    actions: [{ type: "startReplica", leader: leader.name, upstream }],
    reason: `handed over cleanly at the shutdown checkpoint ${leader.name} received: following it on its new timeline without a rewind`,
    role: "replica",
  };
}
