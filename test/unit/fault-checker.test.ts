import assert from "node:assert/strict";
import { Ack, acksAfter, judgeHealed, median, memberOfPort, splitBrainMoments, timelineOfWalFile } from "../helpers/fault-checker";
import type { ApiCluster } from "../../local/state";

let nextId = 1;
const ack = (at: number, member: string, timeline: number): Ack => ({ id: nextId++, at, member, timeline });

describe("fault checker", () => {
  describe("timelineOfWalFile / memberOfPort", () => {
    it("reads the timeline from the first 8 hex digits of a WAL file name", () => {
      assert.equal(timelineOfWalFile("000000010000000000000003"), 1);
      assert.equal(timelineOfWalFile("0000000A0000000000000003"), 10);
      assert.equal(timelineOfWalFile("0000001f00000002000000FF"), 31);
    });
    it("refuses anything that is not a WAL file name", () => {
      assert.throws(() => timelineOfWalFile("00000001"), /not a WAL file name/);
      assert.throws(() => timelineOfWalFile("00000001000000000000000G"), /not a WAL file name/);
    });
    it("maps a PostgreSQL port to its member, or port:N", () => {
      const nodes = [
        { name: "node1", pgPort: 33010 },
        { name: "node2", pgPort: 33011 },
      ];
      assert.equal(memberOfPort(nodes, 33011), "node2");
      assert.equal(memberOfPort(nodes, 5432), "port:5432");
    });
  });

  describe("splitBrainMoments", () => {
    it("finds none in a clean failover to a higher timeline", () => {
      const acks = [ack(1, "a", 1), ack(2, "a", 1), ack(10, "b", 2), ack(11, "b", 2)];
      assert.deepEqual(splitBrainMoments(acks), []);
    });
    it("allows the old primary back on a newer timeline (a later failover back)", () => {
      const acks = [ack(1, "a", 1), ack(5, "b", 2), ack(9, "a", 3), ack(10, "a", 3)];
      assert.deepEqual(splitBrainMoments(acks), []);
    });
    it("allows a primary that restarted on the same timeline (crash-pg, the agent keeps the key)", () => {
      assert.deepEqual(splitBrainMoments([ack(1, "a", 1), ack(5, "a", 1)]), []);
    });
    it("flags an old primary acknowledging after the new one did, as one moment per stretch", () => {
      const acks = [ack(1, "a", 1), ack(5, "b", 2), ack(6, "a", 1), ack(7, "a", 1), ack(8, "b", 2), ack(9, "a", 1)];
      const m = splitBrainMoments(acks);
      assert.equal(m.length, 2);
      assert.deepEqual({ ...m[0] }, { from: 6, to: 7, member: "a", timeline: 1, against: "b", againstTimeline: 2, acks: 2 });
      assert.equal(m[1].from, 9);
      assert.equal(m[1].acks, 1);
    });
    it("flags two members acknowledging on the same timeline", () => {
      const m = splitBrainMoments([ack(1, "a", 1), ack(2, "b", 1), ack(3, "a", 1)]);
      assert.equal(m.length, 1);
      assert.equal(m[0].member, "b");
      assert.equal(m[0].against, "a");
    });
    it("orders acks by arrival time, not by input order (acks of several writers)", () => {
      const acks = [ack(5, "b", 2), ack(1, "a", 1), ack(6, "a", 1)];
      assert.equal(splitBrainMoments(acks).length, 1);
      assert.equal(splitBrainMoments([ack(5, "b", 2), ack(1, "a", 1)]).length, 0);
    });
  });

  it("acksAfter: acks of one member after a moment", () => {
    const acks = [ack(1, "a", 1), ack(5, "b", 2), ack(6, "a", 1)];
    assert.deepEqual(
      acksAfter(acks, "a", 5).map((a) => a.at),
      [6],
    );
    assert.deepEqual(acksAfter(acks, "a", 6), []);
  });

  describe("judgeHealed", () => {
    const cluster = (members: ApiCluster["members"]): ApiCluster => ({ members });
    const healthy = cluster([
      { name: "node1", role: "replica", state: "streaming", timeline: 2 },
      { name: "node2", role: "leader", state: "running", timeline: 2 },
      { name: "node3", role: "sync_standby", state: "streaming", timeline: 2 },
    ]);
    const all = ["node1", "node2", "node3"];
    it("healed: one leader, every other member streaming from it, the former primary among them", () => {
      const v = judgeHealed(healthy, all, ["node1", "node3"], "node1");
      assert.deepEqual(v, { healed: true, leader: "node2", problems: [] });
    });
    it("not healed when a member is missing from the leader's pg_stat_replication", () => {
      const v = judgeHealed(healthy, all, ["node3"], "node1");
      assert.equal(v.healed, false);
      assert.match(v.problems.join(), /node1: not in node2's pg_stat_replication/);
    });
    it("not healed with two leaders, none, a stopped or diverged member, or no /cluster", () => {
      const two = cluster([...healthy.members.slice(1), { name: "node1", role: "leader", state: "running", timeline: 1 }]);
      assert.match(judgeHealed(two, all, ["node3"]).problems.join(), /2 leaders/);
      const none = cluster(healthy.members.map((m) => ({ ...m, role: "replica" })));
      assert.match(judgeHealed(none, all, undefined).problems.join(), /no leader/);
      const stopped = cluster(healthy.members.map((m) => (m.name === "node1" ? { ...m, state: "stopped" } : m)));
      assert.match(judgeHealed(stopped, all, ["node1", "node3"]).problems.join(), /node1: replica stopped/);
      const diverged = cluster(healthy.members.map((m) => (m.name === "node1" ? { ...m, timeline: 1 } : m)));
      assert.match(judgeHealed(diverged, all, ["node1", "node3"]).problems.join(), /node1: timeline 1, leader on 2/);
      const missing = cluster(healthy.members.filter((m) => m.name !== "node1"));
      assert.match(judgeHealed(missing, all, ["node3"]).problems.join(), /node1: not in \/cluster/);
      assert.deepEqual(judgeHealed(undefined, all, undefined), { healed: false, problems: ["no agent API answered /cluster"] });
    });
  });

  it("median", () => {
    assert.equal(median([]), undefined);
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 2, 3]), 3);
  });
});
