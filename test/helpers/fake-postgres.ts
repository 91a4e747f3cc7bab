/**
 * A model of PostgreSQL for the simulated cluster: WAL positions, timelines, streaming from an
 * upstream, promotion, crashes and fencing. It implements the same PostgresControl commands as the
 * real owner and resolves at once, so the simulated cluster runs on the fake clock alone.
 */
import { renderSynchronousStandbyNames } from "../../sidecar/postgres/conf";
import type {
  DataDirInfo,
  HostPort,
  LeaderTimeline,
  PgStatus,
  PostgresControl,
  ReloadResult,
  RestartOptions,
  RestartResult,
  RewindResult,
} from "../../sidecar/postgres/types";

export class FakePgWorld {
  readonly servers = new Map<string, FakePostgres>();
  private nextSystemId = 7000;
  /** Quorum commit: which of the waited-for standbys get a commit first (a seeded generator in tests; default: the first ones). */
  random?: () => number;
  /** The system identifier of the backup every restore of this world restores (a restored cluster keeps its source's). */
  readonly backupSystemId = "6000";

  add(name: string, at: HostPort): FakePostgres {
    const pg = new FakePostgres(this, name, at);
    this.servers.set(`${at.host}:${at.port}`, pg);
    return pg;
  }

  newSystemId(): string {
    return String(this.nextSystemId++);
  }

  byAddress(a: HostPort): FakePostgres | undefined {
    return this.servers.get(`${a.host}:${a.port}`);
  }

  /** Every running replica catches up with its upstream (as WAL streaming would). */
  replicate(): void {
    for (const pg of this.servers.values()) pg.pull();
  }

  writablePrimaries(): FakePostgres[] {
    return [...this.servers.values()].filter((pg) => pg.running && !pg.standby);
  }
}

export class FakePostgres implements PostgresControl {
  running = false;
  initialized = false;
  standby = false;
  lsn = 0;
  timeline = 1;
  systemId?: string;
  upstream?: HostPort;
  streaming = false;
  crashedInProduction = false;
  /** Timeline history a restore leaves (the source's timeline and where this one forked from it); the model keeps none otherwise. */
  history?: { timeline: number; switchLsn: number }[];
  /** Network cut between this server and others (replication). */
  isolated = false;
  /** A requested restart waits on this between its stop and its start (tests keep the server down meanwhile). */
  restartGate?: Promise<void>;
  /** A stop waits on this first (a slow shutdown: a standby's restore_command still running, a long checkpoint). */
  stopGate?: Promise<void>;
  /** What pg_settings.pending_restart says. */
  pendingRestart = false;
  /** A slow or stopped standby (SIGSTOP, a stalled disk): still connected, but it receives and acknowledges nothing. */
  paused = false;
  private exitCb?: (code: number | null, signal: NodeJS.Signals | null) => void;
  readonly commands: string[] = [];

  constructor(
    private readonly world: FakePgWorld,
    readonly name: string,
    readonly address: HostPort,
  ) {}

  /**
   * A client commit: written by a running primary, and acknowledged at once when asynchronous, or
   * once the standby it waits for (streaming from it) has it. Returns whether it was acknowledged.
   */
  write(bytes = 100): boolean {
    if (!this.running || this.standby) return false;
    this.lsn += bytes;
    if (this.syncStandbys.length === 0) return true;
    const waited = this.followers().filter((f) => this.syncStandbys.includes(f.name) && !f.paused);
    // FIRST 1: the first connected one; ANY n: whichever n answer first (the world's generator picks).
    const need = this.syncCount ?? 1;
    if (waited.length < need) return false;
    const random = this.world.random;
    const order =
      this.syncCount === undefined || !random
        ? waited
        : waited
            .map((f) => ({ f, r: random() }))
            .sort((a, b) => a.r - b.r)
            .map((x) => x.f);
    for (const f of order.slice(0, need)) f.lsn = this.lsn;
    return true;
  }

  /** Replicas streaming from this server right now. */
  followers(): FakePostgres[] {
    return [...this.world.servers.values()].filter(
      (f) =>
        f !== this &&
        f.running &&
        f.standby &&
        f.streaming &&
        !f.isolated &&
        !this.isolated &&
        f.upstream?.port === this.address.port &&
        f.upstream.host === this.address.host,
    );
  }

  /** kill -9 of the postmaster. */
  crash(): void {
    if (!this.running) return;
    this.running = false;
    this.streaming = false;
    this.crashedInProduction = !this.standby;
    this.exitCb?.(null, "SIGKILL");
  }

