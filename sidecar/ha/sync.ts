/**
 * Synchronous mode, the leader's side (pure). The leader keeps two things in step: the sync key in
 * etcd (who may be promoted: the set V and, as Patroni 4 writes it, `quorum` q, how many other
 * members of V a standby must see before it promotes) and synchronous_standby_names (whom PostgreSQL
 * waits for before it acknowledges a commit). Invariant: every acknowledged commit is missing from at
 * most q members of V (so the most advanced of any q + 1 of them has it). Hence the order:
 *
 * - adding standby Y: write Y into the key first, with q raised by one (Y may lack every older
 *   commit), then make PostgreSQL wait for Y;
 * - switching from X to Y: the key holds X and Y with q = 1 while PostgreSQL switches (Y must see X);
 *   the key becomes [Y], q = 0 only after PostgreSQL waits for Y *and* Y has replayed everything up
 *   to the switch;
 * - a key that is not ours in this term (another leader's, an earlier term's) is replaced by one
 *   that trusts nobody yet (q = |V|), except right after a promotion, while commits wait on a name
 *   no standby has: a standby with all our WAL then holds every acknowledged commit (q = 0 at once);
 * - no standby available, non-strict: empty the key first (nobody may be promoted), then stop
 *   waiting (commits go on asynchronously, held by the leader alone; a failover now waits for it);
 * - no standby available, strict: keep waiting (for the old standby, or for a name no standby has),
 *   so writes block rather than go asynchronous.
 *
 * One PostgreSQL caveat, documented for users: a client that cancels a commit while it waits for the
 * standby gets an error, but the commit is already durable locally and becomes visible.
 */
import { parseSynchronousStandbyNames } from "../postgres/conf";
import { ownKey, planQuorum } from "./quorum";
import type { Action, HaInput } from "./types";

/** A standby name no member can have (member names have no ':'): PostgreSQL waits for nobody who exists. */
export const NO_SYNC_STANDBY = "hapg:none";

export interface SyncPlan {
  actions: Action[];
  /** Why, when something changes. */
  note?: string;
  /**
   * The key, once these actions ran, still trusts fewer standbys than the steady state would (a
   * standby recorded but not yet confirmed to hold every acknowledged commit): the leader confirms
   * it on a short loop (CONFIRM_LOOP_MS), since a leader crash in this window waits for the leader.
   */
  unconfirmed?: boolean;
}

/** The loop interval while a recorded standby awaits confirmation (S-settle, Q4), ms. */
export const CONFIRM_LOOP_MS = 100;

/** The names inside synchronous_standby_names as the agent writes it: FIRST 1 ("a", "b"). */
export function parseSyncNames(value: string | undefined): string[] {
  return parseSynchronousStandbyNames(value).names;
}

