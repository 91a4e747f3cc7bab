/** The chaos run's pure parts: the seeded draw of faults and the per-kind figures. */
import assert from "node:assert/strict";
import { availableKinds, drawFaults, FAULT_KINDS, longOutageMs } from "../chaos/kinds";
import { seededRandom } from "../helpers/seeded-random";
import { FaultLine, kindStats } from "../chaos/runner";

describe("chaos run: the draw and the figures", () => {
  it("draws the same faults from the same seed, other faults from another, never one kind twice in a row", () => {
    const kinds = availableKinds({ netns: false, mode: "quorum" });
    const a = drawFaults(kinds, 100, seededRandom(7)).map((k) => k.name);
    assert.deepEqual(
      drawFaults(kinds, 100, seededRandom(7)).map((k) => k.name),
      a,
    );
    assert.notDeepEqual(
      drawFaults(kinds, 100, seededRandom(8)).map((k) => k.name),
      a,
    );
    for (let i = 1; i < a.length; i++) assert.notEqual(a[i], a[i - 1], `faults ${i} and ${i + 1}`);
    // 100 draws from ~20 kinds reach nearly all of them.
    assert.ok(new Set(a).size >= kinds.length - 2, `${new Set(a).size} of ${kinds.length} kinds drawn`);
  });

  it("offers the partitions only with --netns and each mode's own scenarios only in that mode", () => {
    const names = (o: Parameters<typeof availableKinds>[0]) => availableKinds(o).map((k) => k.name);
    assert.ok(!names({ netns: false, mode: "on" }).includes("partition-from-etcd"));
    assert.ok(names({ netns: true, mode: "on" }).includes("partition-from-etcd"));
    // Stopping and restarting an etcd member works on loopback only (with namespaces: frozen members, etcd-quorum-lost-cut-replica).
    assert.ok(!names({ netns: true, mode: "on" }).includes("etcd-member-lost"));
    assert.ok(names({ netns: false, mode: "on" }).includes("etcd-member-lost"));
    assert.ok(names({ netns: false, mode: "on" }).includes("lagging-replica"));
    assert.ok(!names({ netns: false, mode: "quorum" }).includes("lagging-replica"));
    assert.ok(names({ netns: false, mode: "quorum" }).includes("crash-node-before-stopped-replica-left"));
    assert.throws(() => availableKinds({ netns: false, mode: "on", only: ["crash-nod"] }), /--kinds: unknown kind "crash-nod"/);
    // A backup running needs the backup repository (--backup); without it the draw is what it was (npm test's seed).
    assert.ok(!names({ netns: false, mode: "quorum" }).includes("crash-during-backup"));
    assert.ok(names({ netns: false, mode: "quorum", backup: true }).includes("crash-during-backup"));
    assert.throws(() => availableKinds({ netns: false, mode: "quorum", only: ["crash-during-backup"] }), /backup false/);
  });

  it("judges a kind by twice its median, never below the floor", () => {
    const crash = FAULT_KINDS.find((k) => k.name === "crash-node")!;
    const etcd = FAULT_KINDS.find((k) => k.name === "etcd-member-lost")!;
    assert.equal(longOutageMs(crash), 7400);
    assert.equal(longOutageMs(etcd), 1000);
  });

  it("reports median, p95 and max of the longest write pause per kind", () => {
    const line = (kind: string, pauseMs: number | null, stuck = false): FaultLine => ({
      index: 0,
      kind,
      target: "node1",
      firstAckMs: pauseMs,
      pauseMs,
      healthMs: stuck ? null : 1000,
      stuck,
      long: stuck,
      failedChecks: [],
      writerErrors: [],
      from: 0,
      to: 0,
    });
    const lines = [...[100, 200, 300, 400, 5000].map((p) => line("crash-pg", p)), line("crash-node", 4000), line("crash-node", null, true)];
    const stats = kindStats(lines, FAULT_KINDS);
    assert.deepEqual(
      stats.map((s) => [s.kind, s.faults, s.medianMs, s.p95Ms, s.maxMs, s.stuck]),
      [
        ["crash-node", 2, 4000, 4000, 4000, 1],
        ["crash-pg", 5, 300, 5000, 5000, 0],
      ],
    );
  });
});
