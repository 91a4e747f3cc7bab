/**
 * PostgresManager runs the commands of PostgresOwner (owner.ts, the one owner of the process state)
 * on the local PostgreSQL. Commands run one at a time through an internal queue (except `fence`,
 * which must never wait behind anything, and the read-only `status`/`dataDirInfo`). The files it keeps
 * for the server's role are server-config.ts; the commands that build a data directory (initdb,
 * restores, copies, pg_rewind) are data-dir-commands.ts.
 */
import { parseSynchronousStandbyNames, slotName, type ParamValue } from "./conf";
import { tcpAnswers } from "./copy";
import { dataDirFiles } from "./controldata";
import {
  copyFrom,
  initAndStart,
  readDataDirInfo,
  restoreFirstMember,
  restoreFromRepository,
  restoreOtherMember,
  rewindFrom,
  type CommandContext,
} from "./data-dir-commands";
import { clearDir } from "./files";
import type { PostgresManagerOptions } from "./options";
import { Postmaster, type StopMode } from "./postmaster";
import { sleep } from "./process";
import { ServerConfig, type Role } from "./server-config";
import { syncPhysicalSlots } from "./slots";
import { LocalSql } from "./sql";
import { queryStatus } from "./status";
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
} from "./types";

export type { Logger, StopMode } from "./postmaster";
export type { Credentials, PostgresManagerOptions, RestoreHooks } from "./options";

/** Seconds a replica gets after a reload to connect its WAL receiver to the new upstream before we restart it. */
const FOLLOW_TIMEOUT_MS = 5000;

export class PostgresManager implements PostgresControl {
  private readonly pm: Postmaster;
  /** status() uses one connection with short limits: it must answer fast or say "not running". */
  private readonly statusSql: LocalSql;
  /** Commands (promote, checkpoint...) may take long: no statement timeout. */
  private readonly commandSql: LocalSql;
  private queue: Promise<unknown> = Promise.resolve();
  /** Our files in the data directory and the state they are rendered from. */
  private readonly files: ServerConfig;
  /** What the data-directory commands (data-dir-commands.ts) use of this manager. */
  private readonly ctx: CommandContext;

  constructor(private readonly o: PostgresManagerOptions) {
    this.files = new ServerConfig(o);
    this.pm = new Postmaster({
      binDir: o.binDir,
      dataDir: o.dataDir,
      socketDir: this.files.socketDir,
      port: o.listen.port,
      superuser: o.superuser.username,
      logFile: o.logFile,
      runAs: o.runAs,
      logger: o.log,
      stopTimeouts: o.stopTimeouts,
    });
    const sql = { socketDir: this.files.socketDir, port: o.listen.port, user: o.superuser.username, applicationName: "hapg-agent" };
    this.statusSql = new LocalSql({ ...sql, statementTimeoutMs: 1500, clientTimeoutMs: 2000 });
    this.commandSql = new LocalSql({ ...sql, statementTimeoutMs: 0, clientTimeoutMs: 0 });
    this.ctx = {
      o,
      pm: this.pm,
      files: this.files,
      sql: this.commandSql,
      step: (name, fn) => this.step(name, fn),
      requireStopped: (what) => this.requireStopped(what),
      startAs: (role, timeoutS) => this.startAs(role, timeoutS),
      closeSql: () => this.closeSql(),
    };
  }

  // ---- reads (not queued) ----------------------------------------------------------------------

  dataDirInfo(): Promise<DataDirInfo> {
    return readDataDirInfo(this.o);
  }

  /** Never throws for "not running": returns running:false (with pid if a postmaster exists but does not accept connections). */
  async status(): Promise<PgStatus> {
    const pid = this.pm.livePid();
    if (pid === undefined) return { running: false };
    try {
      return await queryStatus(this.statusSql, pid, this.files.upstream);
    } catch (e) {
      this.o.log.debug({ err: (e as Error).message }, "status: postgres does not answer");
      return { running: false, pid };
    }
  }

  onUnexpectedExit(cb: (code: number | null, signal: NodeJS.Signals | null) => void): void {
    this.pm.onUnexpectedExit((e) => {
      void this.closeSql();
      cb(e.code, e.signal);
    });
  }

