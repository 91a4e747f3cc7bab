/**
 * Lease renewal figures of one agent: how long renewals take and the longest gap between two
 * successful ones. A renewal that starves (a busy machine, a slow etcd) is what turns load into a
 * false failover, so the agent reports these in /patroni and the soak benchmark reads them.
 * Bounded: percentiles come from the last `capacity` samples; count, failures, max and the longest
 * gap cover the whole life of the agent, as does the latency histogram the metrics endpoint exposes.
 */
import { BucketCounts } from "./activity";

/** Upper bounds of the renewal latency histogram, seconds: a renewal is one etcd round trip, well under the TTL. */
export const RENEWAL_SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export interface RenewalSummary {
  /** Successful renewals (and grants) since the agent started. */
  count: number;
  /** Renewals that failed (etcd unreachable, timed out, lease lost). */
  failures: number;
  /** Round-trip time of the recent renewals, milliseconds. */
  p50Ms?: number;
  p99Ms?: number;
  /** Slowest renewal since start. */
  maxMs?: number;
  /** Longest time between the sending of two successful renewals since start. */
  maxGapMs?: number;
}

export class RenewalStats {
  private readonly samples: number[] = [];
  private next = 0;
  private count = 0;
  private failures = 0;
  private maxMs?: number;
  private maxGapMs?: number;
  private lastSentAt?: number;
  private readonly latency = new BucketCounts(RENEWAL_SECONDS_BUCKETS);

  constructor(private readonly capacity = 4096) {}

  /** A successful renewal sent at `sentAt` that completed `latencyMs` later. */
  renewed(sentAt: number, latencyMs: number): void {
    if (this.samples.length < this.capacity) this.samples.push(latencyMs);
    else this.samples[this.next] = latencyMs;
    this.next = (this.next + 1) % this.capacity;
    this.count++;
    this.latency.observe(latencyMs / 1000);
    this.maxMs = Math.max(this.maxMs ?? 0, latencyMs);
    if (this.lastSentAt !== undefined) this.maxGapMs = Math.max(this.maxGapMs ?? 0, sentAt - this.lastSentAt);
    this.lastSentAt = sentAt;
  }

  failed(): void {
    this.failures++;
  }

  /** Renewal latency in seconds since start, bucketed (for Prometheus). */
  latencySeconds(): ReturnType<BucketCounts["snapshot"]> {
    return this.latency.snapshot();
  }

  summary(): RenewalSummary {
    const sorted = [...this.samples].sort((a, b) => a - b);
    return {
      count: this.count,
      failures: this.failures,
      p50Ms: round(percentile(sorted, 0.5)),
      p99Ms: round(percentile(sorted, 0.99)),
      maxMs: round(this.maxMs),
      maxGapMs: round(this.maxGapMs),
    };
  }
}

/** Tenths of a millisecond: finer is noise. */
function round(ms: number | undefined): number | undefined {
  return ms === undefined ? undefined : Math.round(ms * 10) / 10;
}

/** Nearest-rank percentile of an ascending list; undefined when empty. */
export function percentile(sorted: number[], q: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}
