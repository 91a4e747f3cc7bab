/**
 * The HA timing arithmetic, in one place: the fence margin, the watchdog's kernel timeout, the rules
 * that make a timing profile safe, and the one resolved value (milliseconds) the agent runs on.
 * Pure. The settings schema (./schema.ts) applies the rules; the agent, the component (softdog's
 * timeout) and the tests derive everything else from `resolveTiming`.
 *
 * Two deadlines matter after a renewal of the lease *sent* at s (see docs/ha-states.md):
 *   - the lease can expire no earlier than s + ttl: the watchdog must have reset a stuck leader
 *     `safetyMargin` before that;
 *   - a live leader fences itself `fenceMargin` before its deadline: the watchdog must fire after
 *     that, so a leader that is merely cut off from etcd stops PostgreSQL and disarms instead of
 *     being reset.
 * The kernel counts whole seconds, so the watchdog timeout is the largest whole number that still
 * leaves a renewal's answer MIN_PET_WINDOW_S to arrive and be followed by its pet.
 */

/*
 * Why the default timing is ttl 4 / loopWait 1 / retryTimeout 1.5 s (schema.ts), and not the
 * 2 / 0.5 / 0.5 s that would bring crash-node under 3 s (docs/results.md, "Soak", has the figures):
 * - crash-node ≈ ttl − renewal interval / 2 (the dead leader's last renewal) + etcd's expiry check
 *   (0–0.5 s) + promotion (~0.15 s) + HAProxy's pick-up (~0.1 s). etcd grants whole seconds, so
 *   ttl 3 still gives ~3.2 s; only ttl 2 gets under 3 s (measured: 2.0 s median, 4.0 s with ttl 4).
 * - The slowest etcd round trip we budget for on EC2: a renewal is answered by the etcd leader
 *   once a quorum confirms its leadership (a cross-AZ round trip, 1–2 ms, plus the client's own)
 *   and pending writes are applied (each fsyncs the WAL on EBS: gp3 is single-digit ms, with tail
 *   spikes of a few hundred ms). An etcd leader election (its election timeout is 1 s) stalls every
 *   call for 1–2 s, but no lease expires meanwhile. With ttl 4 a live leader has 3 s from its last
 *   successful renewal (2.5 s between watchdog pets), enough for such a stall even with failsafe
 *   mode off; with ttl 2, 1.5 s (0.75 s between pets: the watchdog's kernel timeout is then 1 s).
 * - Failsafe mode covers a slow or absent etcd, not a slow agent: its rounds run on the same event
 *   loop as the renewals. Under saturation the soak measured up to 0.81 s between two successful
 *   renewals with ttl 2 (1.19 s with ttl 4): with the watchdog armed (the default on EC2) such a
 *   gap already passes the 0.75 s fence deadline, and a healthy leader would fence itself.
 * So the default keeps 4 / 1 / 1.5; the short profile is for clusters without a watchdog, or whose
 * nodes are never saturated.
 */

/** A pet may follow the renewal it belongs to by at least this long (the renewal's round trip). */
export const MIN_PET_WINDOW_S = 0.25;
/** A live leader fences itself at least this long before its own watchdog would fire. */
export const MIN_FENCE_LEAD_S = 0.25;
/** etcd's smallest useful lease, seconds. */
export const MIN_TTL_S = 2;

/** The timing settings as a user writes them, seconds. */
export interface TimingSeconds {
  ttl: number;
  loopWait: number;
  retryTimeout: number;
}

/**
 * Fencing margin: the leader stops accepting writes at (last successful renewal *sent*) + ttl − margin.
 * etcd grants the renewed TTL when it *receives* the request, which is after we sent it, and checks
 * expiry every 500 ms, so the lease can only expire later than sent + ttl, never earlier. The margin
 * covers the time to stop PostgreSQL immediately (tens of ms) and a late timer on a busy machine.
 */
export function fenceMarginSeconds(ttl: number): number {
  return Math.min(1, ttl / 4);
}

export interface WatchdogTiming {
  /** The kernel timeout to ask for, whole seconds (the kernel's unit). */
  timeoutS: number;
  /** The reset comes at least this long before the lease can expire. */
  safetyMarginS: number;
  /** A pet must be written within this long after its renewal was sent (ttl − safetyMargin − timeout). */
  petWindowS: number;
}

/** A problem with the timing, naming the setting (as a dotted path) it is reported on. */
export interface TimingProblem {
  field: string;
  message: string;
}

/** The default safety margin: half the fence margin, i.e. 0.5 s with ttl ≥ 4. */
export function defaultSafetyMargin(fenceMarginS: number): number {
  return fenceMarginS / 2;
}

/**
 * The watchdog's timeout and pet window for a lease of `ttl` seconds, or the problems (naming the
 * settings and the fix) that make the combination unusable.
 */
