/**
 * The thin driver around `decide`: gathers one snapshot (etcd + local PostgreSQL + peers), asks the
 * pure decision what to do, executes the actions in order, publishes the member key. Runs every
 * loopWait, and at once when the leader key changes (etcd watch), when the postmaster exits, or when
 * the fence deadline arrives. Never runs two loops at once.
 */
import type { ClusterSnapshot, Dcs, Member, MemberData } from "../dcs/types";
import type { DynamicConfigApplier } from "../dynamic/apply";
import type { Logger } from "../log";
import type { PostgresOwner } from "../postgres/owner";
import type { HaTiming } from "../contract/settings/timing";
import type { Clock } from "./clock";
import { decide, fenceDeadline } from "./decide";
import { HaActivity } from "./activity";
import { ActionExecutor } from "./executor";
import { type ConfirmPeer, FailsafeKeeper } from "./failsafe-keeper";
import type { StopMarker } from "./failsafe-stop-marker";
import { LeaseKeeper } from "./lease";
import { MemberIdentity, memberData } from "./member";
import type { AgentMemory, Decision, HaInput, LocalState, PeerView, SelfConfig, WatchdogControl } from "./types";

export interface DriverOptions {
  self: SelfConfig;
  identity: MemberIdentity;
  dcs: Dcs;
  /** The one owner of PostgreSQL: commands go to it, the process state is read from it. */
  pg: PostgresOwner;
  clock: Clock;
  log: Logger;
  /** The durations it runs on, resolved once from the settings (settings/timing.ts). */
  timing: Pick<HaTiming, "loopWaitMs" | "renewIntervalMs" | "leaseTtlSeconds">;
  /** Fresh views of the other members (their REST APIs); only asked when there is no leader. */
  fetchPeers: (members: Member[]) => Promise<PeerView[]>;
  /** The watchdog device's owner (sidecar/watchdog/watchdog.ts; `watchdogOff()` for none). */
  watchdog: WatchdogControl;
  /** POST /failsafe on another member's API (failsafe mode; absent: the mode is off). */
  confirmPeer?: ConfirmPeer;
  /** Applies etcd's config key live (sidecar/dynamic/apply.ts). Absent: the agent file's settings only. */
  dynamic?: DynamicConfigApplier;
  /** This member's pgBackRest TLS server as the member key shows it (absent or undefined: none runs). */
  backupServer?: () => MemberData["pgbackrest"];
  /** Where a clean stop says until when its failsafe confirmations bind (./failsafe-stop-marker.ts); absent: none kept. */
  stopMarker?: StopMarker;
}

export class HaDriver {
  readonly lease: LeaseKeeper;
  /** Failsafe mode: the leader's confirmation rounds, this member's answers to them (./failsafe-keeper.ts). */
  readonly failsafe: FailsafeKeeper;
  readonly memory: AgentMemory = {};
  /** Loop durations, fences, leader changes: counted here, exposed by the API's /metrics. */
  readonly activity = new HaActivity();
  private readonly executor: ActionExecutor;
  private local?: LocalState;
  private cluster?: ClusterSnapshot;
  /** The last snapshot etcd gave (this.cluster is undefined while it cannot be read). */
  private lastCluster?: ClusterSnapshot;
  private decision?: Decision;
  private lastLoopAt?: number;
  private loopRunning?: Promise<void>;
  private pending = false;
  private stopping = false;
  /** The agent is stopping: the member key says "stopping" from now on. */
  private stopAnnounced = false;
  private loopTimer: unknown;
  private fenceTimer: unknown;
  private stopWatch?: () => void;
  private lastPublished?: string;
  private publishedLease?: string;

  constructor(private readonly o: DriverOptions) {
    // Every successful renewal pets an armed watchdog, then moves the fence deadline.
    this.lease = new LeaseKeeper(o.dcs, o.clock, o.timing.leaseTtlSeconds, o.timing.renewIntervalMs, o.log, () => {
      o.watchdog.pet(this.lease);
      this.armFenceTimer();
      // A new lease (the old one expired, e.g. behind a partition) holds none of our keys. Publish
      // the member key now, not after the current loop: that loop may be starting a rewound replica
      // that waits for WAL through the slot the leader only creates for members it sees in etcd.
      if (this.lease.leaseId !== this.publishedLease) void this.publishMember();
    });
    this.failsafe = new FailsafeKeeper({
      self: o.self,
      clock: o.clock,
      log: o.log,
      memory: this.memory,
      lease: this.lease,
      watchdog: o.watchdog,
      intervalMs: o.timing.renewIntervalMs,
      timeoutMs: o.timing.renewIntervalMs,
      confirmPeer: o.confirmPeer,
      isPrimary: () => this.o.pg.process === "running" && this.local?.pg.running === true && this.local.pg.inRecovery === false,
      fenceAt: () => this.fenceAt(),
      viewLeader: () => this.lastCluster?.leader?.name,
      onConfirmed: () => this.armFenceTimer(),
      stopMarker: o.stopMarker,
    });
    this.executor = new ActionExecutor({
      ...o,
      lease: this.lease,
      memory: this.memory,
      isLeaseValid: () => this.leaseValidNow(),
      failsafe: this.failsafe,
      beforeBootstrap: o.dynamic && (() => o.dynamic!.beforeBootstrap()),
    });
  }

