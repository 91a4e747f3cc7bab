/**
 * Planned switchover and manual failover in the simulated cluster (the production driver, decision
 * and executor over an in-memory etcd and modelled PostgreSQL): the candidate takes over, no
 * acknowledged commit is lost, never two primaries, and the old leader follows the new timeline
 * without pg_rewind or a base backup.
 */
import assert from "node:assert/strict";
import { NO_SYNC_STANDBY } from "../../sidecar/ha/sync";
import { SimCluster } from "../helpers/sim-cluster";
import type { SynchronousMode } from "../../sidecar/contract/settings/schema";

async function healthy(synchronousMode: SynchronousMode): Promise<SimCluster> {
  const sim = new SimCluster({ nodes: 3, synchronousMode });
  await sim.start();
  await sim.until(() => {
    const p = sim.primaries()[0];
    const syncReady = synchronousMode === "off" || (p?.pg.syncStandbys.length === 1 && p.pg.syncStandbys[0] !== NO_SYNC_STANDBY);
    return sim.primaries().length === 1 && syncReady && sim.nodes.every((n) => n.pg.running && (n === p || n.pg.streaming));
  }, 30_000);
  await sim.run(2000); // member keys published with their positions
  return sim;
}

function writeAcked(sim: SimCluster, n: number): number {
  const p = sim.primaries()[0];
  let acked = 0;
  for (let i = 0; i < n; i++) if (p.pg.write(100)) acked = p.pg.lsn;
  return acked;
}

for (const mode of ["off", "on"] as const) {
  describe(`simulated switchover (synchronousMode ${mode})`, function () {
    this.timeout(60_000);
    let sim: SimCluster | undefined;
    afterEach(() => sim?.stopAll());

    it("hands over to the candidate: no acknowledged commit lost, the old leader follows without a rewind", async () => {
      sim = await healthy(mode);
      const old = sim.primaries()[0];
      const candidate = mode === "on" ? sim.syncKey()!.standbys[0] : sim.nodes.find((n) => n !== old)!.name;
      const acked = writeAcked(sim, 20);
      const created = await old.dcs.attemptCreateFailover({ leader: old.name, member: candidate });
      assert.equal(created, true);
      await sim.until(() => sim!.leaderName() === candidate && sim!.primaries().length === 1, 15_000);
      const fresh = sim.node(candidate);
      assert.ok(fresh.pg.lsn >= acked, "the new primary has every acknowledged commit");
      await sim.until(() => old.pg.running && old.pg.standby && old.pg.streaming, 15_000);
      assert.equal(old.pg.timeline, fresh.pg.timeline);
      assert.ok(!old.pg.commands.some((c) => c.startsWith("rewind") || c.startsWith("baseBackup")), old.pg.commands.join(", "));
      assert.ok(!old.pg.commands.includes("startReplica -"), old.pg.commands.join(", "));
      assert.equal(sim.etcd.peek("/service/sim/failover"), undefined, "the request is cleared once handled");
      assert.deepEqual(sim.splitBrain, []);
    });
  });
}

