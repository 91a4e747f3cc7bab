/**
 * The production HaDriver + decide in a simulated cluster (in-memory etcd, modelled PostgreSQL,
 * fake clock): bootstrap, failover, fencing under an etcd partition, lag and nofailover rules.
 * Deterministic and fast; the split-brain invariant is checked after every timer.
 */
import assert from "node:assert/strict";
import { SimCluster } from "../helpers/sim-cluster";

async function bootstrapped(opts: ConstructorParameters<typeof SimCluster>[0]): Promise<SimCluster> {
  const sim = new SimCluster(opts);
  await sim.start();
  await sim.until(
    () => sim.primaries().length === 1 && sim.nodes.every((n) => n.pg.running && (n.pg.streaming || !n.pg.standby)) && sim.syncSettled(),
    30_000,
  );
  return sim;
}

/** Runs until another member holds the leader key (max 15 fake s); when the cut-off leader stopped PostgreSQL and when another took over. */
async function fenceAndTakeover(sim: SimCluster, oldName: string): Promise<{ t0: number; fencedAt?: number; newLeaderAt?: number }> {
  const old = sim.node(oldName);
  let fencedAt: number | undefined;
  let newLeaderAt: number | undefined;
  const t0 = sim.clock.now();
  while (sim.clock.now() - t0 < 15_000 && newLeaderAt === undefined) {
    await sim.run(50);
    if (fencedAt === undefined && !old.pg.running) fencedAt = sim.clock.now();
    const leader = sim.leaderName();
    if (leader && leader !== oldName) newLeaderAt = sim.clock.now();
  }
  return { t0, fencedAt, newLeaderAt };
}

