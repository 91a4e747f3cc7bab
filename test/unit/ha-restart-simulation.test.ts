/**
 * A requested restart in the simulated cluster (the production driver, decision and owner over an
 * in-memory etcd and modelled PostgreSQL): the leader's PostgreSQL down for longer than its lease's
 * ttl is a restart, not a crash — it keeps the key and nobody promotes — and a leader whose lease
 * lapsed meanwhile does not come back as a primary.
 */
import assert from "node:assert/strict";
import { SimCluster } from "../helpers/sim-cluster";

async function healthy(): Promise<SimCluster> {
  const sim = new SimCluster({ nodes: 3, synchronousMode: "off" });
  await sim.start();
  await sim.until(() => sim.primaries().length === 1 && sim.nodes.every((n) => n.pg.running && (n.pg.streaming || !n.pg.standby)), 30_000);
  await sim.run(2000);
  return sim;
}

describe("simulated restart of the leader (row OP1)", function () {
  this.timeout(60_000);
  let sim: SimCluster | undefined;
  afterEach(() => sim?.stopAll());

  it("PostgreSQL down three times the ttl: the leader keeps its key, nobody promotes, it comes back as the primary", async () => {
    sim = await healthy();
    const leader = sim.primaries()[0];
    let release!: () => void;
    leader.pg.restartGate = new Promise<void>((r) => (release = r));
    const restarted = leader.owner.restart({ mayStartPrimary: () => leader.driver.mayRestartAsPrimary() });
    await sim.run(12_000);
    assert.equal(sim.leaderName(), leader.name, "the key stays with the restarting leader");
    assert.deepEqual(sim.primaries(), [], "its PostgreSQL is down, and no other member promoted");
    for (const n of sim.nodes.filter((x) => x !== leader)) assert.ok(!n.pg.commands.includes("promote"), n.pg.commands.join(", "));
    const key = JSON.parse(sim.etcd.peek(`/service/sim/members/${leader.name}`)!) as { state: string };
    assert.equal(key.state, "restarting", "the member key says what happens");
    assert.match(leader.driver.view().decision!.reason, /requested restart is in progress: keeping the leader key/);
    release();
    assert.equal(await restarted, "running");
    await sim.until(() => sim!.primaries().length === 1 && sim!.nodes.every((n) => n.pg.running), 10_000);
    assert.equal(sim.primaries()[0], leader);
    assert.ok(!leader.pg.commands.includes("startPrimary"), "the loop did not start it as after a crash");
    assert.deepEqual(sim.splitBrain, []);
  });

  it("a leader cut off from etcd during its restart does not come back writable; a replica takes over", async () => {
    sim = await healthy();
    const leader = sim.primaries()[0];
    let release!: () => void;
    leader.pg.restartGate = new Promise<void>((r) => (release = r));
    const restarted = leader.owner.restart({ mayStartPrimary: () => leader.driver.mayRestartAsPrimary() });
    leader.dcs.setReachable(false);
    await sim.until(() => sim!.leaderName() !== undefined && sim!.leaderName() !== leader.name, 20_000);
    release();
    assert.equal(await restarted, "stopped", "the lease had lapsed: it stays stopped");
    await leader.driver.restarted();
    assert.ok(!leader.pg.running);
    leader.dcs.setReachable(true);
    await sim.until(() => leader.pg.running && leader.pg.standby && leader.pg.streaming, 20_000);
    assert.deepEqual(sim.splitBrain, []);
  });
});
