/**
 * The wait a promotion starts with (row PR of docs/ha-states.md). Pure.
 *
 * In a synchronous mode, PostgreSQL is promoted already waiting for a standby name no member has
 * (NO_SYNC_STANDBY): until the new leader's plan has recorded its own sync key and chosen a real
 * standby (rows of ./sync.ts and ./quorum.ts, one loop later), no commit is acknowledged. Without
 * it the new primary would acknowledge commits asynchronously for that loop while the previous
 * leader's key still names who may be promoted (the previous leader itself, or the members of its
 * quorum set), none of whom has those commits. Patroni writes its own key before promoting and, in
 * strict mode only, promotes with '*'; here the wait is set before pg_promote in every synchronous
 * mode, and non-strict modes go asynchronous only by their plan's usual rule (no standby streams,
 * recorded in the key first).
 *
 * Row S1 (PostgreSQL restarted in place under our key) starts with the same wait, but only when the
 * PostgreSQL owner no longer knows the one the plan last set (the agent restarted too; it would start
 * asynchronous while the key names a standby): otherwise that one, which the key already covers, so
 * a crash of PostgreSQL alone costs no extra wait.
 *
 * A replica runs with this wait in its config all along (a standby ignores it; the PostgreSQL manager
 * writes promotionWait's value into every replica config), so the promotion itself needs no reload.
 */
import type { SynchronousMode } from "../contract/settings/schema";
import { NO_SYNC_STANDBY } from "./sync";
import type { Decision, HaInput } from "./types";

const WRITABLE = new Set(["promote", "startPrimary"]);

/** The synchronous wait a server made writable starts with in this mode; undefined: none (asynchronous). */
export function promotionWait(mode: SynchronousMode): string[] | undefined {
  return mode === "off" ? undefined : [NO_SYNC_STANDBY];
}

export function withPromotionWait(input: HaInput, d: Decision): Decision {
  const wait = promotionWait(input.self.synchronousMode);
  if (!wait || !d.actions.some((a) => WRITABLE.has(a.type))) return d;
  return {
    ...d,
    actions: d.actions.map((a) => (a.type === "promote" || a.type === "startPrimary" ? { ...a, synchronousStandbys: wait } : a)),
  };
}
