/**
 * Rows PA1–PA3 of docs/ha-states.md: maintenance mode (`pause: true` in etcd's `config` key, as in
 * Patroni). Pure. Applied to the row `decide` chose, before the watchdog's rows. While paused no
 * member fails over, promotes, demotes, rewinds, copies or starts PostgreSQL by itself, so an
 * operator may stop, start or change PostgreSQL by hand; a leader whose PostgreSQL runs keeps its
 * key. What stays:
 * - the fence (row F1): a primary whose lease may expire stops taking writes, paused or not
 *   (safety property 3 does not depend on the mode);
 * - the leader's routine (P1: position, slots, synchronous standbys), retaking a free key by a
 *   running primary (P3, P4), a replica following the leader (R2);
 * - an operator's switchover or failover request (the `failover` key): it is an explicit order,
 *   carried to its end (the old leader of a hand-over starts as a replica of the new one).
 * Resuming needs nothing special: the next decision is the usual one for whatever state the
 * operator left (a stopped leader that gave its key up starts as a replica and rewinds if needed,
 * a replica left stopped starts and follows, no leader means an election).
 */
import { isPausedConfig } from "../contract/settings/dynamic";
import type { Action, Decision, HaInput } from "./types";

/** What a paused member still does by itself (everything else waits for the operator). */
const ALLOWED_WHILE_PAUSED = new Set<Action["type"]>([
  "fence",
  "acquireLeader",
  "updateLeader",
  "publishOptime",
  "syncSlots",
  "writeSync",
  "setSyncStandbys",
  "followLeader",
  "armWatchdog",
  "disarmWatchdog",
]);

export function isPaused(input: Pick<HaInput, "cluster">): boolean {
  return isPausedConfig(input.cluster?.config);
}

export function withPause(input: HaInput, d: Decision): Decision {
  const cluster = input.cluster;
  // An operator's switchover/failover runs as usual, to its end: the old leader of a hand-over starts
  // as a replica of the new one (as Patroni restarts the primary its own demote stopped).
  if (!cluster || !isPaused(input) || cluster.failover || input.memory.handOver || !input.local.dataDir.initialized) return d;
  const pg = input.local.pg;
  const ours = cluster.leader?.name === input.self.name;
  if (!pg.running && ours) {
    // PA1 (Patroni's): the key stands for a running primary; with it free, nobody takes it while paused.
    return {
      actions: [{ type: "releaseLeader" }],
      reason: "maintenance mode: PostgreSQL is not running on the leader; giving the leader key up, not starting PostgreSQL",
      role: "replica",
    };
  }
  if (d.actions.every((a) => ALLOWED_WHILE_PAUSED.has(a.type))) return d;
  // PA2 (stopped) and PA3 (running): what the usual row would do, not done.
  const what = pg.running ? "" : "PostgreSQL is not running and is not started; ";
  return {
    actions: [],
    reason: `maintenance mode: ${what}not acting by itself (would: ${d.actions.map((a) => a.type).join(", ")} — ${d.reason})`,
    role: pg.running ? (pg.inRecovery ? "replica" : d.role) : "unknown",
  };
}