describe("simulated cluster (fake etcd, fake clock)", function () {
  this.timeout(60_000);
  let sim: SimCluster | undefined;
  afterEach(() => sim?.stopAll());

  it("bootstraps exactly one primary; the others take a base backup and stream from it", async () => {
    sim = await bootstrapped({ nodes: 3 });
    const [primary] = sim.primaries();
    assert.equal(sim.leaderName(), primary.name);
    const bootstraps = sim.nodes.filter((n) => n.pg.commands.includes("bootstrap"));
    assert.equal(bootstraps.length, 1, "only the initialize winner runs initdb");
    for (const n of sim.nodes.filter((x) => x !== primary)) {
      assert.ok(
        n.pg.commands.some((c) => c.startsWith("baseBackup")),
        `${n.name} took a base backup`,
      );
      assert.equal(n.pg.upstream?.port, primary.pg.address.port);
      assert.equal(n.pg.systemId, primary.pg.systemId);
    }
    assert.deepEqual(sim.splitBrain, []);
  });

  it("after the leader is killed, the most advanced replica takes over within ttl + a loop, and the others follow it", async () => {
    sim = await bootstrapped({ nodes: 3 });
    const old = sim.primaries()[0];
    old.pg.write(5000);
    await sim.run(200);
    const [a, b] = sim.nodes.filter((n) => n !== old);
    b.pg.isolated = true; // b stops receiving WAL just before the crash: a is further ahead
    old.pg.write(300);
    await sim.run(200);
    sim.kill(old.name);
    b.pg.isolated = false;
    const took = await sim.until(() => sim!.primaries().length === 1, 10_000);
    const [fresh] = sim.primaries();
    assert.equal(fresh.name, a.name, "the replica with the highest LSN wins");
    assert.ok(took <= 4000 + 1000, `failover took ${took} fake ms (ttl 4 s + one loop at most)`);
    await sim.until(() => b.pg.streaming && b.pg.upstream?.port === fresh.pg.address.port, 5000);
    assert.ok(fresh.pg.timeline > old.pg.timeline, "promotion starts a new timeline");
    assert.deepEqual(sim.splitBrain, []);
    // What /metrics reports: each survivor saw the leader change once, and nobody fenced.
    for (const n of [a, b])
      assert.deepEqual([n.driver.activity.summary().leaderChanges, n.driver.activity.summary().fences], [1, 0], n.name);
  });

  it("a leader cut off from etcd fences itself before its lease can expire; a replica takes over after it", async () => {
    sim = await bootstrapped({ nodes: 3, failsafeMode: false }); // the lease alone (failsafe mode: ha-failsafe-simulation.test.ts)
    const old = sim.primaries()[0];
    old.dcs.setReachable(false);
    const { fencedAt, newLeaderAt } = await fenceAndTakeover(sim, old.name);
    assert.ok(fencedAt !== undefined, "the cut-off leader stopped PostgreSQL");
    assert.ok(newLeaderAt !== undefined, "another member took the leader key");
    assert.ok(fencedAt! < newLeaderAt!, `fenced at ${fencedAt} before the new leader at ${newLeaderAt}`);
    assert.deepEqual(sim.splitBrain, []);
    // What /metrics reports: one fence event, and the renewals that failed meanwhile.
    assert.equal(old.driver.activity.summary().fences, 1);
    assert.ok(old.driver.view().lease.failures > 0, "failed renewals are counted");
    // Healed: the old leader rewinds and follows the new one.
    old.dcs.setReachable(true);
    const fresh = sim.node(sim.leaderName()!);
    await sim.until(() => old.pg.running && old.pg.standby && old.pg.streaming && old.pg.upstream?.port === fresh.pg.address.port, 10_000);
    assert.ok(
      old.pg.commands.some((c) => c.startsWith("rewind")),
      "the former primary was rewound before following",
    );
    assert.deepEqual(sim.splitBrain, []);
    assert.equal(old.driver.activity.summary().leaderChanges, 1, "the old leader saw the key go to the new one");
    assert.equal(old.driver.activity.summary().fences, 1, "a fenced leader is counted once, not on every loop after");
  });

  it("a leader behind a silent partition (etcd calls hang until the client's timeout, timers fire a hair early) fences before its lease can expire", async () => {
    // Found by the namespace partition test: a fence timer that fired 0.04 ms early found the lease
    // still valid, did nothing, and the next loop was stuck on etcd for seconds.
    sim = await bootstrapped({ nodes: 3, failsafeMode: false });
    sim.clock.earlyMs = 0.5;
    await sim.run(1000); // the fence timer is re-armed (early) by the renewals of this second
    const old = sim.primaries()[0];
    old.dcs.setReachable(false, { hangMs: 10_000 }); // longer than ttl: only the fence timer can act in time
    const { t0, fencedAt, newLeaderAt } = await fenceAndTakeover(sim, old.name);
    assert.ok(fencedAt !== undefined && newLeaderAt !== undefined, `fenced at ${fencedAt}, new leader at ${newLeaderAt}`);
    // The last renewal was sent before the cut: the fence is due by then + ttl − margin (3 s); 50 ms is the polling step.
    assert.ok(
      fencedAt - t0 <= 3000 + 50,
      `fenced ${fencedAt - t0} fake ms after the cut: the fence is due ttl − margin (3 s) after the last renewal`,
    );
    assert.ok(fencedAt < newLeaderAt, `fenced at ${fencedAt} before the new leader at ${newLeaderAt}`);
    assert.deepEqual(sim.splitBrain, []);
  });

  it("a replica cut off from etcd never promotes, even when the leader key expires", async () => {
    sim = await bootstrapped({ nodes: 2 });
    const replica = sim.nodes.find((n) => n.pg.standby)!;
    const leader = sim.primaries()[0];
    replica.dcs.setReachable(false);
    sim.kill(leader.name);
    await sim.run(15_000);
    assert.equal(sim.primaries().length, 0, "no promotion without winning the leader key");
    assert.equal(replica.pg.commands.includes("promote"), false);
  });

  it("a replica further behind than maximumLagOnFailover is never promoted", async () => {
    sim = await bootstrapped({ nodes: 2, maximumLagOnFailover: 1000 });
    const leader = sim.primaries()[0];
    const replica = sim.nodes.find((n) => n !== leader)!;
    replica.pg.isolated = true;
    leader.pg.write(50_000);
    await sim.run(2000); // the leader publishes its position
    sim.kill(leader.name);
    replica.pg.isolated = false;
    await sim.run(15_000);
    assert.equal(sim.primaries().length, 0);
    assert.equal(replica.pg.commands.includes("promote"), false);
  });

  it("a member tagged nofailover is never promoted", async () => {
    sim = await bootstrapped({ nodes: 2, nofailover: ["node2"] });
    const leader = sim.primaries()[0];
    assert.equal(leader.name, "node1");
    sim.kill("node1");
    await sim.run(15_000);
    assert.equal(sim.primaries().length, 0);
  });

  it("a crashed leader PostgreSQL is restarted in place while the lease is held", async () => {
    sim = await bootstrapped({ nodes: 3 });
    const leader = sim.primaries()[0];
    leader.pg.crash();
    const took = await sim.until(() => leader.pg.running && !leader.pg.standby, 5000, 10);
    assert.ok(took < 500, `restarted after ${took} fake ms (the exit event wakes the loop)`);
    assert.equal(sim.leaderName(), leader.name);
    assert.deepEqual(sim.splitBrain, []);
  });

  it("graceful shutdown of the leader hands over at once, not after ttl", async () => {
    sim = await bootstrapped({ nodes: 3 });
    // Agents that started less than ttl ago do not race (a failsafe promise of their previous run may bind them).
    await sim.run(4000);
    const leader = sim.primaries()[0];
    const t0 = sim.clock.now();
    await leader.driver.shutdown();
    leader.alive = false;
    const took = await sim.until(() => sim!.primaries().length === 1, 5000, 10);
    assert.ok(took < 1000, `handed over after ${took} fake ms`);
    assert.notEqual(sim.leaderName(), leader.name);
    assert.ok(sim.clock.now() - t0 < 4000);
  });
});
