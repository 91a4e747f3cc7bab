/**
 * Failsafe mode in the simulated cluster (production driver, decision and FailsafeKeeper; in-memory
 * etcd; fake clock): etcd outages, a leader cut from etcd alone, cuts between the leader's and the
 * replicas' APIs, and seeded random interleavings of all of them. The split-brain invariant (never
 * two writable primaries) is checked after every timer.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { SimCluster, SimNode, SimOptions } from "../helpers/sim-cluster";
import { seededRandom } from "../helpers/seeded-random";

async function bootstrapped(opts: Partial<SimOptions> = {}): Promise<SimCluster> {
  const sim = new SimCluster({ nodes: 3, ...opts });
  await sim.start();
  await sim.until(() => sim.primaries().length === 1 && sim.nodes.every((n) => n.pg.running && (n.pg.streaming || !n.pg.standby)), 30_000);
  await sim.run(2000); // the leader has written the failsafe key
  return sim;
}

/** Runs ms, recording when `node` stopped being a writable primary (undefined: it never did). */
async function runWatching(sim: SimCluster, node: SimNode, ms: number): Promise<number | undefined> {
  const t0 = sim.clock.now();
  let stoppedAt: number | undefined;
  while (sim.clock.now() - t0 < ms) {
    await sim.run(50);
    if (stoppedAt === undefined && !(node.pg.running && !node.pg.standby)) stoppedAt = sim.clock.now();
  }
  return stoppedAt;
}

