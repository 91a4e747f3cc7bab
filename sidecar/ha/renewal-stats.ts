/**
 * Lease renewal figures of one agent: how long renewals take and the longest gap between two
 * successful ones. A renewal that starves (a busy machine, a slow etcd) is what turns load into a
 * false failover, so the agent reports these in /patroni and the soak benchmark reads them.
 * Bounded: percentiles come from the last `capacity` samples; count, failures, max and the longest
 * gap cover the whole life of the agent.
 */
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

  constructor(private readonly capacity = 4096) {}

  /** A successful renewal sent at `sentAt` that completed `latencyMs` later. */
  renewed(sentAt: number, latencyMs: number): void {
    if (this.samples.length < this.capacity) this.samples.push(latencyMs);
    else this.samples[this.next] = latencyMs;
    this.next = (this.next + 1) % this.capacity;
    this.count++;
    this.maxMs = Math.max(this.maxMs ?? 0, latencyMs);
    if (this.lastSentAt !== undefined) this.maxGapMs = Math.max(this.maxGapMs ?? 0, sentAt - this.lastSentAt);
    this.lastSentAt = sentAt;
  }

  failed(): void {
    this.failures++;
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
