/** The operator commands' pure parts: what `hapg list`, `history`, `topology` print, and which flags are refused. */
import assert from "node:assert/strict";
import { historyJson, historyText, listJson, listText, lsnText, topologyJson } from "../../sidecar/cli/ops-render";
import { FlagError, sourceFromFlags, type ClusterView } from "../../sidecar/cli/ops-source";
import { historyBody } from "../../sidecar/api/read-routes";
import { sampleMemberData } from "../helpers/member-fixture";

const TAGS = { nofailover: false, noloadbalance: false, failover_priority: 1 };
const view: ClusterView = {
  scope: "demo",
  members: [
    {
      name: "b",
      role: "replica",
      state: "streaming",
      host: "10.0.1.11",
      port: 5432,
      timeline: 2,
      lag: 3 * 1024 * 1024,
      tags: { ...TAGS, nofailover: true },
    },
    { name: "a", role: "leader", state: "running", host: "10.0.1.10", port: 5432, timeline: 2, tags: TAGS },
    { name: "c", role: "replica", state: "stopped", host: "10.0.1.12", port: 6432, tags: TAGS, pending_restart: true },
  ],
};

describe("hapg list / history / topology output", () => {
  it("list --json: members by name, Patroni's role titles, lag only on replicas, only non-default tags", () => {
    const j = listJson(view, { pause: true });
    assert.equal(j.cluster, "demo");
    assert.equal(j.leader, "a");
    assert.equal(j.paused, true);
    assert.deepEqual(j.members, [
      { member: "a", host: "10.0.1.10", role: "Leader", state: "running", timeline: 2, lag: null, pending_restart: false, tags: {} },
      {
        member: "b",
        host: "10.0.1.11",
        role: "Replica",
        state: "streaming",
        timeline: 2,
        lag: 3 * 1024 * 1024,
        pending_restart: false,
        tags: { nofailover: true },
      },
      {
        member: "c",
        host: "10.0.1.12:6432",
        role: "Replica",
        state: "stopped",
        timeline: null,
        lag: null,
        pending_restart: true,
        tags: {},
      },
    ]);
  });

  it("list table: a title with the leader and maintenance mode, one row per member, lag in MB", () => {
    const text = listText(listJson(view, {}));
    assert.match(text.split("\n")[0], /^Cluster: demo \(leader a, maintenance mode: off\)$/);
    assert.match(text, /│ b +│ 10\.0\.1\.11 +│ Replica │ streaming │ 2 +│ 3 +│ +│ nofailover: true │/);
    assert.match(text, /│ c +│ 10\.0\.1\.12:6432 │ Replica │ stopped +│ +│ +│ \* +│/);
    assert.match(listText(listJson({ scope: "demo", members: [] }, {})), /NO LEADER/);
  });

  it("history: from the leader's member key, oldest first, with PostgreSQL's LSN spelling", () => {
    const data = sampleMemberData({
      role: "primary",
      history: [
        [2, 0x5000000],
        [1, 0x30000a0],
      ],
    });
    const leader = { name: "a", data, leaseId: "1", modRevision: 1 };
    const rows = historyBody({ revision: 1, leader: { name: "a", leaseId: "1", modRevision: 1 }, members: [leader], corrupt: [] });
    assert.deepEqual(rows, [
      [1, 0x30000a0],
      [2, 0x5000000],
    ]);
    assert.equal(lsnText(0x1_0000_00a0), "1/A0");
    const text = historyText(historyJson(rows), 3);
    assert.match(text, /│ 1 +│ 50331808 +│ 0\/30000A0 │/);
    assert.match(text, /the leader is on timeline 3$/);
    assert.match(historyText([], 1), /no timeline change yet/);
    assert.deepEqual(historyBody(undefined), []);
  });

  it("topology: the leader first, every other member under it", () => {
    assert.deepEqual(
      topologyJson(view).map((n) => [n.member, n.upstream]),
      [
        ["a", null],
        ["b", "a"],
        ["c", "a"],
      ],
    );
  });
});

describe("hapg list / history / topology flags", () => {
  const refused = (flags: Parameters<typeof sourceFromFlags>[0], message: RegExp) =>
    assert.throws(
      () => sourceFromFlags(flags),
      (e: Error) => e instanceof FlagError && message.test(e.message),
    );

  it("refuses a missing, doubled or malformed source, naming the flag and what to give", () => {
    refused({}, /^say where the cluster is: --api URL/);
    refused({ api: "http://a:8008", etcd: "http://e:2379" }, /^--api and --etcd: give only one of them/);
    refused({ api: "a:8008" }, /^--api "a:8008": use an http:\/\/ or https:\/\/ URL/);
    refused({ api: "not a url" }, /^--api "not a url": not a URL/);
    refused({ etcd: "http://e:2379" }, /^--cluster: required with --etcd/);
    refused({ etcd: "http://e:2379", cluster: "x", key: "/etc/hostname" }, /^--cert: give --cert and --key together/);
    refused({ etcd: "http://e:2379", cluster: "x", cacert: "/nonexistent/ca.pem" }, /^--cacert \/nonexistent\/ca\.pem: no such file/);
    refused({ api: "http://a:8008", timeout: "0" }, /^--timeout "0": give the seconds/);
    refused({ dir: "/nonexistent-hapg-dir" }, /^--dir \/nonexistent-hapg-dir: no cluster.json there/);
    refused({ config: "/nonexistent/agent.json" }, /^--config \/nonexistent\/agent\.json: no such file: give the agent config of a node/);
    refused({ config: "/x.json", dir: "/y" }, /^--dir and --config: give only one of them/);
  });

  it("accepts a member's API URL with or without /patroni", () => {
    assert.equal(sourceFromFlags({ api: "http://10.0.1.10:8008/patroni" }).where, "--api http://10.0.1.10:8008/patroni");
  });
});
