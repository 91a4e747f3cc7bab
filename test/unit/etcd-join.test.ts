/**
 * How an etcd member starts (sidecar/membership/join.ts): only initial members bootstrap, and only
 * when no cluster answers; every other member joins by member add; a lost volume is removed and
 * re-added; nothing changes while another member is unhealthy. Plus the node-init plan's day-2 fields.
 */
import assert from "node:assert/strict";
import { parseNodeInitPlan } from "../../sidecar/boot/node-init";
import { membershipEnv } from "../../sidecar/boot/etcd-join";
import type { EtcdMember } from "../../sidecar/membership/etcd-members";
import { joinDecision, type JoinInput } from "../../sidecar/membership/join";
import type { Topology } from "../../sidecar/topology/schema";

const host = (n: number) => ({ name: `etcd-${n}`, ip: `10.0.2.${n}`, revision: "r1" });
const topology: Topology = {
  version: 1,
  nodes: [{ name: "pg-0", ip: "10.0.1.1", revision: "r1" }],
  etcd: [1, 2, 3, 4].map(host),
  etcdInitialMembers: ["etcd-1", "etcd-2", "etcd-3"],
};
const peer = (h: { ip: string }) => `https://${h.ip}:2380`;
const m = (n: number, started = true): EtcdMember => ({
  id: `${n}00`,
  name: started ? `etcd-${n}` : "",
  peerUrls: [peer(host(n))],
  clientUrls: started ? [`https://${host(n).ip}:2379`] : [],
});
const healthy = (ms: EtcdMember[]) => Object.fromEntries(ms.map((x) => [x.id, true]));
const input = (self: number, o: Partial<JoinInput>): JoinInput => ({
  self: `etcd-${self}`,
  selfPeerUrl: peer(host(self)),
  dataDirEmpty: true,
  topology,
  peerUrlOf: peer,
  ...o,
});
const initial = "etcd-1=https://10.0.2.1:2380,etcd-2=https://10.0.2.2:2380,etcd-3=https://10.0.2.3:2380";

describe("etcd join decision", () => {
  const three = [m(1), m(2), m(3)];
  const cases: [string, JoinInput, Partial<ReturnType<typeof joinDecision>>][] = [
    [
      "data on disk: start on it",
      input(2, { dataDirEmpty: false, members: three, health: healthy(three) }),
      { action: "start", state: "existing" },
    ],
    ["initial member, nothing answers: bootstrap new", input(1, {}), { action: "start", state: "new", initialCluster: initial } as never],
    ["later member, nothing answers: wait", input(4, {}), { action: "wait" }],
    [
      "not listed, all healthy: add",
      input(4, { members: three, health: healthy(three) }),
      { action: "add", removeFirst: undefined } as never,
    ],
    [
      "listed as started, empty data dir: remove then add",
      input(3, { members: three, health: healthy(three) }),
      { action: "add", removeFirst: "300" } as never,
    ],
    ["another member unhealthy: wait", input(4, { members: three, health: { ...healthy(three), "200": false } }), { action: "wait" }],
    [
      "initial bootstrap in progress (listed, not started): join it as new",
      input(2, { members: [m(1), m(2, false), m(3, false)], health: { "100": false } }),
      { action: "start", state: "new", initialCluster: initial } as never,
    ],
    [
      "added earlier, not started: start existing with the list",
      input(4, { members: [...three, m(4, false)], health: healthy(three) }),
      { action: "start", state: "existing", initialCluster: `${initial},etcd-4=https://10.0.2.4:2380` } as never,
    ],
    [
      "not in the topology: wait",
      { ...input(4, { members: three }), self: "etcd-9", selfPeerUrl: "https://10.0.2.9:2380" },
      { action: "wait" },
    ],
  ];
  for (const [what, i, expected] of cases) {
    it(what, () => {
      const d = joinDecision(i);
      for (const [k, v] of Object.entries(expected)) assert.deepEqual((d as Record<string, unknown>)[k], v, `${k}: ${d.reason}`);
    });
  }

  it("the membership env file sets both variables etcd reads", () => {
    assert.equal(
      membershipEnv({ state: "existing", initialCluster: "a=https://x:2380" }).split("\n").slice(1, 3).join(";"),
      "ETCD_INITIAL_CLUSTER=a=https://x:2380;ETCD_INITIAL_CLUSTER_STATE=existing",
    );
  });
});

describe("node-init plan: day-2 fields", () => {
  const base = { version: 1, files: [] };
  it("accepts host, cluster, topology, etcd and refresh", () => {
    const p = parseNodeInitPlan({
      ...base,
      host: { name: "etcd-1", revision: "0123456789abcdef" },
      cluster: { name: "main" },
      topology: { ssmParameter: "/hapg/main/topology" },
      etcd: { name: "etcd-1", dataDir: "/srv/hapg/etcd", membershipEnvFile: "/etc/hapg/etcd-membership.env" },
      refresh: { reloadUnits: ["haproxy.service"] },
    });
    assert.equal(p.etcd?.scheme, "https");
    assert.equal(p.etcd?.peerPort, 2380);
    assert.equal(p.cluster?.namespace, "service");
  });
  const bad: [string, object, RegExp][] = [
    ["host without cluster", { host: { name: "pg-0", revision: "r" } }, /cluster: is required with host/],
    ["etcd without topology", { etcd: { name: "etcd-1", dataDir: "/d", membershipEnvFile: "/e" } }, /topology: is required with etcd/],
    ["a bad unit", { refresh: { reloadUnits: ["haproxy; rm -rf /"] } }, /refresh\.reloadUnits\.0: must be a unit name/],
  ];
  for (const [what, extra, message] of bad)
    it(`refuses ${what}`, () => assert.throws(() => parseNodeInitPlan({ ...base, ...extra }), message));
});