  async start(): Promise<void> {
    this.o.pg.onUnexpectedExit((code, signal) => {
      this.o.log.warn({ code, signal }, "the postmaster exited unexpectedly");
      this.requestLoop("postmaster exited");
    });
    if (await this.o.pg.adopt()) {
      this.o.log.info("adopted the running postmaster instead of starting another");
    }
    await this.lease.ensure().catch((e) => this.o.log.warn({ err: String(e) }, "etcd not reachable yet; will retry"));
    this.lease.start();
    this.failsafe.start();
    this.stopWatch = this.o.dcs.watch(
      0,
      (e) => {
        // A switchover request is acted on at once too: the hand-over should not wait for the next loop.
        // The config key too: a promoted standby cluster (standby_cluster removed) promotes at once.
        if (e.key.endsWith("/leader") || e.key.endsWith("/initialize") || e.key.endsWith("/failover") || e.key.endsWith("/config"))
          this.requestLoop(`${e.type} ${e.key}`);
      },
      (err) => this.o.log.debug({ err: String(err) }, "etcd watch interrupted; re-establishing"),
    );
    this.requestLoop("start");
  }

  /** Stops every timer and the watch without touching PostgreSQL or etcd (a killed agent, in tests). */
  abandon(): void {
    this.stopLoop();
    this.lease.stop();
  }

  private stopLoop(): void {
    this.stopping = true;
    this.o.clock.clearTimeout(this.loopTimer);
    this.o.clock.clearTimeout(this.fenceTimer);
    this.failsafe.stop();
    this.stopWatch?.();
  }

  /** Graceful stop: stop PostgreSQL cleanly; a leader then publishes its final position and releases the key. */
  async shutdown(): Promise<void> {
    if (this.stopping) return;
    // No confirmation from here on; the next run learns until when the given ones bind (row FS5).
    this.failsafe.closeAndLeaveMarker();
    // "stopping" in the member key at once: a leader handing over to us gives up now instead of
    // waiting for our lease to go (the whole cluster stopped at once; docs/ha-states.md). Published
    // again after the loop in progress, which may have published "running" meanwhile.
    this.stopAnnounced = true;
    void this.publishMember();
    // The lease keeps being renewed (and an armed watchdog petted) until PostgreSQL is down: a
    // shutdown checkpoint may take longer than the watchdog's timeout.
    this.stopLoop();
    await this.loopRunning?.catch(() => undefined);
    await this.publishMember();
    const held = this.holdsLeaderKey();
    const t0 = this.o.clock.now();
    const stopped = await this.o.pg.stop().then(
      () => true,
      (e) => {
        this.o.log.error({ err: String(e) }, "stopping PostgreSQL failed");
        return false;
      },
    );
    this.lease.stop();
    // Only once PostgreSQL is down: an agent that exits with it still running leaves the reset coming.
    if (stopped) this.o.watchdog.disarm();
    if (held) {
      const info = await this.o.pg.dataDirInfo().catch(() => undefined);
      if (info?.checkpointLsn !== undefined) await this.o.dcs.putLeaderOptime(info.checkpointLsn).catch(() => undefined);
      const released = await this.o.dcs.releaseLeader(this.o.self.name).catch(() => false);
      this.o.log.info(
        { released, ms: Math.round(this.o.clock.now() - t0) },
        "PostgreSQL stopped; released the leader key so a replica takes over now",
      );
    }
    await this.lease.revoke().catch(() => undefined);
    await this.o.dcs.close().catch(() => undefined);
  }

  /** Runs the loop now (or right after the one in progress). */
  requestLoop(why: string): void {
    if (this.stopping) return;
    if (this.loopRunning) {
      this.pending = true;
      return;
    }
    this.o.clock.clearTimeout(this.loopTimer);
    this.o.log.trace({ why }, "loop requested");
    this.loopRunning = this.runOnce().finally(() => {
      this.loopRunning = undefined;
      if (this.stopping) return;
      if (this.pending) {
        this.pending = false;
        this.requestLoop("pending");
      } else {
        const loopWait = this.o.dynamic?.loopWaitMs() ?? this.o.timing.loopWaitMs;
        // Sooner while the leader confirms a just-recorded standby (Decision.nextLoopMs).
        const wait = Math.min(loopWait, this.decision?.nextLoopMs ?? loopWait);
        this.loopTimer = this.o.clock.setTimeout(() => this.requestLoop("timer"), wait);
      }
    });
  }