  /** Takes over a postmaster a previous agent left running (postmaster.pid names a live postgres). */
  adopt(): Promise<boolean> {
    return this.command("adopt", async () => this.pm.adopt());
  }

  // ---- commands (queued) ---------------------------------------------------------------------

  /** initdb, our config, start as primary, create the replication role. Returns the system identifier. */
  bootstrap(): Promise<string> {
    return this.command("bootstrap", () => initAndStart(this.ctx));
  }

  /**
   * The first member of a cluster created from a backup: restores it (pgBackRest), replays the
   * source's archive to the target, promotes, then configures as bootstrap does (roles, passwords:
   * this cluster's, not the source's). On failure the data directory is emptied again.
   */
  restore(): Promise<string> {
    return this.command("restore", () => restoreFirstMember(this.ctx));
  }

  /** Another member of a cluster created from a backup: restores from the backup, not from the leader (stays stopped). */
  restoreReplica(leader: LeaderTimeline): Promise<void> {
    return this.command("restoreReplica", () => restoreOtherMember(this.ctx, leader));
  }

  /**
   * Starts as primary (no standby.signal). No-op when already running as primary. With
   * synchronousStandbys, that wait unless the HA loop set one since this manager began (after a
   * crash of PostgreSQL alone, the one it set; after an agent restart, which forgot it, the given one).
   */
  startPrimary(synchronousStandbys?: string[]): Promise<void> {
    return this.command("startPrimary", async () => {
      if (this.pm.livePid() !== undefined) {
        if (await this.inRecovery()) throw new Error("startPrimary: postgres runs as a replica: promote() it instead");
        return;
      }
      if (synchronousStandbys) this.files.setSyncWaitIfUnset(synchronousStandbys);
      this.files.setFormerPrimary(false);
      await this.startAs({ primary: true });
    });
  }

  /** Starts as a replica of upstream (null: read-only, no upstream). When already running as a replica, follows upstream. */
  startReplica(upstream: HostPort | null): Promise<void> {
    return this.command("startReplica", async () => {
      if (this.pm.livePid() !== undefined) {
        if (!(await this.inRecovery())) throw new Error("startReplica: postgres runs as a primary: stop (and rewind) it first");
        return this.follow(upstream);
      }
      const files = dataDirFiles(this.o.dataDir);
      if (upstream === null && files.initialized && !files.standbySignal) this.files.setFormerPrimary(true);
      await this.startAs({ primary: false, upstream });
    });
  }

  /** Points a replica at a new upstream by reload (PG 13+), restarting only if the WAL receiver stays on the old one. */
  followUpstream(upstream: HostPort | null): Promise<void> {
    return this.command("followUpstream", async () => {
      if (this.pm.livePid() === undefined) return this.files.write({ primary: false, upstream });
      if (!(await this.inRecovery())) throw new Error("followUpstream: postgres runs as a primary: stop (and rewind) it first");
      await this.follow(upstream);
    });
  }

  /**
   * pg_promote(wait => true), then our primary config (no primary_conninfo) so a restart stays primary.
   * synchronous_standby_names is `synchronousStandbys` (none when absent) on the replica first (a standby
   * ignores it until it is promoted): the server never acknowledges a commit without them.
   *
   * The replica normally runs with that wait already (promotionWait): no reload here then. A reload
   * right before pg_promote costs up to wal_retrieve_retry_interval while the upstream is gone: the
   * SIGHUP wakes the startup process out of its retry sleep, it restarts a WAL receiver, and when the
   * promotion request then finds it streaming, PostgreSQL (15 and 16 at least) sleeps out the retry interval before
   * it ends recovery, with no signal left to wake it. Only a wait that changed since (the synchronous
   * mode changed live) is reloaded here.
   */
  promote(synchronousStandbys?: string[]): Promise<void> {
    return this.command("promote", async () => {
      if (!(await this.inRecovery())) return;
      const [cur] = await this.commandSql.query<{ v: string }>("SELECT current_setting('synchronous_standby_names') AS v");
      this.files.setSyncWait(synchronousStandbys ?? []);
      if (cur.v !== this.files.renderedSyncWait()) {
        const upstream = this.files.upstream ?? (await this.status()).upstream ?? null;
        this.files.write({ primary: false, upstream, keepSyncWait: true });
        await this.reloadAndAwaitSync();
      }
      const [r] = await this.step("pg_promote", () => this.commandSql.query<{ ok: boolean }>("SELECT pg_promote(true, 60) AS ok"));
      if (!r.ok) throw new Error("promote: pg_promote did not finish within 60 s");
      while (await this.inRecovery()) await sleep(50);
      this.files.setFormerPrimary(false);
      this.files.write({ primary: true });
      await this.commandSql.query("SELECT pg_reload_conf()");
    });
  }

