/**
 * Failsafe mode (rows FS1–FS7 of docs/ha-states.md): a leader keeps its primary writable through an
 * etcd outage while every member that could take the leader key confirms, over its REST API, that it
 * still follows this leader. Pure: the driver's FailsafeKeeper (./failsafe-keeper.ts) sends the
 * rounds and answers POST /failsafe; everything it decides, it asks here.
 *
 * The promise behind a confirmation: a member that confirmed at t (its own clock) does not race for
 * the leader key before t + ttl; a member the failsafe key does not list never races while the key
 * exists. The leader counts a round that every member in its list confirmed as a renewal sent when
 * the round was sent: its fence deadline moves to sentAt + ttl − fenceMargin, as for a lease.
 */
import type { ClusterSnapshot } from "../dcs/types";
import type { Action, AgentMemory, Decision, FailsafeHeard, HaInput } from "./types";

/** The failsafe key the leader wants: every member it sees (itself included), name → API URL; undefined: no key. */
export function desiredFailsafeKey(input: Pick<HaInput, "self" | "cluster">): Record<string, string> | undefined {
  if (!input.self.failsafeMode || !input.cluster) return undefined;
  return Object.fromEntries(input.cluster.members.map((m) => [m.name, m.data.api_url]));
}

/** Row FS1 (inside P1): keep the failsafe key equal to the members the leader sees; delete it when failsafe mode is off. */
export function failsafeKeyActions(input: HaInput): Action[] {
  const want = desiredFailsafeKey(input);
  const have = input.cluster?.failsafe;
  if (want === undefined && have === undefined) return [];
  if (want !== undefined && have !== undefined && sameKey(want, have)) return [];
  return [{ type: "writeFailsafe", members: want }];
}

function sameKey(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a[k] === b[k]);
}

/**
 * The members a round must reach, from the failsafe key as a snapshot shows it while we lead, plus a
 * write whose outcome is unknown (etcd may still apply it): whoever the key may list is asked.
 */
export function membersToAsk(key: Record<string, string> | undefined, pending: Record<string, string> | undefined) {
  return key === undefined && pending === undefined ? undefined : { ...key, ...pending };
}

/** Row FS4: may renewals of the current lease extend the leader's writability? */
export function leaseCounts(memory: Pick<AgentMemory, "failsafe" | "leaseId">): boolean {
  const k = memory.failsafe?.keyLeaseId;
  return k === undefined || (k !== "" && k === memory.leaseId);
}

/**
 * The latest moment the leader's right to write was renewed: the last successful renewal of a lease
 * that holds its key (row FS4), or the last round every listed member confirmed (row FS2).
 */
export function lastRenewalSent(memory: Pick<AgentMemory, "failsafe" | "leaseId" | "leaseRenewSentAt">): number {
  const lease = leaseCounts(memory) ? (memory.leaseRenewSentAt ?? -Infinity) : -Infinity;
  return Math.max(lease, memory.failsafe?.confirmedSentAt ?? -Infinity);
}

export interface RoundInput {
  now: number;
  self: { name: string; failsafeMode?: boolean };
  memory: Pick<AgentMemory, "failsafe" | "leaseId" | "leaseRenewSentAt">;
  /** PostgreSQL runs writable here (live status and the owner agree). */
  primary: boolean;
  /** A renewal older than this (ms) counts as missed: etcd may be gone. */
  staleAfterMs: number;
  /** The current fence deadline (decide.ts's fenceDeadline): a round after it saves nothing. */
  fenceAt: number;
}

/**
 * Row FS2: should the leader send a round now, and to whom (name → API URL, itself excluded)?
 * Only a primary in failsafe mode whose failsafe key was written, whose last renewal was missed (or
 * whose lease is not known to hold the key any more), and that is still writable.
 */
export function failsafeRound(r: RoundInput): { members: Record<string, string> } | undefined {
  const fs = r.memory.failsafe;
  if (!r.self.failsafeMode || !r.primary || !fs?.members || r.now >= r.fenceAt) return undefined;
  const stale = r.memory.leaseRenewSentAt === undefined || r.now - r.memory.leaseRenewSentAt >= r.staleAfterMs;
  if (!stale && leaseCounts(r.memory)) return undefined;
  const members = Object.fromEntries(Object.entries(fs.members).filter(([n]) => n !== r.self.name));
  return { members };
}