describe("failsafe mode in the simulated cluster", function () {
  this.timeout(120_000);
  let sim: SimCluster | undefined;
  afterEach(() => sim?.stopAll());

  it("the leader writes the failsafe key listing every member", async () => {
    sim = await bootstrapped();
    const key = JSON.parse(sim.etcd.peek("/service/sim/failsafe")!) as Record<string, string>;
    assert.deepEqual(Object.keys(key).sort(), ["node1", "node2", "node3"]);
  });

  it("etcd quorum lost for 30 s: the leader stays writable all along, nobody else promotes, and it keeps its key afterwards", async () => {
    sim = await bootstrapped();
    const leader = sim.primaries()[0];
    const writesBefore = leader.pg.lsn;
    sim.setEtcdQuorum(false);
    const stoppedAt = await runWatching(sim, leader, 30_000);
    assert.equal(stoppedAt, undefined, "the leader never stopped taking writes");
    assert.ok(leader.pg.write(100), "a commit is acknowledged after 30 s without etcd");
    assert.ok(leader.pg.lsn > writesBefore);
    sim.setEtcdQuorum(true);
    await sim.run(5000);
    assert.equal(sim.leaderName(), leader.name, "the same leader holds the key");
    assert.deepEqual(
      sim.primaries().map((n) => n.name),
      [leader.name],
    );
    assert.equal(leader.driver.activity.summary().fences, 0);
    assert.deepEqual(sim.splitBrain, []);
  });

  it("with failsafe mode off, the same outage fences the leader (as before)", async () => {
    sim = await bootstrapped({ failsafeMode: false });
    const leader = sim.primaries()[0];
    sim.setEtcdQuorum(false);
    const t0 = sim.clock.now();
    const stoppedAt = await runWatching(sim, leader, 10_000);
    assert.ok(stoppedAt !== undefined && stoppedAt - t0 <= 4000, `fenced ${stoppedAt === undefined ? "never" : stoppedAt - t0} ms in`);
    assert.equal(sim.etcd.peek("/service/sim/failsafe"), undefined, "no failsafe key");
    assert.deepEqual(sim.splitBrain, []);
  });

  it("etcd quorum lost, then the leader cut from one replica: it fences within ttl of the cut; nobody promotes; it leads again once etcd is back", async () => {
    sim = await bootstrapped();
    const leader = sim.primaries()[0];
    const replica = sim.nodes.find((n) => n !== leader)!;
    sim.setEtcdQuorum(false);
    await sim.run(10_000);
    assert.ok(leader.pg.running && !leader.pg.standby, "writable through the outage so far");
    sim.cutApi(leader.name, replica.name);
    const cutAt = sim.clock.now();
    const stoppedAt = await runWatching(sim, leader, 10_000);
    assert.ok(stoppedAt !== undefined, "the leader fenced");
    assert.ok(stoppedAt - cutAt <= 4000, `fenced ${stoppedAt - cutAt} fake ms after the cut (ttl 4 s)`);
    assert.equal(sim.primaries().length, 0, "no replica promotes without etcd");
    sim.setEtcdQuorum(true);
    sim.cutApi(leader.name, replica.name, false);
    await sim.until(() => sim!.primaries().length === 1, 15_000);
    assert.equal(sim.primaries()[0], leader, "the key survived the outage: the old leader restarts in place");
    assert.deepEqual(sim.splitBrain, []);
  });

  it("a leader cut from etcd alone keeps serving; the replicas do not race; it retakes its key after the heal", async () => {
    sim = await bootstrapped();
    const leader = sim.primaries()[0];
    leader.dcs.setReachable(false);
    const stoppedAt = await runWatching(sim, leader, 20_000);
    assert.equal(stoppedAt, undefined, "the leader never stopped taking writes");
    assert.equal(sim.leaderName(), undefined, "its lease (and key) expired in etcd meanwhile");
    for (const n of sim.nodes.filter((x) => x !== leader))
      assert.equal(n.pg.commands.includes("promote"), false, `${n.name} did not promote`);
    leader.dcs.setReachable(true);
    await sim.until(() => sim!.leaderName() === leader.name, 5000);
    await sim.run(10_000);
    assert.equal(sim.leaderName(), leader.name);
    assert.ok(leader.pg.running && !leader.pg.standby, "still the primary");
    assert.equal(leader.driver.activity.summary().fences, 0);
    assert.deepEqual(sim.splitBrain, []);
  });

  it("a leader cut from etcd and from one replica fences; that replica takes over only after it", async () => {
    sim = await bootstrapped({ synchronousMode: "off" });
    const leader = sim.primaries()[0];
    const replica = sim.nodes.find((n) => n !== leader)!;
    leader.dcs.setReachable(false);
    sim.cutApi(leader.name, replica.name);
    const t0 = sim.clock.now();
    const stoppedAt = await runWatching(sim, leader, 4000);
    assert.ok(stoppedAt !== undefined && stoppedAt - t0 <= 4000, "fenced within ttl");
    await sim.until(() => sim!.primaries().length === 1, 15_000);
    assert.notEqual(sim.primaries()[0], leader);
    assert.deepEqual(sim.splitBrain, []);
  });

  it("a member the failsafe key does not list never races for the key", async () => {
    sim = await bootstrapped({ synchronousMode: "off" });
    const leader = sim.primaries()[0];
    const [a, b] = sim.nodes.filter((n) => n !== leader);
    sim.kill(leader.name);
    // The key as the leader would have written it after b's member key was gone for a while.
    const key = JSON.parse(sim.etcd.peek("/service/sim/failsafe")!) as Record<string, string>;
    delete key[b.name];
    assert.equal(await a.dcs.attemptWriteFailsafe(leader.name, key), true);
    a.dcs.setReachable(false); // a cannot take the key either: only b could, and b is not listed
    await sim.run(15_000);
    assert.equal(b.pg.commands.includes("promote"), false, `${b.name} is not listed: it never promotes`);
    assert.equal(sim.primaries().length, 0);
    assert.match(b.driver.view().decision!.reason, /does not list this member/);
    assert.deepEqual(sim.splitBrain, []);
  });

  it("with a watchdog: petted by confirmed rounds through a 30 s etcd outage (no reset); with a replica cut, the leader fences and disarms before the reset", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hapg-simfs-"));
    try {
      sim = await bootstrapped({ watchdog: { mode: "automatic", dir } });
      const leader = sim.primaries()[0];
      assert.equal(leader.watchdog!.control.view().armed, true);
      sim.setEtcdQuorum(false);
      await sim.run(30_000);
      assert.ok(leader.alive && leader.pg.running && !leader.pg.standby, "no reset, still writable");
      assert.equal(leader.watchdog!.control.view().armed, true);
      sim.cutApi(leader.name, sim.nodes.find((n) => n !== leader)!.name);
      await sim.until(() => !leader.pg.running, 5000, 10);
      assert.equal(leader.watchdog!.control.view().armed, false, "disarmed after the fence");
      await sim.run(5000);
      assert.ok(leader.alive, "the live leader fenced itself: the watchdog never reset it");
      assert.deepEqual(sim.splitBrain, []);
    } finally {
      sim?.stopAll();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("with the short profile (ttl 2, loopWait 0.5) and a watchdog: the first round pets in time, no fence and no reset through a 30 s outage", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hapg-simfs-"));
    try {
      sim = await bootstrapped({ ttl: 2, loopWait: 0.5, watchdog: { mode: "automatic", dir } });
      const leader = sim.primaries()[0];
      for (let i = 0; i < 5; i++) {
        await sim.run(137 * (i + 1)); // the outage starts at another phase of the renewal cycle each time
        sim.setEtcdQuorum(false);
        const stoppedAt = await runWatching(sim, leader, 30_000 / 5);
        assert.equal(stoppedAt, undefined, `outage ${i + 1}: the leader never stopped taking writes`);
        sim.setEtcdQuorum(true);
      }
      assert.ok(leader.alive, "never reset");
      assert.equal(leader.driver.activity.summary().fences, 0);
      assert.deepEqual(sim.splitBrain, []);
    } finally {
      sim?.stopAll();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("seeded random interleavings of etcd outages, etcd cuts, API cuts and kills never give two writable primaries", async () => {
    for (let seed = 1; seed <= 12; seed++) {
      sim = await bootstrapped({ synchronousMode: seed % 2 ? "on" : "off" });
      const rnd = seededRandom(seed);
      const names = sim.nodes.map((n) => n.name);
      const pick = () => names[Math.floor(rnd() * names.length)];
      let quorum = true;
      for (let step = 0; step < 40; step++) {
        const r = rnd();
        if (r < 0.15) sim.setEtcdQuorum((quorum = !quorum));
        else if (r < 0.35) sim.node(pick()).dcs.setReachable(rnd() < 0.5 || !quorum ? false : true);
        else if (r < 0.6) sim.cutApi(pick(), pick(), rnd() < 0.5);
        else if (r < 0.65) {
          const victim = sim.node(pick());
          if (victim.alive && sim.nodes.filter((n) => n.alive).length > 2) sim.kill(victim.name);
        }
        await sim.run(Math.floor(rnd() * 3000));
      }
      assert.deepEqual(sim.splitBrain, [], `seed ${seed}: two writable primaries at ${sim.splitBrain.join(", ")}`);
      sim.stopAll();
    }
  });
});
