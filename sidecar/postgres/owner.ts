/**
 * PostgresOwner: the one owner of the local PostgreSQL as the rest of the agent sees it. The HA
 * driver, its executor and the REST API send it typed commands and read its process state; none of
 * them can write that state (it has no setter): every transition is in this file.
 *
 * The commands themselves run in the engine it wraps: PostgresManager on a node (process, files,
 * SQL, one command at a time), a model of PostgreSQL in the simulated cluster. So the simulation
 * runs these same transitions, not a copy of them.
 */
import type {
  DataDirInfo,
  HostPort,
  LeaderTimeline,
  PgOperation,
  PgProcessState,
  PgStatus,
  PostgresControl,
  ReloadResult,
  RestartOptions,
  RestartResult,
  RewindResult,
} from "./types";

type ExitListener = (code: number | null, signal: NodeJS.Signals | null) => void;

export class PostgresOwner {
  #process: PgProcessState = "stopped";
  #operation?: PgOperation;
  #operationDone: Promise<unknown> = Promise.resolve();
  readonly #exitListeners = new Set<ExitListener>();

  constructor(private readonly engine: PostgresControl) {
    engine.onUnexpectedExit((code, signal) => {
      this.#process = "crashed";
      for (const listener of this.#exitListeners) listener(code, signal);
    });
  }

  /** What the process is doing beyond the live status (starting, rewinding, fenced...): published in the member key and the API. */
  get process(): PgProcessState {
    return this.#process;
  }

  /** An operator's restart or reinitialize in progress: the HA loop leaves the process alone meanwhile (row OP1). */
  get operation(): PgOperation | undefined {
    return this.#operation;
  }

  /** Resolves when the operator's command in progress (if any) has ended, however it ended. */
  operationDone(): Promise<void> {
    return this.#operationDone.then(
      () => undefined,
      () => undefined,
    );
  }

  // ---- reads ---------------------------------------------------------------------------------

  dataDirInfo(): Promise<DataDirInfo> {
    return this.engine.dataDirInfo();
  }