  pull(): void {
    if (this.paused && this.running) return;
    if (!this.running || !this.standby || !this.upstream || this.isolated) {
      this.streaming = false;
      return;
    }
    const up = this.world.byAddress(this.upstream);
    if (!up || !up.running || up.isolated || up.systemId !== this.systemId) {
      this.streaming = false;
      return;
    }
    this.lsn = Math.max(this.lsn, up.lsn);
    this.timeline = Math.max(this.timeline, up.timeline);
    this.streaming = true;
  }

  async dataDirInfo(): Promise<DataDirInfo> {
    if (!this.initialized) return { initialized: false, standbySignal: false };
    return {
      initialized: true,
      systemId: this.systemId,
      clusterState: this.running
        ? this.standby
          ? "in archive recovery"
          : "in production"
        : this.crashedInProduction
          ? "in production"
          : this.standby
            ? "shut down in recovery"
            : "shut down",
      timeline: this.timeline,
      checkpointLsn: this.lsn,
      standbySignal: this.standby,
    };
  }

  async status(): Promise<PgStatus> {
    if (!this.running) return { running: false };
    return {
      running: true,
      inRecovery: this.standby,
      lsn: this.lsn,
      receiveLsn: this.standby ? this.lsn : undefined,
      replayLsn: this.standby ? this.lsn : undefined,
      timeline: this.timeline,
      streaming: this.standby ? this.streaming : undefined,
      upstream: this.standby ? this.upstream : undefined,
      systemId: this.systemId,
      pendingRestart: this.pendingRestart || this.pending.length > 0,
      history: this.standby ? undefined : this.history,
      synchronousStandbyNames: this.standby ? undefined : renderSynchronousStandbyNames(this.syncStandbys, this.syncCount),
      replication: this.standby
        ? undefined
        : this.followers().map((f) => ({
            application_name: f.name,
            client_addr: null,
            state: "streaming",
            sync_state: this.syncStandbys.includes(f.name) ? (this.syncCount === undefined ? "sync" : "quorum") : "async",
            replay_lsn: f.lsn,
          })),
    };
  }

  onUnexpectedExit(cb: (code: number | null, signal: NodeJS.Signals | null) => void): void {
    this.exitCb = cb;
  }

  async adopt(): Promise<boolean> {
    return this.running;
  }

  async bootstrap(): Promise<string> {
    this.commands.push("bootstrap");
    this.initialized = true;
    this.systemId = this.world.newSystemId();
    this.standby = false;
    this.running = true;
    this.lsn = 1000;
    return this.systemId;
  }

  /** A restore of the world's backup to its target: a new timeline, promoted and running. */
  async restore(): Promise<string> {
    this.commands.push("restore");
    this.initialized = true;
    this.systemId = this.world.backupSystemId;
    this.standby = false;
    this.running = true;
    this.timeline = 2;
    this.history = [{ timeline: 1, switchLsn: 900 }];
    this.lsn = 1000;
    return this.systemId;
  }

  /** A replica restored from the same backup: behind the leader, on its timeline once it replays the history. */
  async restoreReplica(leader: LeaderTimeline): Promise<void> {
    this.commands.push(`restoreReplica ${leader.timeline}`);
    this.initialized = true;
    this.systemId = this.world.backupSystemId;
    this.standby = true;
    this.timeline = leader.timeline;
    this.lsn = 500;
  }

  async startPrimary(synchronousStandbys?: string[]): Promise<void> {
    this.commands.push("startPrimary");
    // The model's syncStandbys is what the engine remembers (an agent restart is not modelled).
    if (synchronousStandbys && !this.syncStandbys.length) {
      this.syncStandbys = [...synchronousStandbys];
      this.syncCount = undefined;
    }
    this.standby = false;
    this.crashedInProduction = false;
    this.running = true;
  }

  async startReplica(upstream: HostPort | null): Promise<void> {
    this.commands.push(`startReplica ${upstream ? upstream.port : "-"}`);
    this.syncStandbys = [];
    this.syncCount = undefined;
    this.standby = true;
    this.crashedInProduction = false;
    this.upstream = upstream ?? undefined;
    this.running = true;
    this.pull();
  }

  async followUpstream(upstream: HostPort | null): Promise<void> {
    this.commands.push(`follow ${upstream ? upstream.port : "-"}`);
    this.upstream = upstream ?? undefined;
    this.pull();
  }

