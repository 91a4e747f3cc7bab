/**
 * Quorum commit (synchronous mode "quorum"), rows Q1–Q5 and E-Q of docs/ha-states.md. Pure.
 *
 * Two pieces of state, kept in step by the leader:
 * - PostgreSQL's wait, synchronous_standby_names = `ANY n (S)`: a commit is acknowledged once any n
 *   of the standbys in S have flushed it;
 * - the sync key in etcd, `{"leader", "sync_standby": V, "quorum": q}` (Patroni 4's layout): a
 *   standby in V may promote only after it has read the positions of q other members of V and none
 *   is ahead of it. With V = S and q = |V| − n, that is N − k + 1 members of the set, itself included.
 *
 * Invariant: every acknowledged commit is missing from at most q members of V. Then any q + 1
 * members of V include one that has it, and the most advanced of them has it too. Steps that keep it:
 * - the key only grows stricter on its own: a member joins V with q raised by one, or q rises;
 *   dropping a member from V without lowering q is always safe;
 * - PostgreSQL's wait may change only to one the key already covers: q ≥ |V ∪ S| − n, or q ≥ |V|
 *   (nobody in V may promote; only the key's leader);
 * - q is lowered (or a member dropped) only once n members of the new set have replayed past the
 *   position at which PostgreSQL's current wait took effect: they hold every commit acknowledged
 *   before it, and the wait guarantees n of them for every commit after.
 * So a new standby enters the key before PostgreSQL may count its acknowledgement ("grow the set
 * before lowering the wait"), and PostgreSQL stops counting a standby before the key forgets it
 * ("shrink the wait before dropping a member").
 */
import type { SyncState } from "../dcs/types";
import { parseSynchronousStandbyNames } from "../postgres/conf";
import { DEFAULT_SYNCHRONOUS_QUORUM } from "../contract/settings/schema";
import type { Action, HaInput } from "./types";

/** PostgreSQL's wait as the leader last set it: any `count` of `names` (count 0: asynchronous). */
export interface QuorumWait {
  count: number;
  names: string[];
}

export interface QuorumPlan {
  actions: Action[];
  note?: string;
  /** The key still has a larger quorum (or extra members) than the target once these actions ran: see SyncPlan.unconfirmed. */
  unconfirmed?: boolean;
}

