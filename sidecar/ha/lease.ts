/**
 * Keeps this member's etcd lease alive, independently of the HA loop, so that long PostgreSQL
 * commands (base backup, crash recovery) never starve the renewal. The member key and, while we
 * lead, the leader key are bound to this one lease.
 *
 * `renewSentAt` is the local time at which the last *successful* renewal was sent: etcd grants the
 * TTL on receipt, later than that, so the lease cannot expire before renewSentAt + ttl. The leader
 * fences itself at renewSentAt + ttl − margin (see fenceMarginSeconds in settings/timing.ts).
 */
import { Dcs, LeaseLostError } from "../dcs/types";
import type { Logger } from "../log";
import type { Clock } from "./clock";
import { RenewalStats } from "./renewal-stats";

export class LeaseKeeper {
  leaseId?: string;
  renewSentAt?: number;
  /** Renewal latency and gaps, reported in /patroni (a starving renewal is what causes false failovers). */
  readonly stats = new RenewalStats();
  private timer: unknown;
  private inFlight?: Promise<void>;
  private stopped = false;

  constructor(
    private readonly dcs: Dcs,
    private readonly clock: Clock,
    /** The lease etcd grants, whole seconds (HaTiming.leaseTtlSeconds). */
    private readonly leaseTtlSeconds: number,
    private intervalMs: number,
    private readonly log: Logger,
    /** Called after every successful renewal or grant (the driver re-arms its fence timer). */
    private readonly onRenewed: () => void,
  ) {}

  /** Grants a lease when we have none. Resolves with its id. */
  async ensure(): Promise<string> {
    if (this.leaseId) return this.leaseId;
    const sentAt = this.clock.now();
    const id = await this.dcs.grantLease(this.leaseTtlSeconds);
    this.leaseId = id;
    this.renewSentAt = sentAt;
    this.stats.renewed(sentAt, this.clock.now() - sentAt);
    this.log.info({ leaseId: id, ttl: this.leaseTtlSeconds }, "granted a new etcd lease");
    this.onRenewed();
    return id;
  }

  /** Renew this often from the next renewal on (the dynamic config's loop_wait changed). */
  setIntervalMs(ms: number): void {
    this.intervalMs = ms;
  }

  start(): void {
    this.stopped = false;
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    this.clock.clearTimeout(this.timer);
  }

  /**
   * One renewal (or a grant when the lease was lost). Never overlaps itself: a call during a renewal
   * waits for that one (arming the watchdog needs a fresh renewal, whichever sent it). Never throws.
   */
  renewOnce(): Promise<void> {
    this.inFlight ??= this.renew().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async renew(): Promise<void> {
    try {
      if (!this.leaseId) {
        await this.ensure();
        return;
      }
      const sentAt = this.clock.now();
      await this.dcs.keepAlive(this.leaseId);
      this.renewSentAt = sentAt;
      this.stats.renewed(sentAt, this.clock.now() - sentAt);
      this.onRenewed();
    } catch (e) {
      this.stats.failed();
      if (e instanceof LeaseLostError) {
        this.log.warn({ leaseId: this.leaseId }, "our etcd lease expired: keys bound to it are gone; granting a new one");
        this.leaseId = undefined;
        this.renewSentAt = undefined;
        await this.ensure().catch((err) => this.log.warn({ err: String(err) }, "cannot grant a new lease yet"));
      } else {
        this.log.warn({ err: String(e) }, "lease renewal failed; retrying");
      }
    }
  }

  async revoke(): Promise<void> {
    const id = this.leaseId;
    this.leaseId = undefined;
    this.renewSentAt = undefined;
    if (id) await this.dcs.revokeLease(id);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.clock.setTimeout(() => {
      void this.renewOnce().finally(() => this.schedule());
    }, this.intervalMs);
  }
}
