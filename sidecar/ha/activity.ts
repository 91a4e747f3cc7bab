/**
 * What the agent counts about its own HA activity, for the metrics endpoint: loop durations, fence
 * events, leader changes it saw, when it last decided. Recording is a few additions per loop (no
 * metrics library, no allocation), so the HA loop and the lease renewal never pay for an exporter;
 * the REST API turns these figures into Prometheus text only when /metrics is scraped.
 */

/** A fixed-bucket histogram: what Prometheus needs (cumulative counts per upper bound, sum, count). Bounded memory. */
export class BucketCounts {
  /** counts[i]: observations <= bounds[i] and > bounds[i - 1]; the last slot is +Inf. */
  private readonly counts: number[];
  private sum = 0;
  private count = 0;

  /** `bounds`: ascending upper bounds, in the unit observed (seconds for every histogram here). */
  constructor(readonly bounds: readonly number[]) {
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }

  observe(value: number): void {
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]) i++;
    this.counts[i]++;
    this.sum += value;
    this.count++;
  }

  /** Cumulative counts per bound (Prometheus' `le`), the +Inf count last, with the sum and count. */
  snapshot(): { buckets: { le: number; count: number }[]; sum: number; count: number } {
    let acc = 0;
    const buckets = this.counts.map((c, i) => {
      acc += c;
      return { le: i < this.bounds.length ? this.bounds[i] : Infinity, count: acc };
    });
    return { buckets, sum: this.sum, count: this.count };
  }
}

/** Upper bounds of the HA loop duration histogram, seconds: a loop is one etcd read, one local status read, a decision. */
export const LOOP_SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export interface ActivitySummary {
  loops: ReturnType<BucketCounts["snapshot"]>;
  /** Fence actions executed (PostgreSQL stopped because the lease could expire). */
  fences: number;
  /** Times the leader key's holder differed from the one this agent saw before (a vacancy in between is not a change). */
  leaderChanges: number;
  /** Clock time (ms) of the last decision, from the loop or the fence timer. */
  lastDecisionAt?: number;
  /** Clock time (ms) of the last successful read of the cluster from etcd. */
  dcsSeenAt?: number;
}

export class HaActivity {
  private readonly loops = new BucketCounts(LOOP_SECONDS_BUCKETS);
  private fences = 0;
  private leaderChanges = 0;
  private lastLeader?: string;
  private lastDecisionAt?: number;
  private dcsSeenAt?: number;

  loopFinished(ms: number): void {
    this.loops.observe(ms / 1000);
  }

  decided(at: number): void {
    this.lastDecisionAt = at;
  }

  fenced(): void {
    this.fences++;
  }

  /** A successful etcd read at `at` whose leader key names `leader` (undefined: no leader). */
  clusterSeen(at: number, leader: string | undefined): void {
    this.dcsSeenAt = at;
    if (leader === undefined) return;
    if (this.lastLeader !== undefined && leader !== this.lastLeader) this.leaderChanges++;
    this.lastLeader = leader;
  }

  summary(): ActivitySummary {
    return {
      loops: this.loops.snapshot(),
      fences: this.fences,
      leaderChanges: this.leaderChanges,
      lastDecisionAt: this.lastDecisionAt,
      dcsSeenAt: this.dcsSeenAt,
    };
  }
}
