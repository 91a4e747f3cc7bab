/**
 * The roll coordinator's decision (sidecar/roll/decide.ts), table-driven: one snapshot in, one action
 * out. Never more than one host down, replicas and etcd members first, the leader last by a
 * switchover, a step that overruns stalls the roll, removed hosts' keys and etcd members go.
 */
import assert from "node:assert/strict";
import type { ClusterSnapshot } from "../../sidecar/dcs/types";
import type { EtcdMember } from "../../sidecar/membership/etcd-members";
import { decideRoll, type RollInput } from "../../sidecar/roll/decide";
import type { RollState } from "../../sidecar/dcs/roll-state";
import type { Topology } from "../../sidecar/contract/topology";
import { member } from "../helpers/ha-fixtures";

const NOW = Date.parse("2026-12-08T01:00:00Z");
const streaming = { replication_state: "streaming" };
const host = (name: string, revision = "r2") => ({ name, ip: "10.0.0.1", revision });
const topology = (over: Partial<Topology> = {}): Topology => ({
  version: 1,
  nodes: [host("a"), host("b"), host("c")],
  etcd: [host("e1"), host("e2"), host("e3")],
  etcdInitialMembers: ["e1", "e2", "e3"],
  ...over,
});
const report = (revision: string, instanceId = `i-${revision}`) => ({ revision, instanceId, bootedAt: "2026-12-08T00:00:00Z" });
const reports = (revs: Record<string, string>) => Object.fromEntries(Object.entries(revs).map(([h, r]) => [h, report(r)]));
const allAt = (r: string) => reports({ a: r, b: r, c: r, e1: r, e2: r, e3: r });
const cluster = (over: Partial<ClusterSnapshot> = {}): ClusterSnapshot => ({
  revision: 10,
  initialize: "7000",
  leader: { name: "a", leaseId: "lease-a", modRevision: 5 },
  leaderOptime: 1000,
  members: [member("a", "primary", 5432), member("b", "replica", 5433, streaming), member("c", "replica", 5434, streaming)],
  corrupt: [],
  hosts: allAt("r2"),
  ...over,
});
const em = (name: string, id: string): EtcdMember => ({
  id,
  name,
  peerUrls: [`https://${name}:2380`],
  clientUrls: [`https://${name}:2379`],
});
const etcd = (names = ["e1", "e2", "e3"], sick: string[] = []) => {
  const members = names.map((n, i) => em(n, `${i + 1}`));
  return { members, health: Object.fromEntries(members.map((m) => [m.id, !sick.includes(m.name)])) };
};
const input = (over: Partial<RollInput> = {}): RollInput => ({
  now: NOW,
  self: "a",
  topology: topology(),
  cluster: cluster(),
  etcd: etcd(),
  rules: { synchronousMode: "off", maximumLagOnFailover: 1 << 20 },
  stepLimitMs: 600_000,
  healthyLagBytes: 1 << 20,
  rollEnabled: true,
  ...over,
});
const step = (over: Partial<RollState> = {}) => {
  const state: RollState = {
    host: "b",
    revision: "r2",
    fromInstance: "i-r1",
    since: new Date(NOW - 60_000).toISOString(),
    by: "a",
    ...over,
  };
  return { state, raw: JSON.stringify(state) };
};