  /** For the REST API and tests. */
  view() {
    return {
      name: this.o.self.name,
      local: this.local,
      cluster: this.cluster,
      decision: this.decision,
      lastLoopAt: this.lastLoopAt,
      holdsLeader: this.holdsLeaderKey(),
      leaseValid: this.leaseValidNow(),
      process: this.o.pg.process,
      watchdog: this.o.watchdog.view(),
      lease: this.lease.stats.summary(),
      activity: this.activity,
      renewals: this.lease.stats,
      paused: this.o.dynamic?.isPaused ?? false,
      dynamic: this.o.dynamic?.status(),
      /** etcd's standby_cluster as last applied: this cluster follows another one (its leader is a standby leader). */
      standbyCluster: this.currentSelf().standbyCluster,
    };
  }

  private async runOnce(): Promise<void> {
    const t0 = this.o.clock.now();
    try {
      await this.loop();
    } catch (e) {
      this.o.log.error({ err: e instanceof Error ? e.stack : String(e) }, "HA loop failed");
    }
    this.lastLoopAt = this.o.clock.now();
    this.activity.loopFinished(this.lastLoopAt - t0);
  }

  /** Runs a decision's actions, counting the fences among them. */
  private execute(actions: Decision["actions"]): Promise<unknown> {
    if (actions.some((a) => a.type === "fence")) this.activity.fenced();
    return this.executor.run(actions);
  }

  private async loop(): Promise<void> {
    const { dcs, log } = this.o;
    const readStartedAt = this.o.clock.now();
    this.cluster = await dcs.load().catch((e) => {
      log.warn({ err: String(e) }, "cannot read the cluster from etcd");
      return undefined;
    });
    if (this.cluster) {
      this.activity.clusterSeen(this.o.clock.now(), this.cluster.leader?.name);
      this.lastCluster = this.cluster;
      this.failsafe.observe(this.cluster, readStartedAt);
    }
    this.o.dynamic?.observe(this.cluster);
    for (const c of this.cluster?.corrupt ?? []) log.warn({ key: c.key }, `ignoring a corrupt etcd value: ${c.reason}`);
    this.local = await this.readLocal();
    const needPeers = this.cluster && !this.cluster.leader && this.local.pg.running && this.local.pg.inRecovery;
    const peers = needPeers ? await this.o.fetchPeers(this.cluster!.members.filter((m) => m.name !== this.o.self.name)) : [];
    const decision = decide(this.input(peers));
    this.logDecision(decision);
    this.decision = decision;
    this.activity.decided(this.o.clock.now());
    if (decision.actions.length) {
      // Publish first, so that e.g. the leader creates our replication slot while a base backup runs.
      await this.publishMember();
      await this.execute(decision.actions);
      this.armFenceTimer(); // arming the watchdog moves the fence deadline
      this.local = await this.readLocal();
    }
    await this.o.dynamic?.afterLoop(this.holdsLeaderKey(), this.local.pg.running);
    await this.publishMember();
  }

  private input(peers: PeerView[]): HaInput {
    const optime = this.cluster?.leaderOptime;
    if (optime !== undefined && optime > (this.memory.lastLeaderOptime ?? 0)) this.memory.lastLeaderOptime = optime;
    this.memory.leaseId = this.lease.leaseId;
    this.memory.leaseRenewSentAt = this.lease.renewSentAt;
    return {
      now: this.o.clock.now(),
      wallNow: this.o.clock.wall?.() ?? Date.now(),
      self: this.currentSelf(),
      cluster: this.cluster,
      local: this.local!,
      memory: { ...this.memory },
      peers,
      watchdog: this.o.watchdog.view(),
      failsafeHeard: this.failsafe.heardForDecision(),
    };
  }

  /** This member as the decision sees it: its own settings with the dynamic config's next-loop ones over them. */
  private currentSelf(): SelfConfig {
    return this.o.dynamic?.self(this.o.self) ?? this.o.self;
  }

  private async readLocal(): Promise<LocalState> {
    // The status read also settles the owner's process state (a server found running is "running").
    // While a reinitialize copies, the data directory is incomplete and pg_controldata may fail on it.
    const dataDir = this.o.pg.dataDirInfo().catch((e: unknown) => {
      if (this.o.pg.operation) return { initialized: false, standbySignal: false };
      throw e;
    });
    const [dataDirInfo, pg] = await Promise.all([dataDir, this.o.pg.status()]);
    return { dataDir: dataDirInfo, pg, process: this.o.pg.process, operation: this.o.pg.operation };
  }