  /**
   * A running primary this manager did not set a wait for (it adopted it from a previous agent): the
   * wait it runs with, so that rewriting its config keeps commits waiting for the standbys the HA
   * loop chose, until the loop sets one itself.
   */
  private async learnSyncWait(): Promise<void> {
    if (this.files.syncWaitKnown) return;
    const [cur] = await this.commandSql.query<{ v: string }>("SELECT current_setting('synchronous_standby_names') AS v");
    const w = parseSynchronousStandbyNames(cur.v);
    this.files.setSyncWait(w.names, w.count);
  }

  /** Escalating shutdown smart → fast → immediate → SIGKILL, with stopTimeouts (see Postmaster.stop). No-op when stopped. */
  stop(mode?: StopMode): Promise<void> {
    return this.command(`stop${mode ? ` ${mode}` : ""}`, async () => {
      await this.pm.stop(mode);
      await this.closeSql();
    });
  }

  /** Immediate stop, bypassing the queue; returns within ~1.5 s (see Postmaster.fence). */
  async fence(): Promise<void> {
    await this.pm.fence();
    void this.closeSql();
  }

  /** pg_basebackup into the empty data dir as the replication user; on failure the data dir is left empty. */
  baseBackup(source: HostPort): Promise<void> {
    return this.command("baseBackup", () => copyFrom(this.ctx, source));
  }

  /**
   * A requested restart, as one command: no HA action can run between the stop and the start. A
   * replica comes back on the upstream it had; a primary only when mayStartPrimary() still says so.
   */
  restart(o: RestartOptions): Promise<RestartResult> {
    return this.command("restart", async () => {
      if (this.pm.livePid() === undefined) throw new Error("restart: postgres is not running: nothing to restart");
      const role: Role = (await this.inRecovery()) ? { primary: false, upstream: this.files.upstream } : { primary: true };
      await this.pm.stop("fast");
      await this.closeSql();
      if (role.primary && !o.mayStartPrimary()) return "stopped";
      await this.startAs(role, o.timeoutS);
      return "running";
    });
  }

  /** New server parameters for the next write of postgresql.conf (reload); refused, naming the parameter, when invalid. */
  replaceParameters(parameters: Readonly<Record<string, ParamValue>>): void {
    this.files.setParameters(parameters);
  }

  /** Our files rewritten for the role the server runs in (undoing edits by hand), then pg_reload_conf(). */
  reload(): Promise<ReloadResult> {
    return this.command("reload", async () => {
      if (this.pm.livePid() === undefined) return {};
      const inRecovery = await this.inRecovery();
      if (!inRecovery) await this.learnSyncWait();
      this.files.write(inRecovery ? { primary: false, upstream: this.files.upstream } : { primary: true });
      const [before] = await this.commandSql.query<{ t: string }>("SELECT pg_conf_load_time()::text AS t");
      await this.commandSql.query("SELECT pg_reload_conf()");
      // pg_reload_conf only signals: wait until this backend has re-read the files, so pending_restart is current.
      const deadline = Date.now() + FOLLOW_TIMEOUT_MS;
      for (;;) {
        const [r] = await this.commandSql.query<{ t: string; pending: boolean | null }>(
          "SELECT pg_conf_load_time()::text AS t, (SELECT bool_or(pending_restart) FROM pg_settings) AS pending",
        );
        if (r.t !== before.t || Date.now() > deadline) return { pendingRestart: r.pending === true };
        await sleep(20);
      }
    });
  }

