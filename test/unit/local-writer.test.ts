import * as assert from "node:assert/strict";
import { measureOutage, redact, WriterResult } from "../../local/writer";

const run = (ackTimes: number[], failures: number[] = []): WriterResult => ({
  ackedIds: ackTimes.map((_, i) => i + 1),
  ackTimes,
  failures: failures.map((at) => ({ at, error: "x" })),
});

describe("local writer outage measurement", () => {
  it("is fault → first ack after a crash", () => {
    const o = measureOutage(run([990, 995, 1000, 3400, 3405], [1001, 1500]), 1000);
    assert.deepEqual(o, { outageMs: 2400, gapMs: 2400, failures: 2 });
  });

  it("ends at the longest pause when the old primary still acks right after the fault", () => {
    const o = measureOutage(run([995, 1002, 1004, 1800, 1801]), 1000);
    assert.equal(o.outageMs, 800);
    assert.equal(o.gapMs, 796);
  });

  it("ignores acks after the window and says when writes never resumed", () => {
    assert.equal(measureOutage(run([990, 1010, 9000]), 1000, 2000).outageMs, 10);
    assert.equal(measureOutage(run([990]), 1000).outageMs, undefined);
  });

  it("masks the password in a DSN", () => {
    assert.equal(redact("postgresql://postgres:s3cr3t@127.0.0.1:15020/postgres"), "postgresql://postgres:***@127.0.0.1:15020/postgres");
  });
});
