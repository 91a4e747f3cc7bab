/**
 * The side effects of failsafe mode (the rules are in ./failsafe.ts). As leader: from a timer of its
 * own, independent of the HA loop (which may wait on etcd for retryTimeout at every call), it sends a
 * round of POST /failsafe to every member the failsafe key lists whenever a lease renewal was missed;
 * a round every member confirmed moves the fence deadline and pets the watchdog like a renewal sent
 * at the same moment. As any member: it answers POST /failsafe and keeps the promise it gives (no
 * leader race for ttl), also against a race the HA loop already decided on (`beginRace`).
 */
import type { ClusterSnapshot } from "../dcs/types";
import type { Logger } from "../log";
import type { Clock } from "./clock";
import { failsafeRound, failsafeVerdict, heardRecently, keyProven, membersToAsk } from "./failsafe";
import type { LeaseKeeper } from "./lease";
import type { StopMarker } from "./failsafe-stop-marker";
import type { AgentMemory, FailsafeHeard, FailsafeMemory, SelfConfig, WatchdogControl } from "./types";

/** Asks one member (POST /failsafe on its API, at most the given ms): true when it answered 200. */
export type ConfirmPeer = (member: { name: string; apiUrl: string }, body: { name: string }, timeoutMs: number) => Promise<boolean>;

export interface FailsafeKeeperDeps {
  self: SelfConfig;
  clock: Clock;
  log: Logger;
  memory: AgentMemory;
  lease: Pick<LeaseKeeper, "leaseId" | "renewSentAt">;
  watchdog: WatchdogControl;
  /** How often a round may be sent (the lease's renewal interval). */
  intervalMs: number;
  /** How long one round may take. */
  timeoutMs: number;
  /** Absent: this agent cannot ask anyone, so its failsafe mode is off. */
  confirmPeer?: ConfirmPeer;
  /** PostgreSQL runs writable here now. */
  isPrimary: () => boolean;
  /** The current fence deadline (the driver's). */
  fenceAt: () => number;
  /** The leader key in the last snapshot (undefined: none, or etcd not read). */
  viewLeader: () => string | undefined;
  /** A round was confirmed: the fence deadline moved (the driver re-arms its timer). */
  onConfirmed: () => void;
  /** What the previous run left at its clean stop, and where this one leaves its own (absent: the start guard always lasts ttl). */
  stopMarker?: StopMarker;
  /** Wall-clock ms (the marker outlives the process, so it is in wall-clock time). Default Date.now. */
  wallNow?: () => number;
}

export class FailsafeKeeper {
  /** The last confirmation this member gave (the decision's `failsafeHeard`). */
  heard?: FailsafeHeard;
  private racing = false;
  private wonAt?: number;
  private timer: unknown;
  private stopped = true;
  private lastKeyLease?: string;
  private inRound = false;

  /**
   * A promise lives in memory: until then (local ms), one the previous run may have given still binds
   * us. ttl after the start, or less when the previous run stopped cleanly and said until when its
   * own confirmations bound it (./failsafe-stop-marker.ts).
   */
  private readonly startGuardUntil: number;
  private closed = false;

  constructor(private readonly d: FailsafeKeeperDeps) {
    const now = d.clock.now();
    this.startGuardUntil = now + d.self.ttlMs;
    const left = d.stopMarker?.take();
    if (left !== undefined) this.startGuardUntil = Math.min(this.startGuardUntil, now + Math.max(0, left - this.wallNow()));
  }

  private wallNow(): number {
    return (this.d.wallNow ?? Date.now)();
  }

  /**
   * What the decision reads as `failsafeHeard`: the last confirmation, or, during the start guard,
   * one the previous run may have given (leader "": unknown). Only the decision's race rows (FS5)
   * read it; bootstrap and a primary retaking its key are not races against a failsafe leader.
   */
  heardForDecision(): FailsafeHeard | undefined {
    const now = this.d.clock.now();
    if (heardRecently(this.heard, now, this.d.self.ttlMs)) return this.heard;
    return now < this.startGuardUntil ? { leader: "", at: this.startGuardUntil - this.d.self.ttlMs } : this.heard;
  }

  /**
   * A clean stop: no more confirmations from here on (503), and the marker says until when the ones
   * given (and the previous run's, during the start guard) bind this member.
   */
  closeAndLeaveMarker(): void {
    this.closed = true;
    if (!this.d.stopMarker) return;
    const now = this.d.clock.now();
    const h = this.heardForDecision();
    const until = h && heardRecently(h, now, this.d.self.ttlMs) ? h.at + this.d.self.ttlMs : now;
    try {
      this.d.stopMarker.leave(this.wallNow() + (until - now));
    } catch (e) {
      this.d.log.warn({ err: String(e) }, "cannot leave the failsafe stop marker: the next start waits ttl before any leader race");
    }
  }

  private get fs(): FailsafeMemory {
    return (this.d.memory.failsafe ??= {});
  }

  start(): void {
    if (!this.d.self.failsafeMode || !this.d.confirmPeer) return;
    this.stopped = false;
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    this.d.clock.clearTimeout(this.timer);
  }

  /**
   * After every successful etcd read (started at readStartedAt): who holds the key, what the
   * failsafe key lists (while we lead).
   */
  observe(cluster: ClusterSnapshot, readStartedAt: number): void {
    const me = this.d.self.name;
    // A read begun after our race ended that finds another holder settles it: whatever our
    // transaction did, the key is not ours now, so confirming no longer competes with anyone.
    if (this.wonAt !== undefined && readStartedAt >= this.wonAt && cluster.leader && cluster.leader.name !== me) this.wonAt = undefined;
    this.lastKeyLease = cluster.leader?.name === me ? cluster.leader.leaseId : undefined;
    if (keyProven(cluster, me, this.d.lease.leaseId) && this.fs.keyLeaseId !== undefined) {
      this.d.log.info("our leader key is in etcd again under our current lease: lease renewals count again (failsafe over)");
      this.fs.keyLeaseId = undefined;
    }
    if (cluster.leader?.name === me) this.fs.members = membersToAsk(cluster.failsafe, this.fs.pending);
  }

