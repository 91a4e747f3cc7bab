/**
 * A simulated cluster: N real HaDrivers (the production driver and decision code) over an
 * in-memory etcd and modelled PostgreSQL servers, all on one fake clock. Deterministic: no real
 * timers, sockets or processes. The invariant checker runs after every timer that fires.
 */
import { HA_DEFAULTS, type SynchronousMode } from "../../sidecar/contract/settings/schema";
import { resolveTiming } from "../../sidecar/contract/settings/timing";
import { MemoryDcs, MemoryEtcd } from "./memory-dcs";
import type { Member } from "../../sidecar/dcs/types";
import { HaDriver } from "../../sidecar/ha/driver";
import { NO_SYNC_STANDBY } from "../../sidecar/ha/sync";
import { watchdogFailed } from "../../sidecar/ha/watchdog-rules";
import type { PeerView, SelfConfig } from "../../sidecar/ha/types";
import type { StandbyCluster } from "../../sidecar/contract/settings/standby";
import { silentLogger } from "./silent-logger";
import { PostgresOwner } from "../../sidecar/postgres/owner";
import { watchdogOff } from "../../sidecar/watchdog/watchdog";
import { FakeClock } from "./fake-clock";
import { FakePgWorld, FakePostgres } from "./fake-postgres";
import { SimWatchdog } from "./sim-watchdog";

export interface SimNode {
  name: string;
  pg: FakePostgres;
  dcs: MemoryDcs;
  driver: HaDriver;
  /** The one owner of its PostgreSQL (operator commands go through it, as the API sends them). */
  owner: PostgresOwner;
  /** false after kill() or freeze(): the agent is gone (its timers stopped, nothing renews its lease). */
  alive: boolean;
  /** With SimOptions.watchdog: the node's watchdog and the kernel's countdown. */
  watchdog?: SimWatchdog;
  /** The settings its driver decides with (a test may change the live ones, as the dynamic config would). */
  self: SelfConfig;
}

export interface SimOptions {
  nodes: number;
  ttl?: number;
  loopWait?: number;
  maximumLagOnFailover?: number;
  nofailover?: string[];
  synchronousMode?: SynchronousMode;
  /** synchronousMode "quorum": k. */
  synchronousQuorum?: number;
  /** The cluster is created from a backup (bootstrap.fromBackup): rows B1–B3. */
  restoreFromBackup?: boolean;
  /** Every node gets a watchdog on a stand-in device under `dir`; those in `unusable` one whose timeout cannot be set. */
  watchdog?: { mode: "automatic" | "required"; dir: string; unusable?: string[] };
  /** Failsafe mode (default: the settings' default). */
  failsafeMode?: boolean;
  /** A standby cluster of the server at standbyCluster.host/port (rows SB0–SB6); `promoteCluster()` removes it. */
  standbyCluster?: StandbyCluster;
}

export class SimCluster {
  readonly clock = new FakeClock();
  readonly etcd: MemoryEtcd;
  readonly world = new FakePgWorld();
  readonly nodes: SimNode[] = [];
  /** Every moment (fake ms) at which more than one server accepted writes. */
  readonly splitBrain: number[] = [];
  /** Moments at which a primary waited for a standby that the etcd sync key did not list. */
  readonly unrecordedSync: number[] = [];
  /** Extra invariants, run after every timer that fires (like the split-brain check). */
  readonly checks: (() => void)[] = [];
  /** Pairs of members whose APIs cannot reach each other ("a|b", both orders). */
  private readonly apiCuts = new Set<string>();

  constructor(private readonly o: SimOptions) {
    this.etcd = new MemoryEtcd(() => this.clock.now());
    for (let i = 0; i < o.nodes; i++) this.nodes.push(this.makeNode(`node${i + 1}`, i));
  }

