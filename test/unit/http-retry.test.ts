/** The one retry policy of every outbound HTTP call (sidecar/http/retry.ts), table-driven. */
import assert from "node:assert/strict";
import {
  type AfterFailure,
  type FailureKind,
  NO_RETRY,
  RETRY,
  attemptBudgetMs,
  backoffMs,
  isIdempotent,
  nextAttempt,
  oneRound,
  withRetry,
} from "../../sidecar/http/retry";

const after = (o: Partial<AfterFailure>): AfterFailure => ({
  attempts: 1,
  kind: "connect",
  idempotent: true,
  targets: 1,
  remainingMs: 5000,
  ...o,
});

describe("HTTP retry policy", () => {
  // [case, state after the failure, policy, expected wait before the next attempt (undefined: give up)]
  const table: [string, Partial<AfterFailure>, typeof RETRY, number | undefined][] = [
    ["refused GET: retried after 100 ms", { kind: "connect" }, RETRY, 100],
    ["refused POST: retried too (the server never saw it)", { kind: "connect", idempotent: false }, RETRY, 100],
    ["reset GET: retried", { kind: "reset" }, RETRY, 100],
    ["reset POST: not retried (the server may have acted)", { kind: "reset", idempotent: false }, RETRY, undefined],
    ["timed-out POST: not retried", { kind: "timeout", idempotent: false }, RETRY, undefined],
    ["timed-out GET with time left: retried", { kind: "timeout" }, RETRY, 100],
    ["server unavailable, idempotent: retried", { kind: "unavailable" }, RETRY, 100],
    ["server unavailable, not idempotent: not retried", { kind: "unavailable", idempotent: false }, RETRY, undefined],
    ["any other answer (a 503 health answer, a 404): final", { kind: "answer" }, RETRY, undefined],
    ["aborted by the caller: final", { kind: "aborted" }, RETRY, undefined],
    ["certificate refused by the only server: final", { kind: "tls" }, RETRY, undefined],
    ["certificate refused by one of three members: the next member at once", { kind: "tls", targets: 3 }, RETRY, 0],
    ["certificate refused by every member of a round: final", { kind: "tls", targets: 3, attempts: 3 }, RETRY, undefined],
    ["second attempt failed: 200 ms", { attempts: 2 }, RETRY, 200],
    ["attempts used up", { attempts: 3 }, RETRY, undefined],
    ["no retry policy", { attempts: 1 }, NO_RETRY, undefined],
    ["three endpoints, first failed: the next one at once", { targets: 3, attempts: 1 }, oneRound(3), 0],
    ["three endpoints, all failed once: one round only", { targets: 3, attempts: 3 }, oneRound(3), undefined],
    ["two endpoints, a round failed: backoff before round two", { targets: 2, attempts: 2 }, { ...RETRY, maxAttempts: 4 }, 100],
    ["wait does not fit before the deadline (a leader-key CAS keeps its timeout)", { remainingMs: 105 }, RETRY, undefined],
    ["wait fits with the minimum attempt time", { remainingMs: 110 }, RETRY, 100],
    ["another endpoint needs only the minimum attempt time", { targets: 2, remainingMs: 10 }, oneRound(2), 0],
    ["no time left for another endpoint", { targets: 2, remainingMs: 5 }, oneRound(2), undefined],
  ];
  for (const [name, state, policy, expected] of table) {
    it(name, () => assert.equal(nextAttempt(after(state), policy), expected));
  }

  it("backs off exponentially from 100 ms up to 1 s", () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5, 10].map((r) => backoffMs(r)),
      [100, 200, 400, 800, 1000, 1000],
    );
  });

  it("idempotent methods are the ones RFC 9110 names (POST and PATCH are not)", () => {
    assert.deepEqual(["GET", "head", "PUT", "DELETE", "OPTIONS", "POST", "PATCH"].map(isIdempotent), [
      true,
      true,
      true,
      true,
      true,
      false,
      false,
    ]);
  });

  it("gives each endpoint of a round an equal share of the time left", () => {
    assert.deepEqual(
      [0, 1, 2, 3].map((i) => attemptBudgetMs(i, 3, 900)),
      [300, 450, 900, 300],
    );
    assert.equal(attemptBudgetMs(0, 1, 900), 900);
  });

  it("withRetry: rotates over the targets, stops at a final failure and rejects with it", async () => {
    const seen: number[] = [];
    const fail = (kind: FailureKind) => Object.assign(new Error(kind), { kind });
    const classify = (e: unknown) => (e as { kind: FailureKind }).kind;
    const result = await withRetry({ timeoutMs: 1000, idempotent: true, targets: 3, policy: oneRound(3), classify }, async (i) => {
      seen.push(i % 3);
      if (i < 2) throw fail("connect");
      return "third";
    });
    assert.equal(result, "third");
    assert.deepEqual(seen, [0, 1, 2]);

    let calls = 0;
    await assert.rejects(
      withRetry({ timeoutMs: 1000, idempotent: true, classify }, async () => {
        calls++;
        throw fail("answer");
      }),
      /answer/,
    );
    assert.equal(calls, 1);
  });

  it("withRetry: never runs past the call's deadline", async () => {
    const t0 = performance.now();
    let calls = 0;
    await assert.rejects(
      withRetry({ timeoutMs: 150, idempotent: true, classify: () => "connect" }, async () => {
        calls++;
        throw new Error("refused");
      }),
    );
    // 1st attempt, 100 ms wait, 2nd attempt; a 200 ms wait does not fit in what is left.
    assert.equal(calls, 2);
    assert.ok(performance.now() - t0 < 150, `took ${performance.now() - t0} ms`);
  });
});
