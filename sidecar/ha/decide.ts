/**
 * The HA decision: a pure function from one snapshot (etcd + local PostgreSQL + time + memory) to
 * actions and a one-line reason. No I/O, no clock, no randomness. The state/transition table it
 * implements is documented in docs/ha-states.md; each branch below is one row of it.
 */
import { historyToPublish } from "./history";
import type { Member } from "../dcs/types";
import type { HostPort } from "../postgres/types";
import type { Action, Decision, HaInput } from "./types";
import { electionVerdict } from "./election";
import { failsafeHoldRow, failsafeKeyActions, lastRenewalSent } from "./failsafe";
import { withPromotionWait } from "./promotion";
import { CONFIRM_LOOP_MS, planSync } from "./sync";
import { operationRow } from "./operations";
import { withPause } from "./pause";
import { restoreRow } from "./restore-rules";
import { standbyBootstrapRow, standbyPrimaryRow, standbyReplicaRow, standbyStoppedRow } from "./standby-rules";
import { handedOverRow, leaderSwitchoverRow, replicaSwitchoverRow } from "./switchover";
import { divergence } from "./timeline";
import { withWatchdog } from "./watchdog-rules";

/** After this many failed starts as a replica in a row, the data directory is re-created from the leader. */
export const MAX_REPLICA_START_FAILURES = 3;

export function decide(input: HaInput): Decision {
  return withWatchdog(input, withPause(input, withPromotionWait(input, decideRow(input))));
}

/** The rows without the promotion's wait (./promotion.ts), maintenance mode's (PA1–PA3, ./pause.ts) and the watchdog's (W1–W3, ./watchdog-rules.ts), applied on top. */
function decideRow(input: HaInput): Decision {
  const { local } = input;
  const pg = local.pg;
  const isPrimary = pg.running && pg.inRecovery === false;
  const isReplica = pg.running && pg.inRecovery === true;

  // Row F (fencing) comes first and needs no etcd: a primary whose lease may be about to expire
  // must stop taking writes now, whatever else is true.
  if (isPrimary && !leaseValid(input)) {
    const age = input.memory.leaseRenewSentAt === undefined ? "never" : `${input.now - input.memory.leaseRenewSentAt} ms ago`;
    const wd = input.watchdog;
    const resetIn = wd?.armed && wd.firesAt !== undefined ? `; the watchdog resets the machine in ${wd.firesAt - input.now} ms` : "";
    return {
      actions: [{ type: "fence" }],
      reason: `lease last renewed ${age}${resetIn}; it may expire within ${input.self.fenceMarginMs} ms: stopping PostgreSQL so no write is accepted without the lease`,
      role: "fenced",
    };
  }

  const cluster = input.cluster;
  if (!cluster) {
    const left = input.memory.leaseRenewSentAt === undefined ? 0 : Math.round(fenceDeadline(input) - input.now);
    return isPrimary
      ? {
          actions: [],
          reason: input.self.failsafeMode
            ? `etcd unreachable; writable for ${left} ms more (lease or failsafe confirmations), fencing unless renewed or confirmed by then`
            : `etcd unreachable; lease still valid for ${left} ms, fencing if not renewed by then`,
          role: "leader",
        }
      : {
          actions: [],
          reason: "etcd unreachable; a replica never promotes without the leader key: waiting",
          role: isReplica ? "replica" : "unknown",
        };
  }

  const operation = operationRow(input);
  if (operation) return operation;

  if (!local.dataDir.initialized) return decideUninitialized(input);

  if (cluster.initialize && local.dataDir.systemId && cluster.initialize !== local.dataDir.systemId) {
    return {
      actions: [],
      reason: `data directory belongs to another cluster (system id ${local.dataDir.systemId}, cluster ${cluster.initialize}): refusing to start it; move it away to rejoin`,
      role: "unknown",
    };
  }

  if (!pg.running) return decideStopped(input);
  if (isReplica) return decideReplica(input);
  return decidePrimary(input);
}

/**
 * When a leader must stop taking writes: last successful renewal sent + ttl − margin (docs/ha-states.md).
 * An armed watchdog resets the machine by firesAt, safetyMargin before the lease can expire; the
 * leader takes firesAt + safetyMargin as its lease end then, so that, alive, it fences and disarms
 * before the reset: only a stuck agent is ever reset.
 */
export function fenceDeadline(input: Pick<HaInput, "self" | "memory" | "watchdog">): number {
  // A round every member confirmed in failsafe mode counts as a renewal (./failsafe.ts, rows FS2/FS4).
  const leaseEnd = lastRenewalSent(input.memory) + input.self.ttlMs;
  const wd = input.watchdog;
  const end = wd?.armed && wd.firesAt !== undefined ? Math.min(leaseEnd, wd.firesAt + wd.safetyMarginMs) : leaseEnd;
  return end - input.self.fenceMarginMs;
}

