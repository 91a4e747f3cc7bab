import { strict as assert } from "node:assert";
import { percentile, RenewalStats } from "../../sidecar/ha/renewal-stats";

describe("lease renewal stats (reported in /patroni, read by the soak benchmark)", () => {
  it("reports percentiles, the slowest renewal and the longest gap between renewals", () => {
    const s = new RenewalStats();
    // Renewals sent every 1000 ms taking 5 ms, one that took 900 ms, and one 3 s gap (a starved loop).
    let at = 0;
    for (let i = 0; i < 98; i++) s.renewed((at += 1000), 5);
    s.renewed((at += 1000), 900);
    s.renewed(at + 3000, 5);
    s.failed();
    const sum = s.summary();
    assert.equal(sum.count, 100);
    assert.equal(sum.failures, 1);
    assert.equal(sum.p50Ms, 5);
    assert.equal(sum.p99Ms, 5);
    assert.equal(sum.maxMs, 900);
    assert.equal(sum.maxGapMs, 3000);
  });

  it("keeps a bounded window for percentiles but the whole life for max and gaps", () => {
    const s = new RenewalStats(10);
    s.renewed(0, 1000);
    for (let i = 1; i <= 20; i++) s.renewed(i * 100, 1);
    const sum = s.summary();
    assert.equal(sum.p99Ms, 1, "the slow sample left the window");
    assert.equal(sum.maxMs, 1000);
    assert.equal(sum.count, 21);
  });

  it("has no percentiles before the first renewal", () => {
    assert.deepEqual(new RenewalStats().summary(), {
      count: 0,
      failures: 0,
      p50Ms: undefined,
      p99Ms: undefined,
      maxMs: undefined,
      maxGapMs: undefined,
    });
    assert.equal(percentile([1, 2, 3, 4], 0.5), 2);
    assert.equal(percentile([1, 2, 3, 4], 0.99), 4);
  });
});
