/**
 * Synchronous mode, the leader's side (pure). The leader keeps two things in step: the sync key in
 * etcd (who may be promoted) and synchronous_standby_names (whom PostgreSQL waits for before it
 * acknowledges a commit). Invariant: every standby that may hold acknowledged commits the others lack
 * is in the sync key; only members in the sync key (or its leader) may be promoted. Hence the order:
 *
 * - adding standby Y: write Y into the key first, then make PostgreSQL wait for Y;
 * - switching from X to Y: the key holds X and Y while PostgreSQL switches; X leaves the key only
 *   after PostgreSQL no longer waits for it *and* Y has replayed everything up to the switch;
 * - no standby available, non-strict: empty the key first (nobody may be promoted), then stop
 *   waiting (commits go on asynchronously, held by the leader alone; a failover now waits for it);
 * - no standby available, strict: keep waiting (for the old standby, or for a name no standby has),
 *   so writes block rather than go asynchronous.
 *
 * One PostgreSQL caveat, documented for users: a client that cancels a commit while it waits for the
 * standby gets an error, but the commit is already durable locally and becomes visible.
 */
import { planQuorum } from "./quorum";
import type { Action, HaInput } from "./types";

/** A standby name no member can have (member names have no ':'): PostgreSQL waits for nobody who exists. */
export const NO_SYNC_STANDBY = "hapg:none";

export interface SyncPlan {
  actions: Action[];
  /** Why, when something changes. */
  note?: string;
}

/** The names inside synchronous_standby_names as the agent writes it: FIRST 1 ("a", "b"). */
export function parseSyncNames(value: string | undefined): string[] {
  if (!value) return [];
  return [...value.matchAll(/"((?:[^"]|"")*)"/g)].map((m) => m[1].replace(/""/g, '"'));
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
  const key = cluster?.sync?.leader === self.name ? cluster.sync.standbys : undefined;
  const realWaits = waits.filter((n) => n !== NO_SYNC_STANDBY);
  const base = key ?? realWaits;
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
    const actions: Action[] = [];
    if (key === undefined || !key.includes(desired)) actions.push({ type: "writeSync", standbys: unique([...base, desired]) });
    if (!(waits.length === 1 && waits[0] === desired)) actions.push({ type: "setSyncStandbys", names: [desired] });
    if (actions.length) return { actions, note: `synchronous standby ${desired}: recorded in etcd before PostgreSQL waits for it` };
    const extra = key!.filter((n) => n !== desired);
    const row = streaming[0];
    const switchedAt = memory.syncSwitchLsn ?? local.pg.lsn ?? Infinity;
    if (extra.length && row.sync_state === "sync" && (row.replay_lsn ?? 0) >= switchedAt) {
      return {
        actions: [{ type: "writeSync", standbys: [desired] }],
        note: `${desired} has every acknowledged commit: ${extra.join(", ")} leave(s) the sync key`,
      };
    }
    return { actions: [] };
  }

  const actions: Action[] = [];
  if (self.synchronousMode === "strict") {
    if (key === undefined) actions.push({ type: "writeSync", standbys: realWaits });
    if (waits.length === 0) actions.push({ type: "setSyncStandbys", names: [NO_SYNC_STANDBY] });
    return { actions, note: actions.length ? "strict synchronous mode and no standby available: commits wait until one is" : undefined };
  }
  if (key === undefined || key.length) actions.push({ type: "writeSync", standbys: [] });
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