  private makeNode(name: string, i: number): SimNode {
    const ttl = this.o.ttl ?? HA_DEFAULTS.timing.ttl;
    const loopWait = this.o.loopWait ?? HA_DEFAULTS.timing.loopWait;
    // The agent's own derivation (settings/timing.ts), as runAgent does it.
    const timing = resolveTiming({
      timing: { ...HA_DEFAULTS.timing, ttl, loopWait, retryTimeout: Math.min(HA_DEFAULTS.timing.retryTimeout, (ttl - loopWait) / 2) },
      watchdog: { mode: this.o.watchdog?.mode ?? "off" },
    });
    const pgAddr = { host: "10.0.0.1", port: 5432 + i };
    const pg = this.world.add(name, pgAddr);
    const dcs = new MemoryDcs(this.etcd, "/service/sim/", (ms) => new Promise<void>((r) => this.clock.setTimeout(r, ms)));
    // "Recorded before relied on": at the moment PostgreSQL is told to wait for standbys, etcd lists them.
    const setSync = pg.setSynchronousStandbys.bind(pg);
    pg.setSynchronousStandbys = async (names, count) => {
      const recorded = this.syncKey()?.standbys ?? [];
      if (names.some((n) => n !== NO_SYNC_STANDBY && !recorded.includes(n))) this.unrecordedSync.push(this.clock.now());
      return setSync(names, count);
    };
    const node: SimNode = { name, pg, dcs, alive: true } as SimNode;
    const wd = this.o.watchdog;
    if (wd) {
      const kernelTimeoutS = wd.unusable?.includes(name) ? 60 : undefined;
      node.watchdog = new SimWatchdog(`${wd.dir}/${name}`, this.clock, { mode: wd.mode, ttl, kernelTimeoutS }, () => this.reset(node));
    }
    node.owner = new PostgresOwner(pg);
    node.self = {
      name,
      nofailover: this.o.nofailover?.includes(name) ?? false,
      failoverPriority: 1,
      maximumLagOnFailover: this.o.maximumLagOnFailover ?? 1_048_576,
      ttlMs: timing.ttlMs,
      fenceMarginMs: timing.fenceMarginMs,
      synchronousMode: this.o.synchronousMode ?? HA_DEFAULTS.synchronousMode,
      synchronousQuorum: this.o.synchronousQuorum,
      usePgRewind: true,
      failsafeMode: this.o.failsafeMode ?? HA_DEFAULTS.failsafeMode,
      restoreFromBackup: this.o.restoreFromBackup,
      standbyCluster: this.o.standbyCluster,
    };
    node.driver = new HaDriver({
      self: node.self,
      identity: {
        pgConnect: pgAddr,
        apiConnect: { host: "10.0.0.1", port: 8008 + i },
        tags: { nofailover: false, noloadbalance: false, failoverPriority: 1 },
      },
      dcs,
      pg: node.owner,
      clock: this.clock,
      log: silentLogger(),
      timing,
      fetchPeers: async (members) => members.map((m) => this.peerView(m)),
      watchdog: node.watchdog?.control ?? watchdogOff(),
      // POST /failsafe: answered by the target's own keeper, unless its agent is gone or the API path is cut.
      confirmPeer: async (m, body) => {
        await Promise.resolve();
        const target = this.nodes.find((x) => x.name === m.name);
        if (!target?.alive || this.apiCuts.has(`${name}|${m.name}`)) return false;
        return target.driver.failsafe.confirm(body).status === 200;
      },
    });
    return node;
  }

  /** Cuts (or heals) the REST API path between two members, both ways. */
  cutApi(a: string, b: string, cut = true): void {
    for (const k of [`${a}|${b}`, `${b}|${a}`]) {
      if (cut) this.apiCuts.add(k);
      else this.apiCuts.delete(k);
    }
  }

  /** etcd loses its quorum (or comes back): no client reaches it, and no lease expires meanwhile. */
  setEtcdQuorum(up: boolean): void {
    if (up) this.etcd.freeze(false);
    for (const n of this.nodes) n.dcs.setReachable(up);
    if (!up) this.etcd.freeze(true);
  }

