/** Rows B1–B3 of docs/ha-states.md: a cluster bootstrapped from another cluster's backup. */
import assert from "node:assert/strict";
import { decide } from "../../sidecar/ha/decide";
import type { ClusterSnapshot } from "../../sidecar/dcs/types";
import type { HaInput } from "../../sidecar/ha/types";
import { member, NOW, selfOf, threeMembers } from "../helpers/ha-fixtures";
import { SimCluster } from "../helpers/sim-cluster";

function empty(me: string, cluster: ClusterSnapshot, restoreFromBackup = true): HaInput {
  return {
    now: NOW,
    self: { ...selfOf(me), restoreFromBackup },
    cluster,
    local: { dataDir: { initialized: false, standbySignal: false }, pg: { running: false }, process: "stopped" },
    memory: {},
    peers: [],
  };
}

const restoredLeader = member("a", "primary", 5432, { timeline: 2, history: [[1, 0x3000028]] });

describe("HA decision: bootstrap from a backup (rows B1–B3)", () => {
  it("B1: the member that wins the initialize race restores instead of running initdb", () => {
    const d = decide(empty("a", threeMembers({ initialize: undefined, leader: undefined, members: [] })));
    assert.deepEqual(d.actions, [{ type: "claimInitialize" }, { type: "bootstrap", fromBackup: true }, { type: "acquireLeader" }]);
    assert.match(d.reason, /restore it from the backup/);
  });

  it("U1 unchanged without fromBackup: initdb", () => {
    const d = decide(empty("a", threeMembers({ initialize: undefined, leader: undefined, members: [] }), false));
    assert.deepEqual(d.actions, [{ type: "claimInitialize" }, { type: "bootstrap" }, { type: "acquireLeader" }]);
  });

  it("B2: another member restores from the same backup and follows the leader's new timeline, copying nothing from the leader", () => {
    const d = decide(empty("b", threeMembers({ members: [restoredLeader] })));
    assert.deepEqual(d.actions, [
      { type: "restoreReplica", leader: "a", upstream: { host: "127.0.0.1", port: 5432 }, timeline: 2, history: [[1, 0x3000028]] },
      { type: "startReplica", leader: "a", upstream: { host: "127.0.0.1", port: 5432 } },
    ]);
    assert.ok(!d.actions.some((a) => a.type === "baseBackup"));
  });

  it("B3: waits while the leader has not published the timeline its restore forked onto", () => {
    const stillRestoring = member("a", "primary", 5432, { state: "restoring" });
    assert.deepEqual(decide(empty("b", threeMembers({ members: [stillRestoring] }))).actions, []);
    const noHistory = member("a", "primary", 5432);
    const d = decide(empty("b", threeMembers({ members: [noHistory] })));
    assert.deepEqual(d.actions, []);
    assert.match(d.reason, /has not finished its restore/);
  });

  it("U2 and U4 still apply: bootstrap in progress, or no leader yet", () => {
    assert.deepEqual(decide(empty("b", threeMembers({ initialize: "", leader: undefined, members: [] }))).actions, []);
    assert.deepEqual(decide(empty("b", threeMembers({ leader: undefined, members: [] }))).actions, []);
  });
});

describe("simulated cluster created from a backup (real driver and executor)", function () {
  this.timeout(60_000);
  it("one member restores and leads; the others restore from the backup and stream; nobody runs initdb or copies the leader", async () => {
    const sim = new SimCluster({ nodes: 3, restoreFromBackup: true });
    try {
      await sim.start();
      await sim.until(
        () => sim.primaries().length === 1 && sim.nodes.every((n) => n.pg.running && (n.pg.streaming || !n.pg.standby)),
        30_000,
      );
      const commands = sim.nodes.flatMap((n) => n.pg.commands);
      assert.equal(commands.filter((c) => c === "restore").length, 1);
      assert.equal(commands.filter((c) => c.startsWith("restoreReplica")).length, 2);
      assert.ok(!commands.some((c) => c === "bootstrap" || c.startsWith("baseBackup")), commands.join(", "));
      assert.deepEqual(sim.splitBrain, []);
    } finally {
      sim.stopAll();
    }
  });
});