function leaseValid(input: HaInput): boolean {
  return input.now < fenceDeadline(input);
}

/** Rows U1–U4: no data directory yet (rows B1–B3 first for a cluster restored from a backup). */
function decideUninitialized(input: HaInput): Decision {
  const cluster = input.cluster!;
  const me = input.self.name;
  const leaderOf = cluster.leader && findMember(input, cluster.leader.name);
  const restored = restoreRow(input, leaderOf, leaderOf && hostPortOf(leaderOf));
  if (restored) return restored;
  const standby = standbyBootstrapRow(input);
  if (standby) return standby;
  if (cluster.initialize === undefined) {
    return {
      actions: [{ type: "claimInitialize" }, { type: "bootstrap" }, { type: "acquireLeader" }],
      reason: "cluster is not initialized: racing for the initialize key to bootstrap it",
      role: "uninitialized",
    };
  }
  const leader = cluster.leader;
  if (leader?.name === me) {
    return {
      actions: [{ type: "releaseLeader" }],
      reason: "we hold the leader key but have no data directory: releasing it",
      role: "uninitialized",
    };
  }
  const leaderMember = leader && findMember(input, leader.name);
  // A standby leader is copied like a primary (pg_basebackup cascades): row U3 in a standby cluster.
  const copyable = leaderMember?.data.role === "primary" || leaderMember?.data.role === "standby_leader";
  if (leaderMember && leaderMember.data.state === "running" && copyable) {
    const upstream = hostPortOf(leaderMember);
    if (upstream) {
      return {
        actions: [
          { type: "baseBackup", leader: leader!.name, upstream },
          { type: "startReplica", leader: leader!.name, upstream },
        ],
        reason: `no data directory: taking a base backup from leader ${leader!.name} and streaming from it`,
        role: "uninitialized",
      };
    }
  }
  return {
    actions: [],
    reason:
      cluster.initialize === ""
        ? "another member is bootstrapping the cluster: waiting for it"
        : "no running leader to take a base backup from: waiting",
    role: "uninitialized",
  };
}

/** Rows S1–S4: data directory present, PostgreSQL not running. */
function decideStopped(input: HaInput): Decision {
  const { cluster, self, local, memory } = input;
  const leader = cluster!.leader;
  if (leader?.name === self.name) {
    const standby = standbyStoppedRow(input);
    if (standby) return standby;
    return {
      actions: [{ type: "startPrimary" }],
      reason: "PostgreSQL is not running while we hold the leader key: restarting it in place (crash recovery) under the lease",
      role: "leader",
    };
  }
  if (leader) {
    const leaderMember = findMember(input, leader.name);
    const upstream = leaderMember && hostPortOf(leaderMember);
    if (!upstream) return { actions: [], reason: `leader ${leader.name} has not published its address yet: waiting`, role: "replica" };
    const handedOver = handedOverRow(input, upstream);
    if (handedOver) return handedOver;
    const failedStarts = memory.replicaStartFailures ?? 0;
    const noRewind = wasPrimary(input) && !self.usePgRewind;
    if (memory.rewindFailed || noRewind || failedStarts >= MAX_REPLICA_START_FAILURES) {
      return {
        actions: [
          { type: "baseBackup", leader: leader.name, upstream },
          { type: "startReplica", leader: leader.name, upstream },
        ],
        reason: memory.rewindFailed
          ? `pg_rewind failed before: re-creating the data directory from leader ${leader.name}`
          : noRewind
            ? `former primary and usePgRewind is off: re-creating the data directory from leader ${leader.name}`
            : `PostgreSQL failed to start as a replica ${failedStarts} times in a row: re-creating the data directory from leader ${leader.name}`,
        role: "replica",
      };
    }
    if (wasPrimary(input)) {
      return {
        actions: [
          { type: "rewind", leader: leader.name, upstream },
          { type: "startReplica", leader: leader.name, upstream },
        ],
        reason: `former primary (cluster state "${local.dataDir.clusterState}"): rewinding against leader ${leader.name} before following it`,
        role: "replica",
      };
    }
    return {
      actions: [{ type: "startReplica", leader: leader.name, upstream }],
      reason: `starting as a replica of leader ${leader.name}`,
      role: "replica",
    };
  }
  const waiting = handedOverRow(input, undefined);
  if (waiting) return waiting;
  return {
    actions: [{ type: "startReplica" }],
    reason: "no leader: starting read-only so this member's position counts in the election",
    role: "replica",
  };
}