  /**
   * The live status. It also settles the process state with what it found: a server that answers
   * after a crash or a stop (e.g. started by hand) is "running", a "running" one that is gone is
   * "stopped". A command in progress (starting, rewinding...) keeps its state until it ends.
   */
  async status(): Promise<PgStatus> {
    const s = await this.engine.status();
    if (s.running && (this.#process === "crashed" || this.#process === "stopped")) this.#process = "running";
    if (!s.running && this.#process === "running") this.#process = "stopped";
    return s;
  }

  /** The source accepts TCP connections now. */
  answers(source: HostPort): Promise<boolean> {
    return this.engine.answers(source);
  }

  /** Called after the state turned "crashed": the postmaster exited without being asked to. */
  onUnexpectedExit(cb: ExitListener): () => void {
    this.#exitListeners.add(cb);
    return () => this.#exitListeners.delete(cb);
  }

  // ---- commands that move the process state -------------------------------------------------

  /** Takes over a postmaster a previous agent left running; true (and "running") when there was one. */
  async adopt(): Promise<boolean> {
    const adopted = await this.engine.adopt();
    if (adopted) this.#process = "running";
    return adopted;
  }

  /** initdb, configure, start as primary, create the replication role; returns the system identifier. */
  bootstrap(): Promise<string> {
    return this.transition("bootstrapping", "running", () => this.engine.bootstrap());
  }

  /** Restores bootstrap.fromBackup to its target and promotes; returns the system identifier (row B1). */
  restore(): Promise<string> {
    return this.transition("restoring", "running", () => this.engine.restore());
  }

  /** Restores the backup the cluster was restored from as a replica of the leader's timeline (stays stopped; row B2). */
  restoreReplica(leader: LeaderTimeline): Promise<void> {
    return this.transition("creating replica", "stopped", () => this.engine.restoreReplica(leader));
  }

  /** With synchronousStandbys: the wait to start with unless the engine still has the one the HA loop last set. */
  startPrimary(synchronousStandbys?: string[]): Promise<void> {
    return this.transition("starting", "running", () => this.engine.startPrimary(synchronousStandbys));
  }

  /** Starts as a replica of upstream (null: read-only, no upstream). */
  startReplica(upstream: HostPort | null): Promise<void> {
    return this.transition("starting", "running", () => this.engine.startReplica(upstream));
  }

  /** Escalating shutdown (smart → fast → immediate unless a mode is given). */
  stop(mode?: "smart" | "fast" | "immediate"): Promise<void> {
    return this.transition("stopping", "stopped", () => this.engine.stop(mode));
  }

  /** Immediate stop that waits behind nothing: the leader's last defence before its lease expires (also its demotion). */
  fence(): Promise<void> {
    return this.transition("stopping", "fenced", () => this.engine.fence());
  }

  /** pg_rewind from source (the server is stopped and stays stopped). */
  rewind(source: HostPort): Promise<RewindResult> {
    return this.transition("rewinding", "stopped", () => this.engine.rewind(source));
  }

  /**
   * The first member of a standby cluster (row SB1): a base backup of the source cluster's primary
   * endpoint into the empty data directory (stays stopped); returns the source's system identifier,
   * which is this cluster's from now on.
   */
  copySource(source: HostPort): Promise<string> {
    return this.transition("bootstrapping", "stopped", async () => {
      await this.engine.wipe();
      await this.engine.baseBackup(source);
      const info = await this.engine.dataDirInfo();
      if (!info.systemId) throw new Error("the copy of the source has no system identifier (pg_controldata)");
      return info.systemId;
    });
  }

  /**
   * Replaces the data directory with the latest backup from the repository (delta restore; the
   * server replays the archive, then streams: the leader serves only the tail), or, without one, a
   * base backup of source. The server is stopped and stays stopped.
   */
  createReplica(source: HostPort): Promise<void> {
    return this.transition("creating replica", "stopped", async () => {
      if (await this.engine.restoreFromArchive?.()) return;
      await this.engine.wipe();
      await this.engine.baseBackup(source);
    });
  }

  /**
   * The operator's restart: "restarting" from the stop to the start, then "running" (or "stopped"
   * when a primary may not come back: RestartOptions.mayStartPrimary). One at a time with reinitialize.
   */
  restart(options: RestartOptions): Promise<RestartResult> {
    return this.operate("restart", async () => {
      const result = await this.transition("restarting", "running", () => this.engine.restart(options));
      if (result === "stopped") this.#process = "stopped";
      return result;
    });
  }

  /** The operator's rebuild of a replica: "creating replica" until it runs again as source's replica. */
  reinitialize(source: HostPort): Promise<void> {
    return this.operate("reinitialize", () => this.transition("creating replica", "running", () => this.engine.reinitialize(source)));
  }

  // ---- commands that leave the process state as it is ---------------------------------------

  /** Our files rewritten and re-read by PostgreSQL (pg_reload_conf). */
  reload(): Promise<ReloadResult> {
    return this.engine.reload();
  }

  followUpstream(upstream: HostPort | null): Promise<void> {
    return this.engine.followUpstream(upstream);
  }

  /**
   * A running replica becomes the primary (it stays "running"). With `synchronousStandbys`, commits
   * wait for those standbys from the first instant the server takes writes.
   */
  promote(synchronousStandbys?: string[]): Promise<void> {
    return this.engine.promote(synchronousStandbys);
  }

  /** Empties the data directory of a stopped server. */
  wipe(): Promise<void> {
    return this.engine.wipe();
  }

  syncSlots(wanted: string[]): Promise<void> {
    return this.engine.syncSlots(wanted);
  }

  checkpoint(): Promise<void> {
    return this.engine.checkpoint();
  }

  setSynchronousStandbys(names: string[], count?: number): Promise<void> {
    return this.engine.setSynchronousStandbys(names, count);
  }

  setParameters(parameters: Readonly<Record<string, string | number | boolean>>): Promise<boolean> {
    return this.engine.setParameters(parameters);
  }

  pendingRestartParameters(): Promise<string[]> {
    return this.engine.pendingRestartParameters();
  }

  // ---- internals -----------------------------------------------------------------------------

  /** Marks an operator's command as in progress for its whole run; refuses a second one meanwhile. */
  private async operate<T>(op: PgOperation, fn: () => Promise<T>): Promise<T> {
    if (this.#operation) throw new Error(`${this.#operation} already in progress`);
    this.#operation = op;
    const run = fn();
    this.#operationDone = run;
    try {
      return await run;
    } finally {
      this.#operation = undefined;
    }
  }

  /** `during` while fn runs, then `after`; "stopped" when it fails (the status read settles it further). */
  private async transition<T>(during: PgProcessState, after: PgProcessState, fn: () => Promise<T>): Promise<T> {
    this.#process = during;
    try {
      const result = await fn();
      this.#process = after;
      return result;
    } catch (e) {
      this.#process = "stopped";
      throw e;
    }
  }
}
