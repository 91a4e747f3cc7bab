/** Row OP1 of docs/ha-states.md: an operator's restart or reinitialize in progress, and the rows that still come first. */
import assert from "node:assert/strict";
import { decide } from "../../sidecar/ha/decide";
import { memberData } from "../../sidecar/ha/member";
import type { ClusterSnapshot } from "../../sidecar/dcs/types";
import type { HaInput, LocalState } from "../../sidecar/ha/types";
import { NOW, selfOf, threeMembers } from "../helpers/ha-fixtures";

const stopped = (standbySignal: boolean): LocalState["dataDir"] => ({
  initialized: true,
  systemId: "7000",
  clusterState: standbySignal ? "shut down in recovery" : "shut down",
  standbySignal,
  timeline: 1,
});

function input(me: string, local: Partial<LocalState>, cluster: ClusterSnapshot | undefined, renewedAgo = 500): HaInput {
  return {
    now: NOW,
    self: selfOf(me),
    cluster,
    local: { dataDir: stopped(me !== "a"), pg: { running: false }, process: "stopped", ...local },
    memory: { leaseId: `lease-${me}`, leaseRenewSentAt: NOW - renewedAgo },
    peers: [],
  };
}

describe("HA decision while an operator's command runs (row OP1)", () => {
  const cases: [string, HaInput, string[], RegExp][] = [
    [
      "OP1 the leader's PostgreSQL is down for a requested restart: no startPrimary, the key is kept",
      input("a", { process: "restarting", operation: "restart" }, threeMembers()),
      [],
      /requested restart is in progress: keeping the leader key under the renewed lease; no failover/,
    ],
    [
      "S1 without a request, the same leader is restarted as after a crash",
      input("a", {}, threeMembers()),
      ["startPrimary"],
      /restarting it in place \(crash recovery\)/,
    ],
    [
      "OP1 a replica's requested restart: no startReplica meanwhile",
      input("b", { process: "restarting", operation: "restart" }, threeMembers()),
      [],
      /requested restart is in progress: leaving PostgreSQL to it/,
    ],
    [
      "OP1 a reinitialize emptied the data directory: no second base backup from the loop",
      input(
        "b",
        { dataDir: { initialized: false, standbySignal: false }, process: "creating replica", operation: "reinitialize" },
        threeMembers(),
      ),
      [],
      /requested reinitialize \(base backup from the leader\) is in progress/,
    ],
    [
      "F1 comes first: a primary still running when its lease may expire is fenced, restart or not",
      input(
        "a",
        { dataDir: stopped(false), pg: { running: true, inRecovery: false, lsn: 1000 }, process: "restarting", operation: "restart" },
        threeMembers(),
        3500,
      ),
      ["fence"],
      /stopping PostgreSQL so no write is accepted without the lease/,
    ],
    [
      "F4 etcd unreachable during a restart: nothing (the restart itself asks the lease before starting a primary)",
      input("a", { process: "restarting", operation: "restart" }, undefined),
      [],
      /etcd unreachable/,
    ],
  ];
  for (const [name, i, actions, reason] of cases) {
    it(name, () => {
      const d = decide(i);
      assert.deepEqual(
        d.actions.map((a) => a.type),
        actions,
      );
      assert.match(d.reason, reason);
    });
  }
});

describe("member key: pending_restart", () => {
  const id = {
    pgConnect: { host: "10.0.1.5", port: 5432 },
    apiConnect: { host: "10.0.1.5", port: 8008 },
    tags: { nofailover: false, noloadbalance: false, failoverPriority: 1 },
  };
  const local = (pendingRestart: boolean, running = true): LocalState => ({
    dataDir: stopped(true),
    pg: running ? { running: true, inRecovery: true, pendingRestart } : { running: false },
    process: running ? "running" : "restarting",
  });

  it("carries pending_restart: true (Patroni's field) only while PostgreSQL reports one", () => {
    assert.equal(memberData(id, local(true)).pending_restart, true);
    assert.equal("pending_restart" in memberData(id, local(false)), false);
    assert.equal("pending_restart" in memberData(id, local(true, false)), false);
  });

  it("publishes the state of a restart in progress", () => {
    assert.equal(memberData(id, local(false, false)).state, "restarting");
  });
});