/** Rows R1–R4: PostgreSQL runs as a replica. */
function decideReplica(input: HaInput): Decision {
  const { cluster, self, local } = input;
  const leader = cluster!.leader;
  if (leader?.name === self.name) {
    const standby = standbyReplicaRow(input);
    if (standby) return standby;
    return { actions: [{ type: "promote" }], reason: "we hold the leader key while running as a replica: promoting", role: "leader" };
  }
  if (leader) {
    const leaderMember = findMember(input, leader.name);
    const upstream = leaderMember && hostPortOf(leaderMember);
    if (!upstream) return { actions: [], reason: `leader ${leader.name} has not published its address yet: waiting`, role: "replica" };
    if (local.dataDir.formerPrimary) {
      return {
        actions: [{ type: "demote" }],
        reason: `former primary running read-only may have diverged from leader ${leader.name}: stopping it to rewind before following`,
        role: "replica",
      };
    }
    const diverged = divergence(local.pg, leaderMember.data);
    if (diverged) {
      const copy: Action = self.usePgRewind
        ? { type: "rewind", leader: leader.name, upstream }
        : { type: "baseBackup", leader: leader.name, upstream };
      return {
        actions: [{ type: "demote" }, copy, { type: "startReplica", leader: leader.name, upstream }],
        reason: `${diverged}: it has WAL leader ${leader.name} never had; stopping to ${self.usePgRewind ? "rewind" : "re-create the data directory (usePgRewind is off)"} before following`,
        role: "replica",
      };
    }
    const current = local.pg.upstream;
    if (!current || current.host !== upstream.host || current.port !== upstream.port) {
      return {
        actions: [{ type: "followLeader", leader: leader.name, upstream }],
        reason: `following leader ${leader.name} at ${upstream.host}:${upstream.port}`,
        role: "replica",
      };
    }
    return {
      actions: [],
      reason: local.pg.streaming ? `streaming from leader ${leader.name}` : `replica of leader ${leader.name}, not streaming yet`,
      role: "replica",
    };
  }
  const held = failsafeHoldRow(input);
  if (held) return held;
  const standby = standbyReplicaRow(input);
  if (standby) return standby;
  const requested = replicaSwitchoverRow(input);
  if (requested) return requested;
  const verdict = electionVerdict(input);
  if (!verdict.ok) return { actions: [], reason: `no leader; ${verdict.reason}`, role: "replica" };
  return {
    actions: [{ type: "acquireLeader" }, { type: "promote" }],
    reason: `no leader; ${verdict.reason}: taking the leader key and promoting`,
    role: "candidate",
  };
}

/** Rows P1–P4: PostgreSQL runs as a primary (fencing was handled first). */
function decidePrimary(input: HaInput): Decision {
  const { cluster, self, local, memory } = input;
  const standby = standbyPrimaryRow(input);
  if (standby) return standby;
  const leader = cluster!.leader;
  if (leader && leader.name !== self.name) {
    return {
      actions: [{ type: "demote" }],
      reason: `another member (${leader.name}) holds the leader key: stopping this primary to rejoin as a replica`,
      role: "replica",
    };
  }
  if (!leader) {
    return {
      actions: [{ type: "acquireLeader" }],
      reason: "running as primary without the leader key: taking it (demoting if another member wins)",
      role: "candidate",
    };
  }
  const switchover = leader.leaseId === memory.leaseId ? leaderSwitchoverRow(input) : undefined;
  if (switchover) return switchover;
  const actions: Action[] = [];
  if (leader.leaseId !== memory.leaseId) actions.push({ type: "updateLeader" });
  if (local.pg.lsn !== undefined) actions.push({ type: "publishOptime", lsn: local.pg.lsn });
  const sync = planSync(input);
  actions.push(...sync.actions);
  const others = cluster!.members.map((m) => m.name).filter((n) => n !== self.name);
  actions.push({ type: "syncSlots", members: others });
  actions.push(...failsafeKeyActions(input));
  // Last: a failed write of the history key must not hold up the rest (the next run retries it).
  const history = historyToPublish(local.pg.history, cluster!.history);
  if (history) actions.push({ type: "publishHistory", lines: history });
  const reason = leader.leaseId !== memory.leaseId ? "leader key is ours but bound to an old lease: rebinding it" : "leader: lease renewed";
  return {
    actions,
    reason: sync.note ? `${reason}; ${sync.note}` : reason,
    role: "leader",
    ...(sync.unconfirmed ? { nextLoopMs: CONFIRM_LOOP_MS } : {}),
  };
}

/**
 * A data directory last used as a primary: startReplica writes standby.signal, promotion removes it;
 * a former primary started read-only while there was no leader carries a marker until rewound.
 */
function wasPrimary(input: HaInput): boolean {
  return !input.local.dataDir.standbySignal || input.local.dataDir.formerPrimary === true;
}

function findMember(input: HaInput, name: string): Member | undefined {
  return input.cluster!.members.find((m) => m.name === name);
}

/** Parses a member's conn_url (postgres://host:port/db). */
export function hostPortOf(member: Member): HostPort | undefined {
  try {
    const url = new URL(member.data.conn_url);
    const port = Number(url.port || 5432);
    if (!url.hostname || !Number.isInteger(port)) return undefined;
    return { host: url.hostname.replace(/^\[|\]$/g, ""), port };
  } catch {
    return undefined;
  }
}