export function planSync(input: HaInput): SyncPlan {
  const { self, cluster, local, memory } = input;
  const waits = parseSyncNames(local.pg.synchronousStandbyNames);
  if (self.synchronousMode === "off") {
    return waits.length
      ? { actions: [{ type: "setSyncStandbys", names: [] }], note: "synchronous mode is off: commits no longer wait for a standby" }
      : { actions: [] };
  }
  if (self.synchronousMode === "quorum") return planQuorum(input, NO_SYNC_STANDBY);
  // Only a key we wrote in this term is built on: another leader's (or an earlier term's) describes
  // commits this term did not acknowledge. q, the key's quorum field: how many members of the key a
  // commit may be missing from (a key written without it: 0).
  const own = ownKey(input);
  const key = own?.standbys;
  const q = own?.quorum ?? 0;
  const realWaits = waits.filter((n) => n !== NO_SYNC_STANDBY);
  const eligible = new Set(
    (cluster?.members ?? [])
      .filter((m) => m.name !== self.name && !m.data.tags.nofailover && m.data.tags.failover_priority > 0)
      .map((m) => m.name),
  );
  const streaming = (local.pg.replication ?? [])
    .filter((r) => r.state === "streaming" && eligible.has(r.application_name))
    .sort(
      (a, b) =>
        Number(realWaits.includes(b.application_name)) - Number(realWaits.includes(a.application_name)) ||
        (b.replay_lsn ?? 0) - (a.replay_lsn ?? 0),
    );
  const desired = streaming[0]?.application_name;

  if (desired) {
    const row = streaming[0];
    // Commits all wait on a name no standby has (right after a promotion; strict with none): none was
    // acknowledged since, so a standby that has replayed all our WAL holds every acknowledged commit
    // and may be the key's only member at once (recorded before PostgreSQL waits for it).
    const blocked = waits.length === 1 && waits[0] === NO_SYNC_STANDBY;
    if (blocked && (row.replay_lsn ?? -1) >= (local.pg.lsn ?? Infinity)) {
      const actions: Action[] = [];
      if (!(key?.length === 1 && key[0] === desired && q === 0)) actions.push({ type: "writeSync", standbys: [desired], quorum: 0 });
      actions.push({ type: "setSyncStandbys", names: [desired] });
      return {
        actions,
        note: `synchronous standby ${desired} has all our WAL: it alone may be promoted, recorded before PostgreSQL waits for it`,
      };
    }
    const actions: Action[] = [];
    if (key === undefined || !key.includes(desired)) {
      // A member that joins may lack every commit the others hold: q rises by one per member added,
      // and a fresh key trusts none of its members yet (q = |V|: only this leader may be promoted).
      const grown = unique([...(key ?? realWaits), desired]);
      const grownQ = key === undefined ? grown.length : Math.min(grown.length, q + grown.length - key.length);
      actions.push({ type: "writeSync", standbys: grown, quorum: grownQ });
    }
    const settled = key?.length === 1 && key[0] === desired && q === 0 && !actions.length;
    if (!(waits.length === 1 && waits[0] === desired)) actions.push({ type: "setSyncStandbys", names: [desired] });
    else if (memory.syncSwitchLsn === undefined && !settled) {
      // PostgreSQL already waits for the standby, but this term has not recorded from where (the key
      // was taken again or rebound, or the agent restarted, which forgets it): set the wait again so
      // the executor records the position now. Without it S-settle compared the standby's replay
      // with the live position, which a steady writer keeps ahead, and the key kept q = 1 (nobody
      // promotable: a leader crash then waited for the leader to come back) for as long as writes went on.
      actions.push({ type: "setSyncStandbys", names: [desired] });
    }
    if (actions.length)
      return { actions, note: `synchronous standby ${desired}: recorded in etcd before PostgreSQL waits for it`, unconfirmed: !settled };
    const switchedAt = memory.syncSwitchLsn ?? Infinity;
    if (!(key!.length === 1 && q === 0) && row.sync_state === "sync" && (row.replay_lsn ?? 0) >= switchedAt) {
      const extra = key!.filter((n) => n !== desired);
      return {
        actions: [{ type: "writeSync", standbys: [desired], quorum: 0 }],
        note: `${desired} has every acknowledged commit: it alone may be promoted${extra.length ? `; ${extra.join(", ")} leave(s) the sync key` : ""}`,
      };
    }
    return { actions: [], unconfirmed: !(key!.length === 1 && q === 0) };
  }

  const actions: Action[] = [];
  if (self.synchronousMode === "strict") {
    if (key === undefined) actions.push({ type: "writeSync", standbys: realWaits, quorum: realWaits.length });
    if (waits.length === 0) actions.push({ type: "setSyncStandbys", names: [NO_SYNC_STANDBY] });
    return { actions, note: actions.length ? "strict synchronous mode and no standby available: commits wait until one is" : undefined };
  }
  if (key === undefined || key.length || q !== 0) actions.push({ type: "writeSync", standbys: [], quorum: 0 });
  if (waits.length) actions.push({ type: "setSyncStandbys", names: [] });
  return {
    actions,
    note: actions.length
      ? "no standby available for synchronous replication: no replica may be promoted now; commits continue asynchronously"
      : undefined,
  };
}

/** Election rule in synchronous mode: only the recorded synchronous standbys, or the leader that recorded them. */
export function syncEligible(input: HaInput, name: string): boolean {
  const sync = input.cluster?.sync;
  return sync !== undefined && (sync.standbys.includes(name) || sync.leader === name);
}

function unique(names: string[]): string[] {
  return [...new Set(names)];
}