/** Reads `ANY n (...)` / `FIRST n (...)` as the agent renders it; "" or unparsable: asynchronous. */
export function parseQuorumWait(value: string | undefined, ignore: string): QuorumWait {
  const names = parseSynchronousStandbyNames(value).names.filter((n) => n !== ignore);
  const count = Number(/^\s*(?:ANY|FIRST)\s+(\d+)\s*\(/i.exec(value ?? "")?.[1] ?? 0);
  return names.length ? { count: Math.min(count, names.length), names } : { count: 0, names: [] };
}

/**
 * The key as this leader may build on it: written by us in our current leadership (after the leader
 * key was created or rebound). A key from another leader, or from an earlier term of ours, describes
 * commits we did not acknowledge under the wait now in effect: it is replaced, not extended.
 */
export function ownKey(input: HaInput): SyncState | undefined {
  const { cluster, self } = input;
  const sync = cluster?.sync;
  const leader = cluster?.leader;
  return sync && leader && sync.leader === self.name && sync.modRevision > leader.modRevision ? sync : undefined;
}

/** Where the wait now in effect started: its switch position, or where our timeline began if later. */
function waitStart(input: HaInput): number | undefined {
  const switched = input.memory.syncSwitchLsn;
  if (switched === undefined) return undefined;
  const history = input.local.pg.history ?? [];
  return Math.max(switched, history.length ? history[history.length - 1].switchLsn : 0);
}

const sorted = (names: Iterable<string>) => [...new Set(names)].sort();
const sameSet = (a: string[], b: string[]) => a.length === b.length && sorted(a).every((n, i) => n === sorted(b)[i]);

/** The leader's next safe steps towards V = S = the streaming standbys, n = min(k, N), q = N − n. */
export function planQuorum(input: HaInput, noStandby: string): QuorumPlan {
  const { self, cluster, local } = input;
  const k = self.synchronousQuorum ?? DEFAULT_SYNCHRONOUS_QUORUM;
  const wait = parseQuorumWait(local.pg.synchronousStandbyNames, noStandby);
  const key = ownKey(input);
  const voters = key?.standbys ?? [];
  // A key without the quorum field (mode "on") lets each listed standby promote alone: q = 0.
  const q = key ? (key.quorum ?? 0) : 0;
  const eligible = new Set(
    (cluster?.members ?? [])
      .filter((m) => m.name !== self.name && !m.data.tags.nofailover && m.data.tags.failover_priority > 0)
      .map((m) => m.name),
  );
  const rows = (local.pg.replication ?? []).filter((r) => r.state === "streaming" && eligible.has(r.application_name));
  const target = sorted(rows.map((r) => r.application_name));
  const actions: Action[] = [];

  if (target.length === 0) {
    // Q5: nobody streams. The key first (only the leader may promote), then commits go asynchronous.
    if (!key || voters.length || q !== 0) actions.push({ type: "writeSync", standbys: [], quorum: 0 });
    // The raw setting: a promotion leaves a wait on a name no standby has, which parses as no names.
    if (local.pg.synchronousStandbyNames) actions.push({ type: "setSyncStandbys", names: [] });
    const note = "quorum commit: no standby streams; no replica may be promoted now and commits continue asynchronously";
    return { actions, note: actions.length ? note : undefined };
  }

  const n = Math.min(k, target.length);
  // Q1/Q2: grow the key first, so that it covers both the wait in effect and the one to come.
  const grown = sorted([...voters, ...target, ...wait.names]);
  const added = grown.filter((v) => !voters.includes(v)).length;
  const grownQ = Math.min(grown.length, Math.max(q + added, grown.length - wait.count, grown.length - n));
  if (!key || !sameSet(grown, voters) || grownQ !== q) actions.push({ type: "writeSync", standbys: grown, quorum: grownQ });

  // Q3: then PostgreSQL's wait. A fresh key (new term, or grown from nobody) gets a fresh switch position too.
  const fresh = !key || voters.length === 0 || input.memory.syncSwitchLsn === undefined;
  if (fresh || wait.count !== n || !sameSet(wait.names, target)) {
    actions.push({ type: "setSyncStandbys", names: target, count: n });
    return {
      actions,
      note: `quorum commit: ANY ${n} of ${target.join(", ")}, recorded in etcd (quorum ${grownQ}) before PostgreSQL waits`,
      unconfirmed: !(sameSet(grown, target) && grownQ === target.length - n),
    };
  }

  // Q4: shrink the key to the target once n members of the set hold everything acknowledged before the wait began.
  const targetQ = target.length - n;
  if (sameSet(grown, target) && grownQ === targetQ) return { actions };
  const start = waitStart(input);
  const confirmed = rows.filter((r) => start !== undefined && (r.replay_lsn ?? -1) >= start).map((r) => r.application_name);
  const loosens = targetQ < grownQ;
  if (loosens && confirmed.length < n) {
    const note = `quorum commit: waiting for ${n} of ${target.join(", ")} to replay past ${start} before the key's quorum drops to ${targetQ}`;
    return { actions, note, unconfirmed: true };
  }
  actions.push({ type: "writeSync", standbys: target, quorum: targetQ });
  return {
    actions,
    note: `quorum commit: ${confirmed.join(", ") || "the set"} hold every acknowledged commit: quorum set ${target.join(", ")}, quorum ${targetQ}`,
  };
}

export type QuorumVerdict = { ok: true } | { ok: false; reason: string };

/**
 * Row E-Q, the election under a quorum key: a member of the set may promote only when it sees the
 * positions of `quorum` other members of the set and none of them is ahead. Undefined: the key has
 * no quorum field, or we are the leader that wrote it (it has every commit it acknowledged).
 */
export function quorumVerdict(input: HaInput): QuorumVerdict | undefined {
  const { self, cluster, local, peers } = input;
  const sync = cluster?.sync;
  if (self.synchronousMode === "off" || !sync || sync.quorum === undefined || sync.leader === self.name) return undefined;
  const voters = sync.standbys;
  if (!voters.includes(self.name)) return { ok: false, reason: `quorum commit: not in the quorum set (${voters.join(", ") || "none"})` };
  const myLsn = local.pg.lsn ?? -1;
  const seen = peers.filter((p) => p.name !== self.name && voters.includes(p.name) && p.reachable && p.lsn !== undefined);
  // Any member of the set ahead of us has commits we lack, whatever its tags: never promote past it.
  const ahead = seen.find((p) => p.lsn! > myLsn);
  if (ahead) return { ok: false, reason: `quorum commit: ${ahead.name} (quorum set) is further ahead (LSN ${ahead.lsn} > ours ${myLsn})` };
  if (seen.length < sync.quorum) {
    const others = voters.length - 1;
    return {
      ok: false,
      reason:
        `quorum commit: we see ${seen.length} of the ${others} other member(s) of the quorum set; ${sync.quorum} are needed ` +
        "to know we hold every acknowledged commit: waiting for them to answer",
    };
  }
  return { ok: true };
}