  /** The leader key was (re)taken under the current lease: renewals count again. */
  keyTaken(): void {
    if (this.d.memory.failsafe) this.d.memory.failsafe.keyLeaseId = undefined;
  }

  /** While the last confirmed round still covers this moment (the API's /primary relies on it without etcd). */
  serving(now: number): boolean {
    const at = this.d.memory.failsafe?.confirmedSentAt;
    return at !== undefined && now < at + this.d.self.ttlMs - this.d.self.fenceMarginMs;
  }

  /**
   * Before an acquireLeader transaction: false when a confirmation still binds us; not one given to
   * `handedOverBy`, the leader that released the key to us for a switchover (row FS5).
   */
  beginRace(handedOverBy?: string): boolean {
    const now = this.d.clock.now();
    if (heardRecently(this.heard, now, this.d.self.ttlMs) && this.heard.leader !== handedOverBy) return false;
    this.racing = true;
    return true;
  }

  endRace(won: boolean): void {
    this.racing = false;
    if (won) this.wonAt = this.d.clock.now();
  }

  /** POST /failsafe: the verdict (./failsafe.ts row FS3); a confirmation binds us for ttl from now. */
  confirm(body: unknown): { status: number; body: Record<string, unknown> } {
    if (this.closed) return { status: 503, body: { error: `${this.d.self.name} is stopping: it confirms nothing any more` } };
    const now = this.d.clock.now();
    const leader = typeof body === "object" && body !== null ? (body as Record<string, unknown>).name : undefined;
    const v = failsafeVerdict({
      self: this.d.self.name,
      leader,
      viewLeader: this.d.viewLeader(),
      primary: this.d.isPrimary(),
      racing: this.racing || (this.wonAt !== undefined && now < this.wonAt + this.d.self.ttlMs),
    });
    if (!v.ok) {
      this.d.log.warn({ leader }, `refused a failsafe confirmation: ${v.reason}`);
      return { status: v.status, body: { error: v.reason } };
    }
    if (this.heard?.leader !== v.leader || !heardRecently(this.heard, now, this.d.self.ttlMs))
      this.d.log.warn({ leader: v.leader }, `confirmed failsafe leader ${v.leader}: not racing for the leader key for ttl`);
    this.heard = { leader: v.leader, at: now };
    return { status: 200, body: { accepted: true, name: this.d.self.name } };
  }

  /**
   * Wakes up when the next renewal is overdue (its interval plus a grace, from the last successful
   * one), then once per interval while rounds are due: with a short ttl and the watchdog armed, the
   * first round must pet within a fraction of a second of the renewal it stands in for.
   */
  private schedule(): void {
    if (this.stopped) return;
    const sent = this.d.lease.renewSentAt;
    const now = this.d.clock.now();
    const overdueAt = sent === undefined ? now : sent + this.staleAfterMs();
    const delay = overdueAt > now ? overdueAt - now + 1 : this.d.intervalMs;
    this.timer = this.d.clock.setTimeout(() => {
      void this.round().finally(() => this.schedule());
    }, delay);
  }

  /** A renewal not succeeded by then is missed: the interval, plus a tenth of it (at most 100 ms) for its round trip. */
  private staleAfterMs(): number {
    return this.d.intervalMs + Math.min(100, this.d.intervalMs / 10);
  }

  /** One round if row FS2 says so; never overlaps itself, never throws. */
  async round(): Promise<void> {
    if (this.inRound || !this.d.confirmPeer) return;
    const r = failsafeRound({
      now: this.d.clock.now(),
      self: this.d.self,
      memory: { ...this.d.memory, leaseId: this.d.lease.leaseId, leaseRenewSentAt: this.d.lease.renewSentAt },
      primary: this.d.isPrimary(),
      staleAfterMs: this.staleAfterMs(),
      fenceAt: this.d.fenceAt(),
    });
    if (!r) return;
    this.inRound = true;
    try {
      // From now on a lease renewal extends writability only for the lease the key was bound to.
      this.fs.keyLeaseId ??= this.lastKeyLease ?? "";
      const sentAt = this.d.clock.now();
      const names = Object.keys(r.members);
      const answers = await Promise.all(
        names.map((name) =>
          this.d.confirmPeer!({ name, apiUrl: r.members[name] }, { name: this.d.self.name }, this.d.timeoutMs).catch(() => false),
        ),
      );
      const missing = names.filter((_, i) => !answers[i]);
      if (missing.length) {
        this.d.log.warn(
          { missing },
          `failsafe round not confirmed by ${missing.join(", ")}: fencing at the current deadline unless etcd or all members answer`,
        );
        return;
      }
      if ((this.fs.confirmedSentAt ?? -Infinity) < sentAt) this.fs.confirmedSentAt = sentAt;
      this.d.log.debug({ members: names, ms: Math.round(this.d.clock.now() - sentAt) }, "failsafe round confirmed by every member");
      // A confirmed round is a renewal sent at sentAt: pet as for one (refused when it came back too
      // late). It vouches for the leadership the key's lease held, even once etcd has let that lease
      // expire behind a partition: the watchdog was armed under that lease.
      this.d.watchdog.pet({ leaseId: this.fs.keyLeaseId || this.d.lease.leaseId, renewSentAt: sentAt });
      this.d.onConfirmed();
    } finally {
      this.inRound = false;
    }
  }
}