export function watchdogTiming(o: { ttl: number; safetyMargin?: number }): { timing?: WatchdogTiming; problems: TimingProblem[] } {
  const fenceMarginS = fenceMarginSeconds(o.ttl);
  const m = o.safetyMargin ?? defaultSafetyMargin(fenceMarginS);
  const problems: TimingProblem[] = [];
  const maxMargin = fenceMarginS - MIN_FENCE_LEAD_S;
  if (!(m > 0) || m > maxMargin + 1e-9) {
    problems.push({
      field: "watchdog.safetyMargin",
      message:
        `${m} s must be above 0 and at most ${round(maxMargin)} s: with timing.ttl ${o.ttl} the leader fences itself ` +
        `${round(fenceMarginS)} s before its lease can expire, and the watchdog must fire at least ${MIN_FENCE_LEAD_S} s after that ` +
        `(so only a stuck agent is reset): remove watchdog.safetyMargin to use ${round(defaultSafetyMargin(fenceMarginS))} s, ` +
        `or set watchdog.mode to off`,
    });
  }
  const timeoutS = Math.floor(o.ttl - m - MIN_PET_WINDOW_S + 1e-9);
  if (timeoutS < 1) {
    problems.push({
      field: "timing.ttl",
      message:
        `${o.ttl} s − watchdog.safetyMargin (${round(m)} s) − ${MIN_PET_WINDOW_S} s for a renewal's round trip leaves a watchdog ` +
        `timeout under 1 s, the kernel's smallest: raise timing.ttl, lower watchdog.safetyMargin or set watchdog.mode to off`,
    });
  }
  if (problems.length) return { problems };
  return { timing: { timeoutS, safetyMarginS: m, petWindowS: o.ttl - m - timeoutS }, problems };
}

/**
 * The rules a timing profile must meet, each naming the setting to change. `watchdog` is the
 * watchdog's settings when it is not off (its timeout must fit in the lease too).
 */
export function timingProblems(t: TimingSeconds, watchdog?: { safetyMargin?: number }): TimingProblem[] {
  const problems: TimingProblem[] = [];
  if (!(t.ttl >= MIN_TTL_S) || !(t.loopWait > 0) || !(t.retryTimeout > 0)) return problems; // the field rules said so already
  const needed = t.loopWait + 2 * t.retryTimeout;
  if (needed > t.ttl) {
    problems.push({
      field: "timing.ttl",
      message:
        `${t.ttl} s must be at least timing.loopWait + 2 × timing.retryTimeout (${round(needed)} s), so the leader can miss one ` +
        `renewal and retry: raise timing.ttl or lower timing.loopWait/timing.retryTimeout`,
    });
  }
  const fence = fenceMarginSeconds(t.ttl);
  if (t.ttl - fence < t.loopWait) {
    problems.push({
      field: "timing.ttl",
      message:
        `${t.ttl} s leaves the leader less than one loopWait (${t.loopWait} s) to renew its lease before it must fence itself ` +
        `(${round(fence)} s before the lease can expire): ` +
        `raise timing.ttl to at least ${round(t.loopWait + Math.min(1, t.loopWait / 3))} s ` +
        `or lower timing.loopWait`,
    });
  }
  if (watchdog) problems.push(...watchdogTiming({ ttl: t.ttl, safetyMargin: watchdog.safetyMargin }).problems);
  return problems;
}

/** Every duration the agent runs on, derived once from the validated settings. */
export interface HaTiming {
  /** The leader lease the fencing arithmetic assumes (etcd may round the grant up, never down). */
  ttlMs: number;
  /** The lease as etcd grants it: whole seconds, rounded up (a longer lease never breaks fencing). */
  leaseTtlSeconds: number;
  loopWaitMs: number;
  retryTimeoutMs: number;
  /** The leader fences itself at (last renewal sent) + ttl − fenceMargin. */
  fenceMarginMs: number;
  /** How often the leader renews: every loopWait, at least four times per ttl. */
  renewIntervalMs: number;
  /** How long a peer's REST API may take to answer during an election. */
  peerFetchTimeoutMs: number;
  /** wal_sender_timeout and wal_receiver_timeout: a silent replication peer is dropped after this. */
  replicationTimeoutMs: number;
  /** The watchdog's plan; undefined when its mode is off. */
  watchdog?: WatchdogTiming;
}

/** The resolved timing. Throws (naming the settings) on a profile the schema would refuse. */
export function resolveTiming(s: {
  timing: TimingSeconds & { replicationTimeout: number };
  watchdog: { mode: string; safetyMargin?: number };
}): HaTiming {
  const watchdogOn = s.watchdog.mode !== "off";
  const problems = timingProblems(s.timing, watchdogOn ? s.watchdog : undefined);
  if (problems.length) throw new Error(`invalid timing: ${problems.map((p) => `${p.field}: ${p.message}`).join("; ")}`);
  const { ttl, loopWait, retryTimeout } = s.timing;
  const ms = (seconds: number) => Math.round(seconds * 1000);
  return {
    ttlMs: ms(ttl),
    leaseTtlSeconds: Math.ceil(ttl),
    loopWaitMs: ms(loopWait),
    retryTimeoutMs: ms(retryTimeout),
    fenceMarginMs: ms(fenceMarginSeconds(ttl)),
    renewIntervalMs: Math.min(ms(loopWait), ms(ttl) / 4),
    // An election must not wait longer on a silent peer than one API call may take, nor than 1 s.
    peerFetchTimeoutMs: Math.min(1000, ms(retryTimeout)),
    replicationTimeoutMs: ms(s.timing.replicationTimeout),
    watchdog: watchdogOn ? watchdogTiming({ ttl, safetyMargin: s.watchdog.safetyMargin }).timing : undefined,
  };
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
