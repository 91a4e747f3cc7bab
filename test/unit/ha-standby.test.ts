/** Rows SB0–SB6 of docs/ha-states.md: a standby cluster (Patroni's standby_cluster), and its simulation. */
import assert from "node:assert/strict";
import type { ClusterSnapshot } from "../../sidecar/dcs/types";
import type { StandbyCluster } from "../../sidecar/contract/settings/standby";
import { decide } from "../../sidecar/ha/decide";
import type { HaInput } from "../../sidecar/ha/types";
import { member, NOW, selfOf, threeMembers } from "../helpers/ha-fixtures";
import { SimCluster } from "../helpers/sim-cluster";

const SOURCE = { host: "10.9.0.1", port: 6432 };
const STANDBY: StandbyCluster = { ...SOURCE, create_replica_methods: ["basebackup"] };
const ARCHIVE_ONLY: StandbyCluster = { port: 5432, restore_command: "get %f %p", create_replica_methods: ["basebackup"] };

/** b leads a standby cluster (its member key says standby_leader); a and c follow it. */
function standbyMembers(over: Partial<ClusterSnapshot> = {}): ClusterSnapshot {
  return threeMembers({
    leader: { name: "b", leaseId: "lease-b", modRevision: 5 },
    members: [member("a", "replica", 5432), member("b", "standby_leader", 5433), member("c", "replica", 5434)],
    ...over,
  });
}

type Pg = HaInput["local"]["pg"];
const REPLICA: Pg = { running: true, inRecovery: true, lsn: 1000, streaming: true, upstream: SOURCE };

function input(me: string, cluster: ClusterSnapshot, pg: Pg | "stopped" | "empty", o: Partial<HaInput> = {}): HaInput {
  const initialized = pg !== "empty";
  return {
    now: NOW,
    self: { ...selfOf(me), standbyCluster: STANDBY },
    cluster,
    local: {
      dataDir: { initialized, standbySignal: initialized, systemId: initialized ? "7000" : undefined },
      pg: typeof pg === "string" ? { running: false } : pg,
      process: typeof pg === "string" ? "stopped" : "running",
    },
    memory: { leaseId: `lease-${me}`, leaseRenewSentAt: NOW - 500 },
    peers: [],
    ...o,
  };
}

const types = (i: HaInput) => decide(i).actions.map((a) => a.type);