describe("roll decision", () => {
  const cases: [string, RollInput, string, RegExp?][] = [
    ["every host at its revision: nothing to do", input(), "none", /every host runs its topology revision/],
    [
      "paused: nothing, even with stale hosts",
      input({ cluster: cluster({ hosts: allAt("r1"), config: { pause: true } }) }),
      "none",
      /paused/,
    ],
    [
      "stale etcd members go first",
      input({ cluster: cluster({ hosts: allAt("r1") }) }),
      "startStep",
      /e1 runs revision r1, the topology says r2/,
    ],
    [
      "then stale replicas, by name",
      input({ cluster: cluster({ hosts: { ...allAt("r2"), a: report("r1"), c: report("r1"), b: report("r1") } }) }),
      "startStep",
      /^b runs/,
    ],
    [
      "only the leader stale: switchover to a healthy replica",
      input({ cluster: cluster({ hosts: { ...allAt("r2"), a: report("r1") } }) }),
      "switchover",
      /only the leader \(a\) is stale: handing over to b/,
    ],
    [
      "only the leader stale, synchronous mode: to the synchronous standby only",
      input({
        rules: { synchronousMode: "on", maximumLagOnFailover: 1 << 20 },
        cluster: cluster({ hosts: { ...allAt("r2"), a: report("r1") }, sync: { leader: "a", standbys: ["c"], modRevision: 3 } }),
      }),
      "switchover",
      /handing over to c/,
    ],
    [
      "a replica not streaming: no step starts",
      input({
        cluster: cluster({
          hosts: allAt("r1"),
          members: [
            member("a", "primary", 1),
            member("b", "replica", 2, { replication_state: "catchup" }),
            member("c", "replica", 3, streaming),
          ],
        }),
      }),
      "none",
      /waiting before any roll step: b is not streaming/,
    ],
    [
      "a replica lagging: no step starts",
      input({ cluster: cluster({ hosts: allAt("r1"), leaderOptime: 1000 + (2 << 20) }) }),
      "none",
      /lags/,
    ],
    [
      "an etcd member unhealthy: no step starts",
      input({ cluster: cluster({ hosts: allAt("r1") }), etcd: etcd(undefined, ["e2"]) }),
      "none",
      /etcd member e2 is not healthy/,
    ],
    [
      "etcd's list unreadable: no step starts",
      input({ cluster: cluster({ hosts: allAt("r1") }), etcd: undefined }),
      "none",
      /cannot be read/,
    ],
    [
      "no replacer: stale hosts only reported",
      input({ rollEnabled: false, cluster: cluster({ hosts: allAt("r1") }) }),
      "none",
      /no replacer configured/,
    ],
    [
      "a step in progress, host not back yet: wait (never a second step)",
      input({ cluster: cluster({ hosts: { ...allAt("r1"), b: report("r1") }, roll: step() }) }),
      "none",
      /replacing b: b has not reported revision r2 from a new instance yet/,
    ],
    [
      "the host reported the revision from a new instance and streams: the step ends",
      input({ cluster: cluster({ hosts: { ...allAt("r1"), b: report("r2", "i-new") }, roll: step() }) }),
      "endStep",
    ],
    [
      "reported, not streaming yet: wait",
      input({
        cluster: cluster({
          hosts: { ...allAt("r1"), b: report("r2", "i-new") },
          roll: step(),
          members: [member("a", "primary", 1), member("c", "replica", 3, streaming)],
        }),
      }),
      "none",
      /b has no member key/,
    ],
    [
      "a step over its time limit: the roll stalls there",
      input({ cluster: cluster({ hosts: allAt("r1"), roll: step({ since: new Date(NOW - 700_000).toISOString() }) }) }),
      "stall",
      /b not replaced within 600 s/,
    ],
    [
      "a stalled roll stays stopped",
      input({ cluster: cluster({ hosts: allAt("r1"), roll: step({ stalled: "x" }) }) }),
      "none",
      /the roll stopped at b/,
    ],
    [
      "a new leader continues the step another leader started",
      input({
        self: "c",
        cluster: cluster({ leader: { name: "c", leaseId: "l", modRevision: 9 }, hosts: allAt("r1"), roll: step({ by: "a" }) }),
      }),
      "none",
      /replacing b/,
    ],
    [
      "a node removed from the topology: its keys are dropped",
      input({ topology: topology({ nodes: [host("a"), host("b")] }) }),
      "dropHostKeys",
      /c is no longer a node/,
    ],
    [
      "an etcd member removed from the topology: removed while the rest are healthy",
      input({
        topology: topology({ etcd: [host("e1"), host("e2")] }),
        cluster: cluster({ hosts: reports({ a: "r2", b: "r2", c: "r2", e1: "r2", e2: "r2" }) }),
      }),
      "removeEtcdMember",
      /etcd member e3 is no longer in the topology/,
    ],
    [
      "... but not while another member is unhealthy",
      input({
        topology: topology({ etcd: [host("e1"), host("e2")] }),
        cluster: cluster({ hosts: reports({ a: "r2", b: "r2", c: "r2", e1: "r2", e2: "r2" }) }),
        etcd: etcd(undefined, ["e1"]),
      }),
      "none",
      /but e1 not healthy/,
    ],
    [
      "a new etcd member not joined yet: no step starts",
      input({ topology: topology({ etcd: [host("e1"), host("e2"), host("e3"), host("e4")] }), cluster: cluster({ hosts: allAt("r1") }) }),
      "none",
      /etcd member e4 is not in etcd's member list/,
    ],
  ];
  for (const [what, i, type, reason] of cases) {
    it(what, () => {
      const a = decideRoll(i);
      assert.equal(a.type, type, a.reason);
      if (reason) assert.match(a.reason, reason);
    });
  }

  it("a started step records the host's current instance, the revision and the time", () => {
    const a = decideRoll(input({ cluster: cluster({ hosts: { ...allAt("r2"), c: report("r1", "i-old") } }) }));
    assert.equal(a.type, "startStep");
    if (a.type === "startStep")
      assert.deepEqual(a.step, { host: "c", revision: "r2", fromInstance: "i-old", since: new Date(NOW).toISOString(), by: "a" });
  });
});

describe("the roll step where operators look", () => {
  it("GET /cluster carries the roll key and `hapg list` says a stalled roll stopped", async () => {
    const { clusterBody } = await import("../../sidecar/api/health");
    const { listJson, listText } = await import("../../sidecar/cli/ops-render");
    const body = clusterBody("main", cluster({ roll: step({ stalled: "b not replaced within 600 s" }) }));
    assert.equal(body.roll?.host, "b");
    const text = listText(listJson(body as never, {}));
    assert.match(text, /Roll: STOPPED at b: b not replaced within 600 s/);
    assert.doesNotMatch(listText(listJson(clusterBody("main", cluster()) as never, {})), /Roll:/);
  });
});
