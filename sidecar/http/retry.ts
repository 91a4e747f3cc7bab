/**
 * The one retry policy of every outbound HTTP call (agent → etcd, agent → agents, CLI → agents,
 * IMDS, the local cluster's probes). Written once here, tested table-driven in
 * test/unit/http-retry.test.ts; ./client.ts applies it to single requests, the etcd client
 * (../dcs/etcd-http.ts) and the CLI's member list (../cli/ops-source.ts) to their endpoints.
 *
 * What is retried depends on how the attempt failed:
 * - `connect`: no connection (refused, unreachable, no such host): the server never saw the request,
 *   so any request is retried, idempotent or not.
 * - `reset`, `timeout`, `unavailable` (an answer the caller reads as "this server cannot serve now",
 *   e.g. etcd without a raft leader): the server may have acted on it, so only idempotent requests
 *   are retried (GET, HEAD, PUT, DELETE, OPTIONS, or a request the caller declares safe to repeat).
 * - `tls` (a certificate or handshake refused): never on the same server, which refuses it again;
 *   another target (an etcd member has a certificate of its own) is tried within the round.
 * - never: `aborted` (the caller gave up), `answer` (any other answer, 4xx and 5xx included: an
 *   agent's 503 is a health answer, not an outage).
 *
 * How: with several targets (etcd endpoints, cluster members), the next untried target at once, each
 * attempt getting an equal share of the time left; after a full round, an exponential backoff (100 ms
 * doubling to 1 s). Limit: `maxAttempts`, and the call's deadline — a retry happens only if its wait
 * plus MIN_ATTEMPT_MS fits in the time left. So a retry never stretches a call past its timeout:
 * a leader-key CAS keeps the etcd timeout the agent derives from the TTL.
 */

export type FailureKind = "connect" | "reset" | "timeout" | "unavailable" | "tls" | "aborted" | "answer";

export interface RetryPolicy {
  /** Attempts in all, the first included (1: no retry). */
  maxAttempts: number;
  /** Wait after the first full round of targets failed; doubles per round up to backoffMaxMs. */
  backoffMinMs: number;
  backoffMaxMs: number;
}

/** The default: three attempts, 100 ms → 1 s between rounds. */
export const RETRY: RetryPolicy = { maxAttempts: 3, backoffMinMs: 100, backoffMaxMs: 1000 };

/** One attempt: for probes that poll in their own loop, and calls whose caller decides what next. */
export const NO_RETRY: RetryPolicy = { ...RETRY, maxAttempts: 1 };

/** One attempt per target, no second round (etcd's endpoints: a call's deadline is shorter than a round of backoff). */
export const oneRound = (targets: number): RetryPolicy => ({ ...RETRY, maxAttempts: Math.max(1, targets) });

/** Less time than this left: another attempt cannot get an answer anyway. */
export const MIN_ATTEMPT_MS = 10;

const IDEMPOTENT_METHODS = new Set(["GET", "HEAD", "PUT", "DELETE", "OPTIONS"]);

/** RFC 9110 §9.2.2: the methods whose repetition has the effect of one request. */
export const isIdempotent = (method: string): boolean => IDEMPOTENT_METHODS.has(method.toUpperCase());

/** The wait before round `round` (1 = after the first full round failed). Also the etcd watch's reconnect backoff. */
export function backoffMs(round: number, p: RetryPolicy = RETRY): number {
  return Math.min(p.backoffMaxMs, p.backoffMinMs * 2 ** Math.max(0, round - 1));
}

export interface AfterFailure {
  /** Attempts made so far (≥ 1). */
  attempts: number;
  kind: FailureKind;
  idempotent: boolean;
  /** Endpoints the attempts rotate over (1 for a single URL). */
  targets: number;
  /** Time left before the call's deadline. */
  remainingMs: number;
}

/** The wait before the next attempt, or undefined: give up and report this failure. Pure. */
export function nextAttempt(s: AfterFailure, p: RetryPolicy = RETRY): number | undefined {
  if (s.attempts >= p.maxAttempts) return undefined;
  if (s.kind === "aborted" || s.kind === "answer") return undefined;
  if (s.kind !== "connect" && !s.idempotent) return undefined;
  const targets = Math.max(1, s.targets);
  // Every target tried (a full round): the next attempt goes to one already tried.
  if (s.kind === "tls" && s.attempts >= targets) return undefined;
  const wait = s.attempts % targets === 0 ? backoffMs(s.attempts / targets, p) : 0;
  return wait + MIN_ATTEMPT_MS <= s.remainingMs ? wait : undefined;
}

/** The time attempt `index` (0-based) may take: its equal share of what is left of the current round. */
export function attemptBudgetMs(index: number, targets: number, remainingMs: number): number {
  const t = Math.max(1, targets);
  return remainingMs / (t - (index % t));
}

export interface RetryRun {
  /** Deadline of the whole call, every attempt and wait included. */
  timeoutMs: number;
  idempotent: boolean;
  targets?: number;
  policy?: RetryPolicy;
  /** How an attempt's error failed (client errors carry their kind; callers add theirs). */
  classify: (err: unknown) => FailureKind;
  signal?: AbortSignal;
}

/**
 * Runs `attempt(index, budgetMs)` until it resolves or the policy gives up; rejects with the last
 * attempt's error. The attempt picks its target from the index (index % targets).
 */
export async function withRetry<T>(run: RetryRun, attempt: (index: number, budgetMs: number) => Promise<T>): Promise<T> {
  const deadline = performance.now() + run.timeoutMs;
  const targets = run.targets ?? 1;
  for (let index = 0; ; index++) {
    try {
      return await attempt(index, attemptBudgetMs(index, targets, Math.max(1, deadline - performance.now())));
    } catch (err) {
      const wait = nextAttempt(
        { attempts: index + 1, kind: run.classify(err), idempotent: run.idempotent, targets, remainingMs: deadline - performance.now() },
        run.policy ?? RETRY,
      );
      if (wait === undefined || run.signal?.aborted) throw err;
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  }
}
