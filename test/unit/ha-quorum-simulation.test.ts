/**
 * Synchronous modes in the simulated cluster (real drivers and decision, fake etcd, modelled
 * PostgreSQL, fake clock): quorum commit, and the modes "on" (the default) and "strict". After every
 * timer that fires, the invariant is checked: no member that could win an election now, were the
 * leader to crash at this instant, lacks an acknowledged commit. "Could win" is the real election
 * rule (electionVerdict) under every choice of which other members answer, for every member with a
 * data directory except the running primary: a crashed member may come back and race too.
 * Random schedules (seeded) of commits, slow/stopped standbys, network cuts and leader crashes
 * explore the interleavings the simulator can reach.
 */
import assert from "node:assert/strict";
import { buildSnapshot } from "../../sidecar/dcs/snapshot";
import { electionVerdict } from "../../sidecar/ha/election";
import type { HaInput, PeerView } from "../../sidecar/ha/types";
import type { SynchronousMode } from "../../sidecar/contract/settings/schema";
import { SimCluster, type SimNode } from "../helpers/sim-cluster";
import { seededRandom } from "../helpers/seeded-random";

const PREFIX = "/service/sim/";

interface Tracked {
  sim: SimCluster;
  /** Highest LSN acknowledged to a client so far. */
  acked: number;
  violations: string[];
  promotions: number;
  /** Commits the primary could not acknowledge (it waited for standbys that did not answer). */
  waited: number;
}

type Mode = Exclude<SynchronousMode, "off">;

/** Anyone who may race one day: every member with a data directory but the running primary (a crashed one may restart). */
const mayRace = (n: SimNode) => n.pg.initialized && !(n.pg.running && !n.pg.standby);

/** Every member that could win an election right now, under every choice of which peers answer, holds every acknowledged commit. */
function checkPromotable(t: Tracked, k: number, mode: Mode): void {
  const { sim } = t;
  const range = sim.etcd.range(PREFIX);
  const snapshot = buildSnapshot(PREFIX, range.kvs, range.revision);
  if (!snapshot.sync) return;
  const cluster = { ...snapshot, leader: undefined };
  const replicas = sim.nodes.filter(mayRace);
  for (const c of replicas) {
    if (c.pg.lsn >= t.acked) continue; // holds everything: nothing to check
    const others = replicas.filter((o) => o !== c);
    for (let mask = 0; mask < 1 << others.length; mask++) {
      const peers: PeerView[] = others.map((o, i) =>
        mask & (1 << i)
          ? { name: o.name, reachable: true, isPrimary: false, lsn: o.pg.lsn, failoverPriority: 1, nofailover: false }
          : { name: o.name, reachable: false },
      );
      const input: HaInput = {
        now: sim.clock.now(),
        self: {
          name: c.name,
          nofailover: false,
          failoverPriority: 1,
          maximumLagOnFailover: 1 << 20,
          ttlMs: 4000,
          fenceMarginMs: 1000,
          synchronousMode: mode,
          synchronousQuorum: k,
          usePgRewind: true,
        },
        cluster,
        local: {
          dataDir: { initialized: true, standbySignal: true },
          pg: { running: true, inRecovery: true, lsn: c.pg.lsn },
          process: "running",
        },
        memory: {},
        peers,
      };
      const v = electionVerdict(input);
      if (v.ok) {
        const seen = peers.filter((p) => p.reachable).map((p) => p.name);
        t.violations.push(
          `t=${sim.clock.now()}: ${c.name} (LSN ${c.pg.lsn}) could promote seeing [${seen.join(",")}] but ${t.acked} was acknowledged; ` +
            `sync key ${JSON.stringify(snapshot.sync)}`,
        );
        return;
      }
    }
  }
}

async function quorumCluster(nodes: number, k: number, seed = 1, mode: Mode = "quorum"): Promise<Tracked> {
  const sim = new SimCluster({ nodes, synchronousMode: mode, synchronousQuorum: mode === "quorum" ? k : undefined });
  sim.world.random = seededRandom(seed * 7919);
  const t: Tracked = { sim, acked: 0, violations: [], promotions: 0, waited: 0 };
  let primary: string | undefined;
  sim.checks.push(() => {
    const p = sim.primaries()[0]?.name;
    if (p && p !== primary) {
      if (primary !== undefined) t.promotions++;
      primary = p;
      if (sim.primaries()[0].pg.lsn < t.acked) t.violations.push(`t=${sim.clock.now()}: ${p} was promoted without commit ${t.acked}`);
    }
    checkPromotable(t, k, mode);
  });
  await sim.start();
  await sim.until(() => {
    const p = sim.primaries()[0];
    if (sim.primaries().length !== 1 || !sim.nodes.every((n) => n.pg.running)) return false;
    if (mode === "quorum") return p.pg.syncCount === Math.min(k, nodes - 1);
    const key = syncKey(sim);
    // The standby confirmed (quorum 0): it alone may be promoted.
    return p.pg.syncStandbys.length === 1 && key?.voters.length === 1 && key.voters[0] === p.pg.syncStandbys[0] && key.quorum === 0;
  }, 30_000);
  return t;
}