  /** A replica rebuilt from source as one command: fast stop, empty data directory, base backup, start. */
  reinitialize(source: HostPort): Promise<void> {
    return this.command("reinitialize", async () => {
      if (this.pm.livePid() !== undefined) {
        if (!(await this.inRecovery())) throw new Error("reinitialize: postgres runs as a primary: only a replica is rebuilt");
        await this.pm.stop("fast");
        await this.closeSql();
      }
      clearDir(this.o.dataDir);
      this.files.setFormerPrimary(false);
      await copyFrom(this.ctx, source);
      await this.startAs({ primary: false, upstream: source });
    });
  }

  /**
   * pg_rewind from source as the superuser over TCP; the server must be stopped. PG 13+ pg_rewind
   * first runs single-user crash recovery when the target was not shut down cleanly (e.g. after
   * fence()). Ends with our replica config and standby.signal (no upstream) so an accidental start
   * is read-only. "failed": the caller falls back to wipe() + baseBackup(); "unreachable": the
   * source did not answer, nothing changed, try again later.
   */
  rewind(source: HostPort): Promise<RewindResult> {
    return this.command("rewind", () => {
      this.pm.clearStaleLocks();
      return rewindFrom(this.ctx, source);
    });
  }

  /**
   * A replica from the backup repository instead of a copy of the leader: the latest backup is
   * restored over the data directory (delta: files that match stay), and the server then replays the
   * archive and streams the rest. False: not configured, no backup yet, or the restore failed (logged);
   * the data directory may then be half-restored: the caller wipes it and copies from the leader.
   */
  restoreFromArchive(): Promise<boolean> {
    return this.command("restoreFromArchive", () => restoreFromRepository(this.ctx));
  }

  answers(source: HostPort): Promise<boolean> {
    return tcpAnswers(source);
  }

  /** Removes the data dir's contents (the dir itself stays: it may be a mount point). */
  wipe(): Promise<void> {
    return this.command("wipe", async () => {
      this.requireStopped("wipe");
      clearDir(this.o.dataDir);
      this.files.setFormerPrimary(false);
    });
  }

  /**
   * The leader's: creates missing physical slots for `wanted` members, drops other inactive permanent
   * physical slots. On a primary, or on a standby cluster's standby leader (its replicas cascade from it).
   */
  syncSlots(wanted: string[]): Promise<void> {
    return this.command("syncSlots", async () => {
      await syncPhysicalSlots(this.commandSql, new Set(wanted.map(slotName).filter((s) => s !== this.files.slot)), this.o.log);
    });
  }

  /**
   * New server parameters (the dynamic config changed). A stopped server gets them at its next start;
   * a running one has postgresql.conf rewritten for its current role and reloaded. Returns whether it
   * reloaded. Refuses (naming the parameter) what the schema refuses, before anything is written.
   */
  setParameters(parameters: Readonly<Record<string, ParamValue>>): Promise<boolean> {
    return this.command("setParameters", async () => {
      this.files.setParameters(parameters);
      if (this.pm.livePid() === undefined) return false;
      const primary = !(await this.inRecovery());
      if (primary) await this.learnSyncWait();
      this.files.write(primary ? { primary: true } : { primary: false, upstream: this.files.upstream });
      await this.commandSql.query("SELECT pg_reload_conf()");
      return true;
    });
  }

  /** Parameters changed in postgresql.conf that take effect only after a restart (pg_settings.pending_restart). */
  async pendingRestartParameters(): Promise<string[]> {
    if (this.pm.livePid() === undefined) return [];
    const rows = await this.statusSql.query<{ name: string }>("SELECT name FROM pg_settings WHERE pending_restart ORDER BY name");
    return rows.map((r) => r.name);
  }

  checkpoint(): Promise<void> {
    return this.command("checkpoint", async () => {
      await this.commandSql.query("CHECKPOINT");
    });
  }

  /** Stops watching and closes connections; PostgreSQL keeps running (the next agent adopts it). */
  async close(): Promise<void> {
    this.pm.close();
    await this.closeSql();
  }