  private logDecision(d: Decision): void {
    const changed = d.reason !== this.decision?.reason;
    const fields = { role: d.role, actions: d.actions.map((a) => a.type) };
    const routine = d.actions.every((a) => a.type === "publishOptime" || a.type === "syncSlots");
    if (changed || !routine) this.o.log.info(fields, d.reason);
    else this.o.log.debug(fields, d.reason);
  }

  private async publishMember(): Promise<void> {
    const leaseId = this.lease.leaseId;
    if (!this.local || !leaseId || !this.cluster) return;
    const data = memberData(this.o.identity, this.local, {
      paused: this.o.dynamic?.isPaused,
      pendingRestart: (this.o.dynamic?.pendingRestart.length ?? 0) > 0,
      pgbackrest: this.o.backupServer?.(),
      standbyLeader: this.holdsLeaderKey() && this.currentSelf().standbyCluster !== undefined,
    });
    if (this.stopAnnounced) data.state = "stopping";
    const key = JSON.stringify([leaseId, data]);
    const mine = this.cluster.members.find((m) => m.name === this.o.self.name);
    if (key === this.lastPublished && mine?.leaseId === leaseId) return;
    await this.o.dcs
      .putMember(this.o.self.name, data, leaseId)
      .then(() => {
        this.lastPublished = key;
        this.publishedLease = leaseId;
      })
      .catch((e) => this.o.log.warn({ err: String(e) }, "cannot publish the member key"));
  }

  /**
   * Asked by a requested restart of the primary between its stop and its start: true only while the
   * leader key is ours under a valid lease, with the watchdog armed first when it is used (row W2).
   * False: PostgreSQL stays stopped and the next loop decides (S1 under a valid lease, else S3).
   */
  mayRestartAsPrimary(): boolean {
    if (!this.holdsLeaderKey() || !this.leaseValidNow()) return false;
    const wd = this.o.watchdog.view();
    if (wd.mode === "off" || wd.armed) return true;
    const armed = wd.usable && this.o.watchdog.arm(this.lease) === "armed";
    if (armed) this.armFenceTimer(); // an armed watchdog moves the fence deadline
    return armed || wd.mode === "automatic";
  }

  /**
   * After a requested restart: the local state is read again at once (not after an etcd read that
   * may hang behind a partition) and the fence timer re-armed, so a primary whose lease ran out while
   * it was starting is fenced at once (row F1), then a loop runs.
   */
  async restarted(): Promise<void> {
    this.local = await this.readLocal().catch(() => this.local);
    this.armFenceTimer();
    this.requestLoop("restart ended");
  }

  /**
   * For the API (/primary) and shutdown. In failsafe mode, while etcd cannot be read, the last
   * snapshot stands; and a leader whose key expired in etcd still leads while its confirmations hold.
   */
  private holdsLeaderKey(): boolean {
    const c = this.cluster ?? (this.o.self.failsafeMode ? this.lastCluster : undefined);
    if (c?.leader?.name === this.o.self.name) return true;
    return c !== undefined && !c.leader && this.failsafe.serving(this.o.clock.now());
  }

  private leaseValidNow(): boolean {
    return this.o.clock.now() < this.fenceAt();
  }

  private fenceAt(): number {
    const memory = { leaseId: this.lease.leaseId, leaseRenewSentAt: this.lease.renewSentAt, failsafe: this.memory.failsafe };
    return fenceDeadline({ self: this.o.self, memory, watchdog: this.o.watchdog.view() });
  }

  /**
   * At the fence deadline the decision is asked again with the latest state and the current time,
   * and a `fence` is executed at once — not queued behind a loop that may be stuck on etcd.
   */
  private armFenceTimer(): void {
    if (this.stopping || this.lease.renewSentAt === undefined) return;
    this.o.clock.clearTimeout(this.fenceTimer);
    const at = this.fenceAt();
    this.fenceTimer = this.o.clock.setTimeout(
      () => {
        if (!this.local || this.stopping) return;
        // Real timers can fire a fraction of a ms early (libuv's cached loop time, whole-ms delays);
        // deciding then finds the lease "still valid" and nothing would look again until a loop that
        // may be stuck on etcd for seconds. So wait for the deadline itself (or a renewal's new one).
        if (this.o.clock.now() < at) return this.armFenceTimer();
        const d = decide(this.input([]));
        if (d.actions[0]?.type === "fence") {
          this.o.log.warn({ role: d.role }, d.reason);
          this.decision = d;
          this.activity.decided(this.o.clock.now());
          // `fence`, then `disarmWatchdog` when it is armed (row W3).
          void this.execute(d.actions).then(() => this.requestLoop("fenced"));
        }
      },
      at - this.o.clock.now() + 1,
    );
  }
}