/** Writes `n` commits on the primary, recording the acknowledged ones. */
function write(t: Tracked, n: number): number {
  const p = t.sim.primaries()[0];
  let ok = 0;
  for (let i = 0; p && i < n; i++) {
    if (p.pg.write(100)) {
      t.acked = Math.max(t.acked, p.pg.lsn);
      ok++;
    } else t.waited++;
  }
  return ok;
}

/**
 * Clients commit at the very instant a promotion returns, before the new leader's next loop (in the
 * simulator that loop follows at the same fake ms, so the window is otherwise out of reach).
 */
function commitAfterPromotion(t: Tracked, commits: () => number): void {
  for (const n of t.sim.nodes) {
    const promote = n.pg.promote.bind(n.pg);
    n.pg.promote = async (...args: Parameters<typeof promote>) => {
      await promote(...args);
      write(t, commits());
      // The invariant at this very instant, not only once the new leader's loop has run.
      for (const check of t.sim.checks) check();
    };
  }
}

/** The cluster at a glance, for failure messages. */
function overview(t: Tracked): string {
  const nodes = t.sim.nodes.map(
    (n) =>
      `${n.name}${n.alive ? "" : " (dead)"}: ${n.pg.running ? (n.pg.standby ? "replica" : "primary") : "stopped"} LSN ${n.pg.lsn}` +
      ` — ${n.driver.view().decision?.reason ?? "-"}`,
  );
  return `acked ${t.acked}; key ${JSON.stringify(syncKey(t.sim))}; leader ${t.sim.leaderName() ?? "none"}\n  ${nodes.join("\n  ")}`;
}

function syncKey(sim: SimCluster): { voters: string[]; quorum?: number } | undefined {
  const range = sim.etcd.range(PREFIX);
  const s = buildSnapshot(PREFIX, range.kvs, range.revision).sync;
  return s && { voters: s.standbys, quorum: s.quorum };
}

