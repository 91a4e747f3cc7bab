/**
 * Which WAL files a replica may let go of (sidecar/backup/wal-gate.ts): segment names and positions
 * across timelines, what the leader's last archived file vouches for, and the marks the replica's
 * archive_command looks for.
 */
import assert from "node:assert/strict";
import {
  addArchived,
  gateDecision,
  gatePlan,
  NOTHING_ARCHIVED,
  parseWalFileName,
  pathEnd,
  type TimelinePath,
} from "../../sidecar/backup/wal-gate";

const MB16 = 16 * 1024 * 1024;
const seg = (tl: number, n: number) =>
  `${tl.toString(16).padStart(8, "0")}${"0".repeat(8)}${n.toString(16).padStart(8, "0")}`.toUpperCase();
const parse = (name: string) => {
  const f = parseWalFileName(name, MB16);
  assert.ok(f, name);
  return f;
};

describe("WAL file names and positions", () => {
  it("parses segments, partial and backup files and history files; a segment number spans the 4 GiB log ids", () => {
    assert.deepEqual(parse("00000002000000010000000A"), { kind: "segment", timeline: 2, segno: 256 + 10 });
    assert.deepEqual(parseWalFileName("00000002000000010000000A", 64 * 1024 * 1024), { kind: "segment", timeline: 2, segno: 64 + 10 });
    assert.deepEqual(parse("000000010000000000000005.partial"), { kind: "partial", timeline: 1, segno: 5 });
    assert.deepEqual(parse("000000010000000000000005.00000028.backup"), { kind: "backup", timeline: 1, segno: 5 });
    assert.deepEqual(parse("0000000A.history"), { kind: "history", timeline: 10 });
    for (const bad of ["", "x", "00000001000000000000000", "000000010000000000000005.ready", "0000000a.history"]) {
      assert.equal(parseWalFileName(bad, MB16), undefined, bad);
    }
  });

  it("what the leader's last archived file vouches for: a segment itself, a .partial or .backup only the segments before it", () => {
    let k = addArchived(NOTHING_ARCHIVED, seg(1, 7), MB16);
    assert.deepEqual(k.segments, { 1: 7 });
    assert.equal(addArchived(k, seg(1, 6), MB16), k, "positions never go back");
    k = addArchived(k, "00000002.history", MB16);
    assert.equal(k.historyTimeline, 2);
    k = addArchived(k, "000000010000000000000009.partial", MB16);
    assert.deepEqual(k.segments, { 1: 8 });
    k = addArchived(k, "00000002000000000000000B.00000028.backup", MB16);
    assert.deepEqual(k.segments, { 1: 8, 2: 10 });
    assert.equal(addArchived(k, undefined, MB16), k);
    assert.equal(addArchived(k, "garbage", MB16), k);
  });

  it("where each timeline of the leader's path ends: the segment holding the switch point is not the path's on the old timeline", () => {
    const p: TimelinePath = {
      timeline: 3,
      history: [
        [1, 9 * MB16 + 100],
        [2, 12 * MB16],
      ],
    };
    assert.equal(pathEnd(p, 1, MB16), 9, "switch in the middle of segment 9: 0..8 complete on timeline 1");
    assert.equal(pathEnd(p, 2, MB16), 12, "switch at a segment boundary: 0..11 on timeline 2");
    assert.equal(pathEnd(p, 3, MB16), Infinity);
    assert.equal(pathEnd({ timeline: 3, history: [[1, 9 * MB16]] }, 2, MB16), undefined, "timeline 2 is a branch the path left");
  });
});

describe("what a replica lets go of", () => {
  // Failover at 0/9000064: timeline 1 ends inside segment 9; the leader writes timeline 2.
  const p: TimelinePath = { timeline: 2, history: [[1, 9 * MB16 + 100]] };
  const decide = (name: string, known = NOTHING_ARCHIVED, path: TimelinePath | undefined = p) =>
    gateDecision(parse(name), path, known, MB16);

  it("keeps a segment until the leader archived it or a later one of its path", () => {
    const known = addArchived(NOTHING_ARCHIVED, seg(2, 10), MB16);
    assert.equal(decide(seg(2, 10), known), "archived");
    assert.equal(decide(seg(2, 11), known), "wait", "not archived yet: kept in pg_wal");
    assert.equal(decide(seg(1, 8), known), "archived", "an old timeline's segment before the switch: archived before timeline 2's");
    assert.equal(decide(seg(1, 8), NOTHING_ARCHIVED), "wait", "nothing known: keep everything");
    assert.equal(gateDecision(parse(seg(2, 10)), undefined, known, MB16), "wait", "no leader: keep everything");
  });

  it("the failover case: the new leader archives the old timeline's retained segments first, the replica waits for them", () => {
    // The old leader archived up to 1/5 before S3 failed; the new leader's pushes go 1/6, 1/7, 1/8, then timeline 2.
    let known = addArchived(NOTHING_ARCHIVED, seg(1, 5), MB16);
    assert.equal(decide(seg(1, 6), known), "wait");
    known = addArchived(known, "00000002.history", MB16);
    assert.equal(decide("00000002.history", known), "archived");
    assert.equal(decide(seg(1, 6), known), "wait", "a history file vouches for no segment");
    known = addArchived(known, seg(1, 7), MB16);
    assert.equal(decide(seg(1, 6), known), "archived");
    assert.equal(decide(seg(1, 8), known), "wait");
  });

  it("lets go, without pushing, what no restore reads under its name", () => {
    assert.equal(decide(seg(1, 9)), "not-needed", "timeline 1's copy of the switch segment is partial: timeline 2's holds the same WAL");
    assert.equal(decide(seg(1, 12)), "not-needed", "WAL a former leader wrote past the switch: the cluster left that branch");
    assert.equal(
      decide(seg(3, 1), NOTHING_ARCHIVED, { timeline: 4, history: [[1, 9 * MB16 + 100]] }),
      "not-needed",
      "a timeline not on the path",
    );
    assert.equal(decide("000000010000000000000009.partial"), "not-needed", "this member's own .partial from its past promotion");
    assert.equal(decide("000000010000000000000004.00000028.backup"), "not-needed");
  });

  it("never lets go of WAL newer than what it knows of the leader (its view may be a loop old)", () => {
    const known = addArchived(NOTHING_ARCHIVED, seg(2, 40), MB16);
    assert.equal(decide(seg(3, 41), known), "wait");
    assert.equal(decide("00000003.history", known), "wait");
  });

  it("a former leader's archived position past its switch point vouches only up to the switch", () => {
    // The old leader archived 1/12 (WAL past the switch at 1/9); the path continues on timeline 2 from segment 9.
    const known = addArchived(NOTHING_ARCHIVED, seg(1, 12), MB16);
    assert.equal(decide(seg(1, 8), known), "archived");
    assert.equal(decide(seg(2, 9), known), "wait", "timeline 2's segment 9 is not vouched for by timeline 1's 12");
    assert.equal(decide(seg(2, 10), known), "wait");
  });
});

describe("the marks the replica's archive_command looks for", () => {
  it("creates a mark for each file that may go, removes marks whose file is gone or waits, lists what waits", () => {
    const decisions: Record<string, "archived" | "not-needed" | "wait"> = { a: "archived", b: "not-needed", c: "wait", d: "archived" };
    const plan = gatePlan(["d", "c", "b", "a"], ["a", "c", "gone"], (n) => decisions[n]);
    assert.deepEqual(plan.create, ["b", "d"]);
    assert.deepEqual(plan.remove.sort(), ["c", "gone"]);
    assert.deepEqual(plan.waiting, ["c"]);
  });
});