  async promote(synchronousStandbys?: string[]): Promise<void> {
    this.commands.push(synchronousStandbys ? `promote waiting for ${synchronousStandbys.join(",")}` : "promote");
    if (!this.running || !this.standby) throw new Error("not a running replica");
    if (synchronousStandbys) {
      this.syncStandbys = [...synchronousStandbys];
      this.syncCount = undefined;
    }
    this.standby = false;
    this.upstream = undefined;
    this.timeline += 1;
  }

  async stop(): Promise<void> {
    this.commands.push("stop");
    if (this.stopGate) await this.stopGate;
    // A clean shutdown sends every WAL record to the connected standbys before the server exits.
    if (this.running && !this.standby) for (const f of this.followers()) f.lsn = Math.max(f.lsn, this.lsn);
    this.running = false;
    this.streaming = false;
  }

  async fence(): Promise<void> {
    this.commands.push("fence");
    if (this.running && !this.standby) this.crashedInProduction = true;
    this.running = false;
    this.streaming = false;
  }

  async baseBackup(source: HostPort): Promise<void> {
    this.commands.push(`baseBackup ${source.port}`);
    const up = this.world.byAddress(source);
    if (!up || !up.running) throw new Error("source not running");
    this.initialized = true;
    this.systemId = up.systemId;
    this.lsn = up.lsn;
    this.timeline = up.timeline;
    this.standby = true;
  }

  async rewind(source: HostPort): Promise<RewindResult> {
    this.commands.push(`rewind ${source.port}`);
    const up = this.world.byAddress(source);
    if (!up || !up.running) return "unreachable";
    // pg_rewind rolls back our divergent WAL to the fork point; the model keeps the upstream's view.
    this.lsn = Math.min(this.lsn, up.lsn);
    this.timeline = up.timeline;
    this.crashedInProduction = false;
    this.standby = true;
    return "done";
  }

  async answers(source: HostPort): Promise<boolean> {
    return this.world.byAddress(source)?.running ?? false;
  }

  async wipe(): Promise<void> {
    this.commands.push("wipe");
    this.initialized = false;
    this.systemId = undefined;
    this.lsn = 0;
  }

  async syncSlots(): Promise<void> {}

  /** Standbys a commit waits for (the model's synchronous_standby_names): the first, or any syncCount of them. */
  syncStandbys: string[] = [];
  syncCount?: number;

  async setSynchronousStandbys(names: string[], count?: number): Promise<void> {
    this.commands.push(`sync ${count === undefined ? "" : `${count}:`}${names.join(",") || "-"}`);
    this.syncStandbys = [...names];
    this.syncCount = names.length ? count : undefined;
  }

  async checkpoint(): Promise<void> {
    this.commands.push("checkpoint");
  }

  async restart(o: RestartOptions): Promise<RestartResult> {
    if (!this.running) throw new Error("not running");
    const primary = !this.standby;
    await this.stop();
    await this.restartGate;
    this.commands.push("restart");
    if (primary && !o.mayStartPrimary()) return "stopped";
    this.running = true;
    this.pendingRestart = false;
    this.pending = [];
    this.pull();
    return "running";
  }

  async reload(): Promise<ReloadResult> {
    this.commands.push("reload");
    return this.running ? { pendingRestart: this.pendingRestart } : {};
  }

  async reinitialize(source: HostPort): Promise<void> {
    if (this.running && !this.standby) throw new Error("a primary is not reinitialized");
    await this.stop();
    await this.wipe();
    await this.baseBackup(source);
    await this.startReplica(source);
  }

  /** The parameters last set (dynamic config); a name listed in `restartParameters` stays pending until a restart. */
  parameters: Record<string, string | number | boolean> = {};
  restartParameters = new Set<string>(["shared_buffers", "max_connections"]);
  private pending: string[] = [];

  async setParameters(parameters: Readonly<Record<string, string | number | boolean>>): Promise<boolean> {
    this.commands.push(`parameters ${JSON.stringify(parameters)}`);
    const changed = Object.keys({ ...this.parameters, ...parameters }).filter((k) => this.parameters[k] !== parameters[k]);
    this.parameters = { ...parameters };
    const running = (await this.status()).running;
    if (running) this.pending = [...new Set([...this.pending, ...changed.filter((k) => this.restartParameters.has(k))])].sort();
    return running;
  }

  async pendingRestartParameters(): Promise<string[]> {
    return (await this.status()).running ? [...this.pending] : [];
  }
}