describe("HA decision: standby cluster (rows SB0–SB6)", () => {
  const rows: { row: string; input: HaInput; actions: unknown[]; role: string; reason: RegExp }[] = [
    {
      row: "SB1: the initialize race's winner copies the source instead of running initdb",
      input: input("a", threeMembers({ initialize: undefined, leader: undefined, members: [] }), "empty"),
      actions: [{ type: "claimInitialize" }, { type: "bootstrap", standby: SOURCE }, { type: "acquireLeader" }],
      role: "uninitialized",
      reason: /copy the source at 10\.9\.0\.1:6432/,
    },
    {
      row: "SB6: archive-only without a data directory: nothing to copy from",
      input: input("a", threeMembers({ initialize: undefined, leader: undefined, members: [] }), "empty", {
        self: { ...selfOf("a"), standbyCluster: ARCHIVE_ONLY },
      }),
      actions: [],
      role: "uninitialized",
      reason: /set host/,
    },
    {
      row: "U3 in a standby cluster: a new member copies the standby leader (cascading)",
      input: input("a", standbyMembers(), "empty"),
      actions: [
        { type: "baseBackup", leader: "b", upstream: { host: "127.0.0.1", port: 5433 } },
        { type: "startReplica", leader: "b", upstream: { host: "127.0.0.1", port: 5433 } },
      ],
      role: "uninitialized",
      reason: /base backup from leader b/,
    },
    {
      row: "SB2: stopped with the key: start in recovery following the source, never as a primary",
      input: input("b", standbyMembers(), "stopped"),
      actions: [{ type: "startReplica", leader: "the source cluster", upstream: SOURCE }],
      role: "standby_leader",
      reason: /standby leader: PostgreSQL is not running/,
    },
    {
      row: "SB3: the standby leader streaming from the source publishes its position and keeps slots for the others",
      input: input("b", standbyMembers(), REPLICA),
      actions: [
        { type: "publishOptime", lsn: 1000 },
        { type: "syncSlots", members: ["a", "c"] },
      ],
      role: "standby_leader",
      reason: /standby leader: streaming from 10\.9\.0\.1:6432/,
    },
    {
      row: "SB3: a standby leader pointed elsewhere (the source moved) follows the source by reload",
      input: input("b", standbyMembers(), { ...REPLICA, upstream: { host: "127.0.0.1", port: 5432 } }),
      actions: [
        { type: "followLeader", leader: "the source cluster", upstream: SOURCE },
        { type: "publishOptime", lsn: 1000 },
        { type: "syncSlots", members: ["a", "c"] },
      ],
      role: "standby_leader",
      reason: /standby leader/,
    },
    {
      row: "SB3: a key bound to an older lease (the agent restarted) is rebound first",
      input: input("b", standbyMembers({ leader: { name: "b", leaseId: "old", modRevision: 5 } }), REPLICA),
      actions: [{ type: "updateLeader" }, { type: "publishOptime", lsn: 1000 }, { type: "syncSlots", members: ["a", "c"] }],
      role: "standby_leader",
      reason: /standby leader/,
    },
    {
      row: "SB4: no leader: the healthiest replica takes the key and follows the source; no promotion",
      input: input("a", standbyMembers({ leader: undefined }), { ...REPLICA, upstream: { host: "127.0.0.1", port: 5433 } }),
      actions: [{ type: "acquireLeader" }, { type: "followLeader", leader: "the source cluster", upstream: SOURCE }],
      role: "standby_leader",
      reason: /taking the leader key and following 10\.9\.0\.1:6432 \(no promotion/,
    },
    {
      row: "SB5: the leader of a cluster turned into a standby cluster stops cleanly (its WAL reaches the other cluster), then follows it",
      input: input("b", standbyMembers(), { running: true, inRecovery: false, lsn: 1000 }),
      actions: [{ type: "stopForStandby" }],
      role: "standby_leader",
      reason: /became a standby cluster: stopping the primary cleanly/,
    },
    {
      row: "SB5: any other writable server in a standby cluster is stopped at once",
      input: input("a", standbyMembers(), { running: true, inRecovery: false, lsn: 1000 }),
      actions: [{ type: "demote" }],
      role: "replica",
      reason: /no member may run writable/,
    },
    {
      row: "R1 unchanged: a replica streaming from the standby leader stays",
      input: input("a", standbyMembers(), { ...REPLICA, upstream: { host: "127.0.0.1", port: 5433 } }),
      actions: [],
      role: "replica",
      reason: /streaming from leader b/,
    },
    {
      row: "R2 unchanged: a replica still on the source follows the new standby leader",
      input: input("a", standbyMembers(), REPLICA),
      actions: [{ type: "followLeader", leader: "b", upstream: { host: "127.0.0.1", port: 5433 } }],
      role: "replica",
      reason: /following leader b/,
    },
  ];
  for (const r of rows) {
    it(r.row, () => {
      const d = decide(r.input);
      assert.deepEqual(d.actions, r.actions);
      assert.equal(d.role, r.role);
      assert.match(d.reason, r.reason);
    });
  }

  it("SB4 in a synchronous mode: no sync key is needed (a standby cluster acknowledges no commit of its own)", () => {
    const i = input("a", standbyMembers({ leader: undefined }), REPLICA);
    i.self.synchronousMode = "quorum";
    assert.deepEqual(types(i), ["acquireLeader"]);
  });

  it("SB4 still elects the most advanced replica, and nobody while paused", () => {
    const behind = input("a", standbyMembers({ leader: undefined }), REPLICA, {
      peers: [{ name: "c", reachable: true, lsn: 2000, isPrimary: false }],
    });
    assert.deepEqual(types(behind), []);
    const paused = input("a", standbyMembers({ leader: undefined, config: { pause: true } }), REPLICA);
    assert.deepEqual(types(paused), []);
  });

  it("archive-only standby leader: follows with restore_command alone (no upstream)", () => {
    const i = input("b", standbyMembers(), { ...REPLICA, streaming: false });
    i.self.standbyCluster = ARCHIVE_ONLY;
    assert.deepEqual(decide(i).actions[0], { type: "followLeader", leader: "the source cluster", upstream: null });
    assert.match(decide(i).reason, /its archive/);
  });

  it("promotion: once standby_cluster is gone, the standby leader is a replica holding the key: row R3 promotes", () => {
    const i = input("b", standbyMembers(), REPLICA);
    delete i.self.standbyCluster;
    assert.deepEqual(types(i), ["promote"]);
  });
});

describe("simulated standby cluster (real driver and executor, fake clock)", function () {
  this.timeout(60_000);

  it("follows the source by cascade, fails over to a new standby leader, and promotes after the source is lost", async () => {
    const sim = new SimCluster({ nodes: 3, standbyCluster: STANDBY, synchronousMode: "quorum" });
    const source = sim.world.add("source", SOURCE);
    await source.bootstrap();
    try {
      await sim.start();
      const standbyLeader = () => sim.nodes.find((n) => n.name === sim.leaderName());
      const following = () => {
        const l = standbyLeader();
        if (!l?.pg.running || l.pg.upstream?.port !== SOURCE.port || !l.pg.streaming) return false;
        return sim.nodes.every((n) => n === l || (n.pg.running && n.pg.streaming && n.pg.upstream?.port === l.pg.address.port));
      };
      await sim.until(following, 30_000);
      assert.deepEqual(sim.primaries(), [], "no member of a standby cluster runs writable");
      source.write(5000);
      await sim.run(2000);
      assert.ok(
        sim.nodes.every((n) => n.pg.lsn === source.lsn),
        "the source's WAL reaches every member",
      );

      // Failover inside the standby cluster: a new standby leader, still following the source.
      const first = standbyLeader()!.name;
      sim.kill(first);
      await sim.until(() => sim.leaderName() !== undefined && sim.leaderName() !== first && standbyLeader()!.pg.streaming, 20_000);
      assert.equal(standbyLeader()!.pg.upstream?.port, SOURCE.port);
      assert.deepEqual(sim.primaries(), []);
      source.write(100);
      await sim.run(2000);
      assert.ok(sim.nodes.filter((n) => n.alive).every((n) => n.pg.lsn === source.lsn));

      // The source is lost; the cluster is promoted: its standby leader takes writes, the other follows it.
      source.crash();
      const lastSourceLsn = source.lsn;
      sim.promoteCluster();
      await sim.until(() => sim.primaries().length === 1, 10_000);
      const primary = sim.primaries()[0];
      assert.equal(primary.name, sim.leaderName());
      assert.equal(primary.pg.lsn, lastSourceLsn, "nothing the standby cluster had received is lost");
      const other = sim.nodes.find((n) => n.alive && n !== primary)!;
      await sim.until(() => other.pg.streaming && other.pg.upstream?.port === primary.pg.address.port, 10_000);
    } finally {
      sim.stopAll();
    }
  });
});