  // ---- internals -----------------------------------------------------------------------------

  /** Runs fn after every earlier command; one log line with its duration. */
  private command<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const run = async () => {
      const t0 = Date.now();
      this.o.log.debug({ command: name }, "command started");
      try {
        const result = await fn();
        this.o.log.info({ command: name, ms: Date.now() - t0 }, "command done");
        return result;
      } catch (e) {
        this.o.log.error({ command: name, ms: Date.now() - t0, err: (e as Error).message }, "command failed");
        throw e;
      }
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  private async step<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const t0 = Date.now();
    const result = await fn();
    this.o.log.info({ step: name, ms: Date.now() - t0 }, "step done");
    return result;
  }

  private requireStopped(what: string): void {
    const pid = this.pm.livePid();
    if (pid !== undefined) throw new Error(`${what}: postgres is running (pid ${pid}): stop it first`);
  }

  private async inRecovery(): Promise<boolean> {
    if (this.pm.livePid() === undefined) throw new Error("postgres is not running");
    const [r] = await this.commandSql.query<{ r: boolean }>("SELECT pg_is_in_recovery() AS r");
    return r.r;
  }

  /** Rewrites postgresql.conf with the new synchronous_standby_names and waits until the reload took effect. */
  setSynchronousStandbys(names: string[], count?: number): Promise<void> {
    return this.command("setSynchronousStandbys", async () => {
      this.files.setSyncWait(names, count);
      this.files.write({ primary: true });
      await this.reloadAndAwaitSync();
    });
  }

  /** Reloads and waits until synchronous_standby_names is the one we rendered. */
  private async reloadAndAwaitSync(): Promise<void> {
    await this.commandSql.query("SELECT pg_reload_conf()");
    const want = this.files.renderedSyncWait();
    const deadline = Date.now() + FOLLOW_TIMEOUT_MS;
    for (;;) {
      const [r] = await this.commandSql.query<{ v: string }>("SELECT current_setting('synchronous_standby_names') AS v");
      if (r.v === want) return;
      if (Date.now() > deadline)
        throw new Error(`synchronous_standby_names is still "${r.v}" ${FOLLOW_TIMEOUT_MS} ms after the reload (wanted "${want}")`);
      await sleep(20);
    }
  }

  private async startAs(role: Role, timeoutS?: number): Promise<void> {
    this.files.write(role);
    await this.step("start postgres", () => this.pm.start((timeoutS ?? this.o.startTimeout ?? 300) * 1000));
  }

  private async follow(upstream: HostPort | null): Promise<void> {
    this.files.write({ primary: false, upstream });
    await this.commandSql.query("SELECT pg_reload_conf()");
    const deadline = Date.now() + FOLLOW_TIMEOUT_MS;
    let sender: HostPort | undefined;
    for (;;) {
      const [w] = await this.commandSql.query<{ host: string | null; port: number | null }>(
        "SELECT sender_host AS host, sender_port AS port FROM pg_stat_wal_receiver",
      );
      sender = w?.host && w.port ? { host: w.host, port: w.port } : undefined;
      // A standby cluster's source may list several hosts (host=a,b): the receiver is on one of them.
      const hosts = upstream?.host.split(",");
      const onNew = upstream ? sender !== undefined && hosts!.includes(sender.host) && sender.port === upstream.port : sender === undefined;
      if (onNew) return;
      if (Date.now() > deadline) break;
      await sleep(100);
    }
    if (sender === undefined) {
      // Reloaded, no receiver yet: the startup process retries every wal_retrieve_retry_interval.
      this.o.log.warn({ upstream }, "WAL receiver not connected yet after reload; PostgreSQL keeps retrying");
      return;
    }
    this.o.log.warn({ sender, upstream }, "WAL receiver still on the old upstream after reload: restarting");
    await this.pm.stop("fast");
    await this.closeSql();
    await this.startAs({ primary: false, upstream });
  }

  private async closeSql(): Promise<void> {
    await Promise.all([this.statusSql.close(), this.commandSql.close()]);
  }
}
