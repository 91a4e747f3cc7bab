/**
 * The watchdog in the simulated cluster: the production driver, decision and `Watchdog` writing to
 * stand-in devices, with a model of the kernel's countdown (test/helpers/sim-watchdog.ts). The
 * split-brain invariant is checked after every timer, as in the other simulations.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { SimCluster, SimOptions } from "../helpers/sim-cluster";

describe("simulated cluster with a watchdog", function () {
  this.timeout(60_000);
  let sim: SimCluster | undefined;
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "hapg-simwd-"))));
  afterEach(() => {
    sim?.stopAll();
    sim = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function bootstrapped(opts: Partial<SimOptions> = {}): Promise<SimCluster> {
    const s = new SimCluster({ nodes: 3, watchdog: { mode: "automatic", dir }, ...opts });
    await s.start();
    await s.until(
      () => s.primaries().length === 1 && s.nodes.every((n) => n.pg.running && (n.pg.streaming || !n.pg.standby)) && s.syncSettled(),
      30_000,
    );
    return s;
  }

  it("only the leader arms its watchdog, and pets it on every lease renewal", async () => {
    sim = await bootstrapped();
    const leader = sim.primaries()[0];
    const before = leader.watchdog!.writes().length;
    await sim.run(5000);
    const pets = leader.watchdog!.writes().length - before;
    // Renewals every min(loopWait, ttl/4) = 1 s, each followed by one pet.
    assert.ok(pets >= 4 && pets <= 6, `${pets} pets in 5 s`);
    assert.match(leader.watchdog!.writes(), /^1+$/, "armed and never closed");
    assert.equal(leader.watchdog!.control.view().armed, true);
    for (const n of sim.nodes.filter((x) => x !== leader)) assert.equal(n.watchdog!.writes(), "", `${n.name} never armed`);
    assert.equal(leader.watchdog!.resetAt, undefined);
  });

  it("a frozen leader is reset by its watchdog before a replica can take the key: no two writable primaries", async () => {
    sim = await bootstrapped();
    const old = sim.primaries()[0];
    sim.freeze(old.name);
    let newLeaderAt: number | undefined;
    const t0 = sim.clock.now();
    while (newLeaderAt === undefined && sim.clock.now() - t0 < 15_000) {
      await sim.run(50);
      const leader = sim.leaderName();
      if (leader && leader !== old.name) newLeaderAt = sim.clock.now();
    }
    const resetAt = old.watchdog!.resetAt;
    assert.ok(resetAt !== undefined, "the kernel reset the frozen leader's machine");
    assert.ok(newLeaderAt !== undefined, "another member took over");
    assert.ok(resetAt < newLeaderAt, `reset at ${resetAt}, new leader at ${newLeaderAt}`);
    assert.deepEqual(sim.splitBrain, []);
  });

  it("without a watchdog the same freeze leaves two writable primaries (what the watchdog is for)", async () => {
    sim = await bootstrapped({ watchdog: undefined });
    const old = sim.primaries()[0];
    sim.freeze(old.name);
    await sim.until(() => sim!.leaderName() !== undefined && sim!.leaderName() !== old.name && sim!.primaries().length === 2, 15_000, 50);
    assert.ok(sim.splitBrain.length > 0);
  });

  it("a live leader cut off from etcd fences itself and disarms before its watchdog fires: no reset", async () => {
    sim = await bootstrapped({ failsafeMode: false }); // the lease alone (failsafe mode: ha-failsafe-simulation.test.ts)
    const old = sim.primaries()[0];
    old.dcs.setReachable(false);
    await sim.until(() => !old.pg.running, 10_000, 10);
    await sim.run(10_000);
    assert.match(old.watchdog!.writes(), /^1+V$/, "petted, then closed with the magic character");
    assert.equal(old.watchdog!.resetAt, undefined, "never reset");
    assert.notEqual(sim.leaderName(), old.name);
    assert.deepEqual(sim.splitBrain, []);
  });

  it("graceful shutdown of the leader stops PostgreSQL, then disarms", async () => {
    sim = await bootstrapped();
    const leader = sim.primaries()[0];
    await leader.driver.shutdown();
    leader.alive = false;
    assert.match(leader.watchdog!.writes(), /^1+V$/);
    await sim.run(5000);
    assert.equal(leader.watchdog!.resetAt, undefined);
  });

  it("mode required: a member whose watchdog cannot be armed never leads, and does not block the others", async () => {
    // Asynchronous: in synchronous mode the isolated member below could never be promoted (it lacks
    // acknowledged commits), and blocking the failover would be right.
    sim = await bootstrapped({ synchronousMode: "off", watchdog: { mode: "required", dir, unusable: ["node1"] } });
    const node1 = sim.node("node1");
    assert.notEqual(sim.leaderName(), "node1");
    assert.equal(node1.watchdog!.control.view().usable, false);
    // node1 is the most advanced replica when the leader dies: it still must not take over, nor stall the failover.
    const leader = sim.primaries()[0];
    const other = sim.nodes.find((n) => n !== leader && n !== node1)!;
    leader.pg.write(5000);
    await sim.run(200);
    other.pg.isolated = true;
    leader.pg.write(300);
    await sim.run(200);
    sim.kill(leader.name);
    other.pg.isolated = false;
    await sim.until(() => sim!.primaries().length === 1, 10_000);
    assert.equal(sim.primaries()[0], other, "the member with a working watchdog took over");
    assert.equal(node1.pg.commands.includes("promote"), false);
    assert.deepEqual(sim.splitBrain, []);
  });
});