describe("simulated cluster with quorum commit", function () {
  this.timeout(240_000);
  let t: Tracked | undefined;
  afterEach(() => t?.sim.stopAll());

  it("steady state: the key lists both standbys with quorum 1, PostgreSQL waits for ANY 1 of them", async () => {
    t = await quorumCluster(3, 1);
    const p = t.sim.primaries()[0];
    await t.sim.run(3000);
    assert.deepEqual(
      p.pg.syncStandbys,
      t.sim.nodes.filter((n) => n !== p).map((n) => n.name),
    );
    assert.deepEqual(syncKey(t.sim), { voters: p.pg.syncStandbys, quorum: 1 });
    assert.deepEqual(t.violations, []);
  });

  it("a slow (stopped) standby does not hold up commits: the other one acknowledges them", async () => {
    t = await quorumCluster(3, 1);
    const p = t.sim.primaries()[0];
    const [slow] = t.sim.nodes.filter((n) => n !== p);
    slow.pg.paused = true;
    assert.equal(write(t, 50), 50, "every commit is acknowledged while one standby is stopped");
    await t.sim.run(5000);
    assert.equal(write(t, 50), 50);
    assert.deepEqual(t.violations, []);
  });

  it("crash of the leader with one standby stopped: the other is promoted only once the set shrank to it, with every commit", async () => {
    t = await quorumCluster(3, 1);
    const p = t.sim.primaries()[0];
    const [stopped, other] = t.sim.nodes.filter((n) => n !== p);
    stopped.pg.isolated = true; // it stops streaming: the leader drops it from the wait, then from the key
    write(t, 20);
    await t.sim.until(() => syncKey(t!.sim)?.voters.length === 1, 10_000);
    assert.deepEqual(syncKey(t.sim), { voters: [other.name], quorum: 0 });
    write(t, 20);
    t.sim.kill(p.name);
    await t.sim.until(() => t!.sim.primaries().length === 1, 20_000);
    assert.equal(t.sim.primaries()[0].name, other.name);
    assert.ok(other.pg.lsn >= t.acked);
    assert.deepEqual(t.violations, []);
    assert.deepEqual(t.sim.splitBrain, []);
  });

  it("crash of the leader before a stopped standby left the set: no promotion until enough of the set answers", async () => {
    t = await quorumCluster(3, 1);
    const p = t.sim.primaries()[0];
    const [stopped, other] = t.sim.nodes.filter((n) => n !== p);
    stopped.pg.paused = true; // still connected: the set keeps it
    write(t, 20); // acknowledged by `other` alone
    t.sim.kill(p.name);
    stopped.alive = false; // its agent and API are frozen too (SIGSTOP of the whole node)
    stopped.driver.abandon();
    await t.sim.run(15_000);
    assert.equal(t.sim.primaries().length, 0, `${other.name} cannot know it holds every commit without seeing ${stopped.name}`);
    assert.deepEqual(t.violations, []);
  });

  // QUORUM_SIM_SCALE=10 runs ten times as many schedules (the default keeps the unit suite fast).
  const scale = Math.max(1, Number(process.env.QUORUM_SIM_SCALE ?? 1));
  for (const [mode, nodes, k, base] of [
    ["quorum", 3, 1, 16],
    ["quorum", 4, 1, 10],
    ["quorum", 4, 2, 10],
    ["quorum", 5, 2, 6],
    ["on", 3, 1, 16],
    ["on", 4, 1, 10],
    ["strict", 3, 1, 10],
    ["strict", 4, 1, 6],
  ] as const) {
    const seeds = base * scale;
    const what = mode === "quorum" ? `quorum commit, ${nodes} nodes, k = ${k}` : `mode "${mode}", ${nodes} nodes`;
    it(`random schedules, ${what}, ${seeds} seeds: no acknowledged commit is ever missing from a promotable member`, async () => {
      let promotions = 0;
      let acks = 0;
      let stalled = 0;
      for (let seed = 1; seed <= seeds; seed++) {
        t = await quorumCluster(nodes, k, seed, mode);
        const rnd = seededRandom(seed);
        commitAfterPromotion(t, () => (rnd() < 0.5 ? 1 + Math.floor(rnd() * 5) : 0));
        const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)];
        let kills = nodes - 2;
        for (let step = 0; step < 120; step++) {
          const r = rnd();
          const sim = t.sim;
          const live = sim.nodes.filter((n) => n.alive);
          if (r < 0.5) write(t, 1 + Math.floor(rnd() * 20));
          else if (r < 0.65) {
            const n = pick(live.filter((x) => x.pg.standby));
            if (n) n.pg.paused = !n.pg.paused;
          } else if (r < 0.8) {
            const n = pick(live);
            if (n) n.pg.isolated = !n.pg.isolated;
          } else if (r < 0.84 && kills > 0 && sim.primaries().length === 1) {
            kills--;
            sim.kill(sim.primaries()[0].name);
          }
          await sim.run(50 + Math.floor(rnd() * 1500));
          assert.deepEqual(t.violations, [], `seed ${seed}`);
        }
        // Heal everything. A leader that died after commits went asynchronous (no standby streamed)
        // leaves nobody promotable: that is the rule, not a stall to fail on.
        for (const n of t.sim.nodes) {
          n.pg.paused = false;
          n.pg.isolated = false;
        }
        await t.sim.run(20_000);
        write(t, 10);
        await t.sim.run(5000);
        assert.deepEqual(t.violations, [], `seed ${seed}`);
        assert.deepEqual(t.sim.splitBrain, [], `seed ${seed}`);
        assert.deepEqual(t.sim.unrecordedSync, [], `seed ${seed}`);
        const last = t.sim.primaries()[0];
        if (last) assert.ok(last.pg.lsn >= t.acked, `seed ${seed}: the final primary holds every acknowledged commit`);
        else {
          // No primary: only because the rule forbids one (fewer than quorum + 1 members of the set are alive), never a stall.
          stalled++;
          const key = syncKey(t.sim);
          const alive = (key?.voters ?? []).filter((v) => t!.sim.node(v).alive);
          assert.ok(alive.length < (key?.quorum ?? 0) + 1, `seed ${seed}: no primary although the rule allows one: ${overview(t)}`);
        }
        promotions += t.promotions;
        acks += t.acked;
        t.sim.stopAll();
      }
      // The schedules did reach failovers (the interesting part), not only quiet runs.
      assert.ok(promotions >= seeds / 4, `only ${promotions} promotion(s) in ${seeds} schedules`);
      assert.ok(acks > 0, "commits were acknowledged");
      assert.ok(stalled < seeds, "some schedules end with a primary");
    });
  }
});

describe('simulated cluster in synchronous mode "on" (the default): the two windows', function () {
  this.timeout(60_000);
  let t: Tracked | undefined;
  afterEach(() => t?.sim.stopAll());

  it("switching the synchronous standby from X to a lagging Y: Y may not promote alone while X holds commits it lacks", async () => {
    t = await quorumCluster(3, 1, 1, "on");
    const p = t.sim.primaries()[0];
    const x = t.sim.node(p.pg.syncStandbys[0]);
    const y = t.sim.nodes.find((n) => n !== p && n !== x)!;
    y.pg.paused = true; // Y lags: still connected, receives nothing
    assert.equal(write(t, 20), 20, "X acknowledges");
    x.pg.isolated = true; // X drops out: the leader switches to Y (the only standby still connected)
    await t.sim.until(() => p.pg.syncStandbys[0] === y.name, 10_000);
    await t.sim.run(3000);
    assert.deepEqual(t.violations, [], overview(t));
  });

  it("right after a promotion, before the new leader chose its standby: no commit is acknowledged that the old key's members lack", async () => {
    t = await quorumCluster(3, 1, 1, "on");
    const old = t.sim.primaries()[0];
    write(t, 10);
    commitAfterPromotion(t, () => 10);
    t.sim.kill(old.name);
    await t.sim.until(() => t!.sim.primaries().length === 1, 20_000);
    await t.sim.run(5000);
    assert.deepEqual(t.violations, [], overview(t));
    assert.equal(write(t, 10), 10, "a standby was chosen: commits are acknowledged again");
    assert.deepEqual(t.violations, [], overview(t));
  });
});