  /** What GET /patroni on that member would say: nothing when its agent is dead or cut off. */
  private peerView(m: Member): PeerView {
    const n = this.node(m.name);
    if (!n.alive || n.pg.isolated || !n.pg.running) return { name: m.name, reachable: false };
    return {
      name: m.name,
      reachable: true,
      isPrimary: !n.pg.standby,
      lsn: n.pg.lsn,
      timeline: n.pg.timeline,
      nofailover: m.data.tags.nofailover,
      failoverPriority: m.data.tags.failover_priority,
      watchdogFailed: watchdogFailed(n.driver.view().watchdog),
    };
  }

  node(name: string): SimNode {
    const n = this.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  }

  async start(): Promise<void> {
    for (const n of this.nodes) await n.driver.start();
  }

  /** Advance fake time, replicating WAL and checking the split-brain invariant after every step. */
  async run(ms: number): Promise<void> {
    await this.clock.advance(ms, () => {
      for (const n of this.nodes) n.watchdog?.observe();
      this.etcd.tick();
      this.world.replicate();
      if (this.world.writablePrimaries().length > 1) this.splitBrain.push(this.clock.now());
      for (const p of this.world.writablePrimaries()) {
        const recorded = this.syncKey()?.standbys ?? [];
        if (p.syncStandbys.some((n) => n !== NO_SYNC_STANDBY && !recorded.includes(n))) this.unrecordedSync.push(this.clock.now());
      }
      for (const check of this.checks) check();
    });
  }

  /** Run until `cond` holds, at most `ms`; returns the fake ms it took, or throws. */
  async until(cond: () => boolean, ms: number, step = 100): Promise<number> {
    const t0 = this.clock.now();
    while (!cond()) {
      if (this.clock.now() - t0 > ms) throw new Error(`condition not reached within ${ms} fake ms`);
      await this.run(step);
    }
    return this.clock.now() - t0;
  }

  primaries(): SimNode[] {
    return this.nodes.filter((n) => n.pg.running && !n.pg.standby);
  }

  syncKey(): { leader: string; standbys: string[]; quorum?: number } | undefined {
    const raw = this.etcd.peek("/service/sim/sync");
    if (!raw) return undefined;
    const v = JSON.parse(raw) as { leader: string; sync_standby: string | null; quorum?: number };
    return { leader: v.leader, standbys: v.sync_standby ? v.sync_standby.split(",") : [], quorum: v.quorum };
  }

  /**
   * The steady state of a synchronous mode: the sync key lets a standby be promoted (a quorum below
   * the size of its set; right after it was recorded it may not be yet, until it has every commit).
   * Asynchronous: always.
   */
  syncSettled(): boolean {
    if ((this.o.synchronousMode ?? HA_DEFAULTS.synchronousMode) === "off") return true;
    const key = this.syncKey();
    return key !== undefined && key.standbys.length > 0 && (key.quorum ?? 0) < key.standbys.length;
  }

  leaderName(): string | undefined {
    return this.etcd.peek("/service/sim/leader");
  }

  /** kill -9 of agent and PostgreSQL: nothing renews its lease any more. */
  kill(name: string): void {
    const n = this.node(name);
    n.alive = false;
    n.driver.abandon();
    n.pg.crash();
  }

  /** SIGSTOP of the agent alone: it renews nothing and fences nothing, while PostgreSQL runs on. */
  freeze(name: string): void {
    const n = this.node(name);
    n.alive = false;
    n.driver.abandon();
  }

  /** The kernel's watchdog reset the machine: agent and PostgreSQL are gone at once. */
  private reset(n: SimNode): void {
    n.alive = false;
    n.driver.abandon();
    n.pg.crash();
  }

  /** What `hapg promote-cluster` does through etcd's config: every member stops following the source. */
  promoteCluster(): void {
    for (const n of this.nodes) delete n.self.standbyCluster;
  }

  stopAll(): void {
    for (const n of this.nodes) n.driver.abandon();
  }
}