describe("simulated switchover refusals and manual failover", function () {
  this.timeout(60_000);
  let sim: SimCluster | undefined;
  afterEach(() => sim?.stopAll());

  it("a switchover without a candidate: the leader picks one, names it, and follows it without a rewind", async () => {
    sim = await healthy("off");
    const old = sim.primaries()[0];
    await old.dcs.attemptCreateFailover({ leader: old.name });
    await sim.until(() => sim!.leaderName() !== undefined && sim!.leaderName() !== old.name && sim!.primaries().length === 1, 15_000);
    await sim.until(() => old.pg.running && old.pg.standby && old.pg.streaming, 15_000);
    await sim.run(3000);
    assert.ok(!old.pg.commands.some((c) => c.startsWith("rewind") || c.startsWith("baseBackup")), old.pg.commands.join(", "));
    // It waited for the candidate it handed over to: a read-only start without a leader would mark it
    // a former primary to be rewound (what a real cluster did before the leader named its pick).
    assert.ok(!old.pg.commands.includes("startReplica -"), old.pg.commands.join(", "));
    assert.ok(old.pg.running && old.pg.standby && old.pg.streaming, "still streaming, never demoted");
    assert.deepEqual(sim.splitBrain, []);
  });

  it("a second request while one is pending loses the create-if-absent race", async () => {
    sim = await healthy("off");
    const [a, b] = sim.nodes;
    const results = await Promise.all([
      a.dcs.attemptCreateFailover({ member: "node2", scheduled_at: "2999-01-01T00:00:00Z" }),
      b.dcs.attemptCreateFailover({ member: "node3", scheduled_at: "2999-01-01T00:00:00Z" }),
    ]);
    assert.deepEqual(results.filter(Boolean).length, 1);
  });

  it("a scheduled switchover waits for its time (the leader stays)", async () => {
    sim = await healthy("off");
    const old = sim.primaries()[0];
    await old.dcs.attemptCreateFailover({
      leader: old.name,
      member: sim.nodes.find((n) => n !== old)!.name,
      scheduled_at: "2999-01-01T00:00:00Z",
    });
    await sim.run(5000);
    assert.equal(sim.leaderName(), old.name);
    assert.ok(old.pg.running && !old.pg.standby);
  });

  it("manual failover without a leader promotes the named member, not the most advanced", async () => {
    sim = await healthy("off");
    const old = sim.primaries()[0];
    const [first, second] = sim.nodes.filter((n) => n !== old);
    // second is the one named; first would win the election on name order at equal positions.
    sim.kill(old.name);
    await old.dcs.attemptCreateFailover({ member: second.name });
    await sim.until(() => sim!.primaries().length === 1, 15_000);
    assert.equal(sim.primaries()[0].name, second.name);
    assert.notEqual(sim.primaries()[0].name, first.name);
    assert.deepEqual(sim.splitBrain, []);
  });

  it("a candidate that never receives the shutdown checkpoint: the hand-over is abandoned, the leader takes writes again", async () => {
    sim = await healthy("off");
    const old = sim.primaries()[0];
    const candidate = sim.nodes.find((n) => n !== old)!;
    candidate.pg.isolated = true; // cut off from replication (and its API) just before the request
    const acked = writeAcked(sim, 5);
    await old.dcs.attemptCreateFailover({ leader: old.name, member: candidate.name });
    await sim.run(10_000);
    assert.equal(sim.leaderName(), old.name);
    assert.ok(old.pg.running && !old.pg.standby, "the old leader runs as primary again");
    assert.ok(old.pg.lsn >= acked);
    assert.equal(sim.etcd.peek("/service/sim/failover"), undefined, "the request is dropped");
    assert.deepEqual(sim.splitBrain, []);
  });

  it("a candidate whose agent stops during the hand-over: abandoned as soon as its member key is gone, not after ttl", async () => {
    sim = await healthy("off");
    const old = sim.primaries()[0];
    const candidate = sim.nodes.find((n) => n !== old)!;
    candidate.pg.isolated = true; // it will not receive the shutdown checkpoint
    await old.dcs.attemptCreateFailover({ leader: old.name, member: candidate.name });
    await sim.until(() => !old.pg.running, 5000); // the hand-over began: PostgreSQL stopped at its checkpoint
    const stopped = candidate.driver.shutdown(); // SIGTERM of the candidate's agent (every agent stopped at once)
    const ms = await sim.until(() => old.pg.running && !old.pg.standby, 10_000);
    await stopped;
    // ttl is 4 s: the leader waited only until the candidate's stop revoked its lease.
    assert.ok(ms < 2500, `the leader wrote again ${ms} ms after the hand-over began`);
    assert.equal(sim.leaderName(), old.name);
    assert.equal(sim.etcd.peek("/service/sim/failover"), undefined, "the request is dropped");
    assert.deepEqual(sim.splitBrain, []);
  });

  it("a candidate whose agent is stopping slowly: abandoned as soon as its member key says so, not after ttl", async () => {
    sim = await healthy("off");
    const old = sim.primaries()[0];
    const candidate = sim.nodes.find((n) => n !== old)!;
    candidate.pg.isolated = true;
    let release!: () => void;
    candidate.pg.stopGate = new Promise<void>((r) => (release = r)); // its PostgreSQL takes long to stop: its lease stays
    await old.dcs.attemptCreateFailover({ leader: old.name, member: candidate.name });
    await sim.until(() => !old.pg.running, 5000);
    const stopped = candidate.driver.shutdown();
    const ms = await sim.until(() => old.pg.running && !old.pg.standby, 10_000);
    assert.ok(ms < 2500, `the leader wrote again ${ms} ms after the hand-over began`);
    assert.equal(sim.node(candidate.name).pg.running, true, "the candidate's PostgreSQL was still stopping");
    release();
    await stopped;
    assert.deepEqual(sim.splitBrain, []);
  });

  it("a request naming a member that cannot take over is dropped by the leader, which stays", async () => {
    sim = await healthy("off");
    const old = sim.primaries()[0];
    await old.dcs.attemptCreateFailover({ leader: old.name, member: "nobody" });
    await sim.run(3000);
    assert.equal(sim.leaderName(), old.name);
    assert.equal(sim.etcd.peek("/service/sim/failover"), undefined);
    assert.ok(old.pg.running && !old.pg.standby);
  });
});
