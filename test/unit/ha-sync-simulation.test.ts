/**
 * Synchronous mode in the simulated cluster: a commit is acknowledged only once the synchronous
 * standby has it; that standby is recorded in etcd before PostgreSQL waits for it; only it may be
 * promoted; no acknowledged commit is lost by a failover. The invariants are checked after every
 * timer of the fake clock.
 */
import assert from "node:assert/strict";
import { NO_SYNC_STANDBY } from "../../sidecar/ha/sync";
import { SimCluster } from "../helpers/sim-cluster";

async function syncCluster(nodes: number, strict = false): Promise<SimCluster> {
  const sim = new SimCluster({ nodes, synchronousMode: strict ? "strict" : "on" });
  await sim.start();
  await sim.until(() => {
    const p = sim.primaries()[0];
    return (
      sim.primaries().length === 1 &&
      p.pg.syncStandbys.length === 1 &&
      p.pg.syncStandbys[0] !== NO_SYNC_STANDBY &&
      sim.nodes.every((n) => n.pg.running) &&
      sim.syncSettled()
    );
  }, 30_000);
  return sim;
}

/** Writes `n` commits on the primary; returns the highest acknowledged LSN. */
function writeAcked(sim: SimCluster, n: number): number {
  const p = sim.primaries()[0];
  let acked = 0;
  for (let i = 0; i < n; i++) if (p.pg.write(100)) acked = p.pg.lsn;
  return acked;
}

describe("simulated cluster in synchronous mode", function () {
  this.timeout(60_000);
  let sim: SimCluster | undefined;
  afterEach(() => sim?.stopAll());

  it("records the synchronous standby in etcd, and PostgreSQL waits only for a recorded one", async () => {
    sim = await syncCluster(3);
    const leader = sim.primaries()[0];
    const key = sim.syncKey();
    assert.equal(key?.leader, leader.name);
    assert.deepEqual(key?.standbys, leader.pg.syncStandbys);
    assert.deepEqual(sim.unrecordedSync, []);
  });

  it("after the leader dies, only the synchronous standby is promoted and every acknowledged commit survives", async () => {
    sim = await syncCluster(3);
    const leader = sim.primaries()[0];
    const syncName = leader.pg.syncStandbys[0];
    const asyncNode = sim.nodes.find((n) => n !== leader && n.name !== syncName)!;
    // The asynchronous replica falls behind (and would win on name order); the sync standby has everything acked.
    asyncNode.pg.isolated = true;
    const acked = writeAcked(sim, 50);
    assert.ok(acked > 0);
    sim.kill(leader.name);
    asyncNode.pg.isolated = false;
    await sim.until(() => sim!.primaries().length === 1, 15_000);
    const fresh = sim.primaries()[0];
    assert.equal(fresh.name, syncName, "the recorded synchronous standby took over");
    assert.ok(fresh.pg.lsn >= acked, `new primary at ${fresh.pg.lsn} has every acknowledged commit (${acked})`);
    assert.deepEqual(sim.splitBrain, []);
    assert.deepEqual(sim.unrecordedSync, []);
  });

  it("the new leader makes another standby synchronous, recording it first", async () => {
    sim = await syncCluster(3);
    const leader = sim.primaries()[0];
    sim.kill(leader.name);
    await sim.until(() => {
      const p = sim!.primaries()[0];
      return (
        p !== undefined && p.pg.syncStandbys.length === 1 && sim!.syncKey()?.leader === p.name && sim!.syncKey()!.standbys.length === 1
      );
    }, 20_000);
    assert.deepEqual(sim.unrecordedSync, []);
  });

  it("non-strict: without a standby, writes go on asynchronously and no replica may be promoted", async () => {
    sim = await syncCluster(2);
    const leader = sim.primaries()[0];
    const replica = sim.nodes.find((n) => n !== leader)!;
    replica.pg.isolated = true; // the standby stops streaming
    await sim.until(() => leader.pg.syncStandbys.length === 0, 10_000);
    assert.deepEqual(sim.syncKey()?.standbys, [], "the key was emptied");
    assert.ok(writeAcked(sim, 5) > 0, "commits are acknowledged asynchronously");
    sim.kill(leader.name);
    replica.pg.isolated = false;
    await sim.run(15_000);
    assert.equal(sim.primaries().length, 0, "the replica lacks acknowledged commits: it is not promoted");
    assert.equal(replica.pg.commands.includes("promote"), false);
    assert.deepEqual(sim.unrecordedSync, []);
  });

  it("strict: without a standby, commits block instead of going asynchronous", async () => {
    sim = await syncCluster(2, true);
    const leader = sim.primaries()[0];
    const replica = sim.nodes.find((n) => n !== leader)!;
    replica.pg.isolated = true;
    await sim.run(5000);
    assert.equal(writeAcked(sim, 5), 0, "no commit is acknowledged");
    assert.ok(leader.pg.syncStandbys.length > 0, "PostgreSQL still waits for a standby");
    replica.pg.isolated = false;
    await sim.run(3000);
    assert.ok(writeAcked(sim, 5) > 0, "commits flow again once the standby is back");
    assert.deepEqual(sim.unrecordedSync, []);
  });
});
