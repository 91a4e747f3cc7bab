import * as assert from "node:assert/strict";
import { buildSnapshot, type RawKv } from "../../sidecar/dcs/snapshot";
import type { MemberData } from "../../sidecar/dcs/types";
import { sampleMemberData } from "../helpers/member-fixture";

const P = "/service/main/";
const member: MemberData = sampleMemberData({ xlog_location: 1234, timeline: 2, replication_state: "streaming" });
const kv = (rel: string, value: string, lease = "0", modRevision = 5): RawKv => ({ key: P + rel, value, lease, modRevision });

describe("dcs buildSnapshot", () => {
  it("reads every known key of a healthy cluster", () => {
    const s = buildSnapshot(
      P,
      [
        kv("initialize", "7300000000000000001"),
        kv("config", '{"ttl":4}'),
        kv("leader", "node1\n", "77", 9),
        kv("status", '{"optime":5000,"slots":{"node2":4000}}'),
        kv("members/node2", JSON.stringify(member), "78", 11),
        kv("members/node1", JSON.stringify({ ...member, role: "primary", history: [[1, 900]], extra: "ignored" }), "77", 10),
        kv("failover", '{"leader":"node1","candidate":"node2"}'),
        kv("sync", '{"leader":"node1"}'),
        kv("history", "[]"),
        kv("something-newer", "whatever"),
      ],
      42,
    );
    assert.equal(s.revision, 42);
    assert.equal(s.initialize, "7300000000000000001");
    assert.deepEqual(s.config, { ttl: 4 });
    assert.deepEqual(s.leader, { name: "node1", leaseId: "77", modRevision: 9 });
    assert.equal(s.leaderOptime, 5000);
    assert.deepEqual(s.failover, { leader: "node1", candidate: "node2" });
    assert.deepEqual(
      s.members.map((m) => [m.name, m.data.role, m.leaseId, m.modRevision]),
      [
        ["node1", "primary", "77", 10],
        ["node2", "replica", "78", 11],
      ],
    );
    assert.equal("extra" in s.members[0].data, false, "unknown member fields are dropped");
    assert.deepEqual(s.members[0].data.history, [[1, 900]], "the primary's timeline history reaches the replicas");
    assert.deepEqual(s.corrupt, []);
  });

  it("an empty prefix is an empty cluster; keys outside the prefix are ignored", () => {
    const s = buildSnapshot(P, [{ key: "/service/other/leader", value: "x", lease: "1", modRevision: 3 }], 7);
    assert.deepEqual(s, { revision: 7, members: [], corrupt: [] });
  });

  it('keeps an empty initialize key as "" (bootstrap in progress)', () => {
    assert.equal(buildSnapshot(P, [kv("initialize", "")], 2).initialize, "");
  });

  const { tags: _tags, ...withoutTags } = member;
  const corruptCases: { name: string; kvs: RawKv[]; key: string; reason: RegExp }[] = [
    { name: "member: not JSON", kvs: [kv("members/a", "{not json")], key: "members/a", reason: /invalid JSON/ },
    { name: "member: JSON null", kvs: [kv("members/a", "null")], key: "members/a", reason: /not a member/ },
    {
      name: "member: missing conn_url",
      kvs: [kv("members/a", JSON.stringify({ ...member, conn_url: undefined }))],
      key: "members/a",
      reason: /conn_url/,
    },
    { name: "member: missing tags", kvs: [kv("members/a", JSON.stringify(withoutTags))], key: "members/a", reason: /tags/ },
    {
      name: "member: wrong tag type",
      kvs: [kv("members/a", JSON.stringify({ ...member, tags: { ...member.tags, nofailover: "yes" } }))],
      key: "members/a",
      reason: /tags\.nofailover/,
    },
    {
      name: "member: unknown role",
      kvs: [kv("members/a", JSON.stringify({ ...member, role: "master" }))],
      key: "members/a",
      reason: /role/,
    },
    {
      name: "member: bad timeline history",
      kvs: [kv("members/a", JSON.stringify({ ...member, history: [[1, "0/3"]] }))],
      key: "members/a",
      reason: /history/,
    },
    {
      name: "member: negative lsn",
      kvs: [kv("members/a", JSON.stringify({ ...member, xlog_location: -1 }))],
      key: "members/a",
      reason: /xlog_location/,
    },
    { name: "member: empty name", kvs: [kv("members/", JSON.stringify(member))], key: "members/", reason: /not a valid member name/ },
    {
      name: "member: nested name",
      kvs: [kv("members/a/b", JSON.stringify(member))],
      key: "members/a/b",
      reason: /not a valid member name/,
    },
    { name: "leader: empty", kvs: [kv("leader", "  ")], key: "leader", reason: /empty leader name/ },
    { name: "status: not JSON", kvs: [kv("status", "5000")], key: "status", reason: /optime/ },
    { name: "status: optime a string", kvs: [kv("status", '{"optime":"5000"}')], key: "status", reason: /optime/ },
    { name: "status: garbage", kvs: [kv("status", "\u0000\u0001")], key: "status", reason: /invalid JSON/ },
    { name: "failover: not an object", kvs: [kv("failover", '"node2"')], key: "failover", reason: /not a failover request/ },
    { name: "failover: candidate a number", kvs: [kv("failover", '{"candidate":2}')], key: "failover", reason: /candidate/ },
    { name: "config: an array", kvs: [kv("config", "[1,2]")], key: "config", reason: /JSON object/ },
  ];
  for (const c of corruptCases) {
    it(`lists a corrupt value and treats it as absent — ${c.name}`, () => {
      const s = buildSnapshot(P, c.kvs, 3);
      assert.equal(s.corrupt.length, 1, JSON.stringify(s.corrupt));
      assert.equal(s.corrupt[0].key, P + c.key);
      assert.match(s.corrupt[0].reason, c.reason);
      assert.ok(s.corrupt[0].reason.includes(P + c.key), "the reason names the key");
      assert.deepEqual(s.members, []);
      assert.equal(s.leader, undefined);
      assert.equal(s.leaderOptime, undefined);
      assert.equal(s.failover, undefined);
      assert.equal(s.config, undefined);
    });
  }

  it("a corrupt member does not hide the valid ones", () => {
    const s = buildSnapshot(P, [kv("members/a", "{"), kv("members/b", JSON.stringify(member)), kv("leader", "b")], 9);
    assert.deepEqual(
      s.members.map((m) => m.name),
      ["b"],
    );
    assert.equal(s.leader?.name, "b");
    assert.equal(s.corrupt.length, 1);
  });
});