/**
 * Row FS3: a member's answer to POST /failsafe from `leader`. It confirms only while it is no
 * competitor: not the key holder in its last snapshot, not running as primary, not racing (an
 * acquire in flight or won within ttl), and its last snapshot names no other leader.
 */
export function failsafeVerdict(v: {
  self: string;
  leader: unknown;
  /** The leader key in this member's last snapshot (undefined: none or no snapshot). */
  viewLeader?: string;
  primary: boolean;
  racing: boolean;
}): { ok: true; leader: string } | { ok: false; status: number; reason: string } {
  if (typeof v.leader !== "string" || v.leader === "") {
    return { ok: false, status: 400, reason: 'body: name the leader, e.g. {"name": "node1"}' };
  }
  if (v.leader === v.self) return { ok: false, status: 409, reason: `${v.self} cannot confirm itself` };
  if (v.primary) return { ok: false, status: 409, reason: `${v.self} runs as a primary itself` };
  if (v.racing) return { ok: false, status: 409, reason: `${v.self} is taking (or just took) the leader key` };
  if (v.viewLeader !== undefined && v.viewLeader !== v.leader) {
    return { ok: false, status: 409, reason: `${v.self} sees ${v.viewLeader} as the leader in etcd, not ${v.leader}` };
  }
  return { ok: true, leader: v.leader };
}

/** A confirmation still binds this member: no leader race until heard.at + ttl. */
export function heardRecently(heard: FailsafeHeard | undefined, now: number, ttlMs: number): heard is FailsafeHeard {
  return heard !== undefined && now < heard.at + ttlMs;
}

/**
 * The former leader that released the key to this member for a switchover (the handover key names
 * us), or undefined. That leader stopped PostgreSQL and gave the key up, and nobody has held the key
 * since (every acquire deletes the handover key): no failsafe leader can count on a confirmation we
 * gave it, nor on one our previous run gave anyone (any earlier failsafe leader's window ended
 * before that leader could take the key: it needed that leader's confirmation too).
 */
export function handedOverBy(input: Pick<HaInput, "cluster" | "self">): string | undefined {
  const h = input.cluster?.handover;
  return h && h.to === input.self.name && !input.cluster?.leader ? h.from : undefined;
}

/**
 * Rows FS5/FS6, for a member with no leader key in etcd, before any race (election, requested
 * failover): hold when it confirmed a failsafe leader within ttl (FS5), unless that leader released
 * the key to this very member for a switchover, or when the failsafe key exists and does not list it
 * (FS6). Undefined: race as usual.
 */
export function failsafeHoldRow(input: HaInput): Decision | undefined {
  const heard = input.failsafeHeard;
  const by = handedOverBy(input);
  // Row FS5's exception: the hand-over proves the confirmation binds us no more (handedOverBy).
  const binds = (h: FailsafeHeard | undefined): h is FailsafeHeard =>
    heardRecently(h, input.now, input.self.ttlMs) && !(by !== undefined && (h.leader === "" || h.leader === by));
  if (binds(heard) && heard.leader === "") {
    return {
      actions: [],
      reason: `no leader key, but this agent started ${input.now - heard.at} ms ago: a failsafe leader may still count on a confirmation its previous run gave; not racing for the key until ttl has passed`,
      role: "replica",
    };
  }
  if (binds(heard)) {
    return {
      actions: [],
      reason: `no leader key, but ${heard.leader} confirmed it leads in failsafe mode ${input.now - heard.at} ms ago: not racing for the key`,
      role: "replica",
    };
  }
  if (notListed(input.cluster, input.self.name)) {
    return {
      actions: [],
      reason: "no leader key, and the failsafe key does not list this member: a failsafe leader would not ask it, so it never races",
      role: "replica",
    };
  }
  return undefined;
}

function notListed(cluster: ClusterSnapshot | undefined, name: string): boolean {
  return cluster?.failsafe !== undefined && !Object.hasOwn(cluster.failsafe, name);
}

/** For the driver: a snapshot that shows our leader key under `leaseId` proves renewals count again (FS4). */
export function keyProven(cluster: ClusterSnapshot | undefined, name: string, leaseId: string | undefined): boolean {
  return leaseId !== undefined && cluster?.leader?.name === name && cluster.leader.leaseId === leaseId;
}
