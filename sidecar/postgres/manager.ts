/**
 * PostgresManager runs the commands of PostgresOwner (owner.ts, the one owner of the process state)
 * on the local PostgreSQL. Commands run one at a time through an internal queue (except `fence`,
 * which must never wait behind anything, and the read-only `status`/`dataDirInfo`).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { HaTiming } from "../settings/timing";
import {
  renderPgpass,
  renderPostgresqlConf,
  renderSynchronousStandbyNames,
  slotName,
  type ParamValue,
  type PostgresqlConfOptions,
} from "./conf";
import { CopyOptions, runBaseBackup, runRewind, tcpAnswers } from "./copy";
import { controlDataToInfo, dataDirFiles, formerPrimaryMarker } from "./controldata";
import { clearDir, ensureDir, writeOwned, writeServerFiles } from "./files";
import { Postmaster, type Logger, type StopMode } from "./postmaster";
import { runToolChecked, sleep, tailFile, type RunAs } from "./process";
import { syncPhysicalSlots } from "./slots";
import { ensureReplicationRole, LocalSql, setPassword } from "./sql";
import { queryStatus } from "./status";
import { cloneRestoreCommand } from "../restore/plan";
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

export interface Credentials {
  username: string;
  password: string;
}

export interface PostgresManagerOptions {
  /** Directory with postgres, initdb, pg_basebackup... (findPgBinDir). */
  binDir: string;
  dataDir: string;
  listen: HostPort;
  /** How other members reach this server (not used for local connections; kept for status/logs). */
  connect: HostPort;
  parameters: Readonly<Record<string, ParamValue>>;
  /** The HA timing, resolved once from the settings (settings/timing.ts), for the parameters derived from it. */
  timing: HaTiming;
  superuser: Credentials;
  replication: Credentials;
  allowedCidrs: readonly string[];
  /** Seconds: smart → fast and fast → immediate (see Postmaster.stop). */
  stopTimeouts: { smart: number; fast: number };
  memberName: string;
  /** The postmaster's stdout/stderr are appended here. */
  logFile: string;
  /** Run every child process as this user (tests run as root; PostgreSQL refuses root). */
  runAs?: RunAs;
  log: Logger;
  /** pgpass file (0600) for replication and rewind connections; default `<dataDir>.pgpass`, outside the data dir. */
  passfile?: string;
  /** Private (0700) directory for the Unix socket; default `<dataDir>.sock`, outside the data dir (see conf.ts). */
  socketDir?: string;
  /** Seconds to wait for a started server to accept connections (crash recovery may be long). Default 300. */
  startTimeout?: number;
  /** initdb --locale. Default C.UTF-8: UTF-8 text with code-point collation, stable across glibc upgrades. */
  locale?: string;
  /** Continuous archiving parameters (archive_mode, archive_command, restore_command, archive_timeout), when backups are on. */
  archive?: Readonly<Record<string, ParamValue>>;
  /**
   * Restores the data directory from the backup repository (pgBackRest delta restore, as a standby);
   * true when done, false when there is nothing to restore from. Absent: replicas copy from the leader.
   */
  restoreFromArchive?: () => Promise<boolean>;
  /** A cluster created from another's backup (`bootstrap.fromBackup`): the restores (sidecar/restore/source.ts). */
  restore?: RestoreHooks;
  /**
   * The synchronous wait a promotion starts with in the current synchronous mode (sidecar/ha/promotion.ts),
   * read whenever a replica's config is written: a standby ignores synchronous_standby_names, so it runs
   * with that wait already loaded and its promotion needs no reload (see promote()). Absent: none.
   */
  promotionWait?: () => readonly string[] | undefined;
}

/** The restores of a cluster created from a backup, as the manager runs them (RestoreSource implements them). */
export interface RestoreHooks {
  /** Restores the backup into the empty data directory; returns the recovery parameters to start with. */
  restorePrimary(): Promise<Record<string, ParamValue>>;
  /** Restores a backup from before the fork into the empty data directory, as a standby of the leader's timeline. */
  restoreReplica(leader: LeaderTimeline): Promise<void>;
  /** restore_command reading the source's archive. */
  restoreCommand(): string;
}

/** keepSyncWait: a replica about to be promoted keeps the synchronous_standby_names it must start with (not promotionWait's). */
type Role = { primary: true } | { primary: false; upstream: HostPort | null; keepSyncWait?: boolean };

/** Seconds a replica gets after a reload to connect its WAL receiver to the new upstream before we restart it. */
const FOLLOW_TIMEOUT_MS = 5000;

export class PostgresManager implements PostgresControl {
  private readonly pm: Postmaster;
  /** status() uses one connection with short limits: it must answer fast or say "not running". */
  private readonly statusSql: LocalSql;
  /** Commands (promote, checkpoint...) may take long: no statement timeout. */
  private readonly commandSql: LocalSql;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly passfile: string;
  private readonly socketDir: string;
  private readonly slot: string;
  /** synchronous_standby_names as the HA loop last set it (rendered into postgresql.conf on a primary). */
  private syncStandbys: string[] = [];
  /** Quorum commit: ANY syncCount of syncStandbys; undefined: the first of them. */
  private syncCount?: number;
  /** The upstream we last configured (reported by status() while the WAL receiver is down). */
  private upstream: HostPort | null = null;
  /** The server parameters in effect for the next config write: the agent file's, then the dynamic config's. */
  private parameters: Readonly<Record<string, ParamValue>>;
  /** While the first member of a restored cluster replays to its target: the recovery parameters. */
  private recovering?: Record<string, ParamValue>;

  constructor(private readonly o: PostgresManagerOptions) {
    this.slot = slotName(o.memberName);
    this.parameters = o.parameters;
    this.passfile = o.passfile ?? `${path.resolve(o.dataDir)}.pgpass`;
    this.socketDir = o.socketDir ?? `${path.resolve(o.dataDir)}.sock`;
    // Render once up front so bad parameters fail at construction, naming the field.
    renderPostgresqlConf(this.confOptions({ primary: true }));
    this.pm = new Postmaster({
      binDir: o.binDir,
      dataDir: o.dataDir,
      socketDir: this.socketDir,
      port: o.listen.port,
      superuser: o.superuser.username,
      logFile: o.logFile,
      runAs: o.runAs,
      logger: o.log,
      stopTimeouts: o.stopTimeouts,
    });
    const sql = { socketDir: this.socketDir, port: o.listen.port, user: o.superuser.username, applicationName: "hapg-agent" };
    this.statusSql = new LocalSql({ ...sql, statementTimeoutMs: 1500, clientTimeoutMs: 2000 });
    this.commandSql = new LocalSql({ ...sql, statementTimeoutMs: 0, clientTimeoutMs: 0 });
  }

  // ---- reads (not queued) ----------------------------------------------------------------------

  async dataDirInfo(): Promise<DataDirInfo> {
    const files = dataDirFiles(this.o.dataDir);
    if (!files.initialized) return files;
    const out = await runToolChecked(this.bin("pg_controldata"), ["-D", this.o.dataDir], { runAs: this.o.runAs, timeoutMs: 10_000 });
    return { ...files, ...controlDataToInfo(out.stdout) };
  }

  /** Never throws for "not running": returns running:false (with pid if a postmaster exists but does not accept connections). */
  async status(): Promise<PgStatus> {
    const pid = this.pm.livePid();
    if (pid === undefined) return { running: false };
    try {
      return await queryStatus(this.statusSql, pid, this.upstream);
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
    return this.command("bootstrap", async () => {
      this.requireStopped("bootstrap");
      if (dataDirFiles(this.o.dataDir).initialized) throw new Error(`bootstrap: ${this.o.dataDir} is already initialized`);
      ensureDir(this.o.dataDir, 0o700, this.o.runAs);
      const pwDir = fs.mkdtempSync(path.join(path.dirname(this.passfile), ".hapg-initdb-"));
      try {
        const pwfile = path.join(pwDir, "pw");
        writeOwned(pwfile, this.o.superuser.password + "\n", 0o600, this.o.runAs);
        if (this.o.runAs) fs.chownSync(pwDir, this.o.runAs.uid, this.o.runAs.gid);
        await this.step("initdb", () =>
          runToolChecked(
            this.bin("initdb"),
            [
              "-D",
              this.o.dataDir,
              "--data-checksums",
              "--auth-local=trust",
              "--auth-host=scram-sha-256",
              "-U",
              this.o.superuser.username,
              `--pwfile=${pwfile}`,
              "--encoding=UTF8",
              `--locale=${this.o.locale ?? "C.UTF-8"}`,
            ],
            { runAs: this.o.runAs },
          ),
        );
      } finally {
        fs.rmSync(pwDir, { recursive: true, force: true });
      }
      await this.startAs({ primary: true });
      await this.step("create replication role", () => ensureReplicationRole(this.commandSql, this.o.replication));
      const [row] = await this.commandSql.query<{ id: string }>("SELECT system_identifier::text AS id FROM pg_control_system()");
      return row.id;
    });
  }

  /**
   * The first member of a cluster created from a backup: restores it (pgBackRest), replays the
   * source's archive to the target, promotes, then configures as bootstrap does (roles, passwords:
   * this cluster's, not the source's). On failure the data directory is emptied again.
   */
  restore(): Promise<string> {
    return this.command("restore", async () => {
      const hooks = this.o.restore;
      if (!hooks) throw new Error("restore: this member has no bootstrap.fromBackup in its config");
      this.requireStopped("restore");
      if (dataDirFiles(this.o.dataDir).initialized) throw new Error(`restore: ${this.o.dataDir} is already initialized`);
      ensureDir(this.o.dataDir, 0o700, this.o.runAs);
      try {
        this.recovering = await this.step("pgbackrest restore", () => hooks.restorePrimary());
        await this.startAs({ primary: true });
        await this.step("replay to the target and promote", () => this.waitPromoted());
        this.recovering = undefined;
        await this.writeConfig({ primary: true });
        await this.commandSql.query("SELECT pg_reload_conf()");
        await this.step("roles", async () => {
          await ensureReplicationRole(this.commandSql, this.o.replication);
          await setPassword(this.commandSql, this.o.superuser);
        });
        const [row] = await this.commandSql.query<{ id: string }>("SELECT system_identifier::text AS id FROM pg_control_system()");
        return row.id;
      } catch (e) {
        this.recovering = undefined;
        await this.pm.stop("immediate").catch(() => undefined);
        await this.closeSql();
        clearDir(this.o.dataDir);
        throw e;
      }
    });
  }

  /** Another member of a cluster created from a backup: restores from the backup, not from the leader (stays stopped). */
  restoreReplica(leader: LeaderTimeline): Promise<void> {
    return this.command("restoreReplica", async () => {
      const hooks = this.o.restore;
      if (!hooks) throw new Error("restoreReplica: this member has no bootstrap.fromBackup in its config");
      this.requireStopped("restoreReplica");
      ensureDir(this.o.dataDir, 0o700, this.o.runAs);
      if (fs.readdirSync(this.o.dataDir).length > 0) throw new Error(`restoreReplica: ${this.o.dataDir} is not empty: wipe() it first`);
      try {
        // The cluster's own backups once it has one (they are on its timeline); the source's before that.
        const fromOwn = this.o.restoreFromArchive;
        const own =
          fromOwn &&
          (await this.step("restore from the cluster's own backups", () =>
            fromOwn().catch((e: Error) => {
              this.o.log.warn({ err: e.message }, "no restore from the cluster's own backups: restoring from the source's");
              return false;
            }),
          ));
        if (!own) {
          clearDir(this.o.dataDir);
          await this.step("pgbackrest restore from the source", () => hooks.restoreReplica(leader));
        }
        await this.writeConfig({ primary: false, upstream: null });
        this.setFormerPrimary(false);
      } catch (e) {
        clearDir(this.o.dataDir);
        throw e;
      }
    });
  }

  /** Waits until recovery reached its target and promoted; throws with the server's last log lines if it stopped instead. */
  private async waitPromoted(): Promise<void> {
    for (;;) {
      if (this.pm.livePid() === undefined) {
        throw new Error(`PostgreSQL stopped before reaching the recovery target; last log lines:\n${tailFile(this.o.logFile, 8)}`);
      }
      const r = await this.commandSql.query<{ r: boolean }>("SELECT pg_is_in_recovery() AS r").catch(() => undefined);
      if (r && !r[0].r) return;
      await sleep(200);
    }
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
      if (synchronousStandbys && !this.syncStandbys.length) {
        this.syncStandbys = [...synchronousStandbys];
        this.syncCount = undefined;
      }
      this.setFormerPrimary(false);
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
      if (upstream === null && files.initialized && !files.standbySignal) this.setFormerPrimary(true);
      await this.startAs({ primary: false, upstream });
    });
  }

  /** Points a replica at a new upstream by reload (PG 13+), restarting only if the WAL receiver stays on the old one. */
  followUpstream(upstream: HostPort | null): Promise<void> {
    return this.command("followUpstream", async () => {
      if (this.pm.livePid() === undefined) return this.writeConfig({ primary: false, upstream });
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
      const want = synchronousStandbys ?? [];
      const [cur] = await this.commandSql.query<{ v: string }>("SELECT current_setting('synchronous_standby_names') AS v");
      this.syncStandbys = [...want];
      this.syncCount = undefined;
      if (cur.v !== renderSynchronousStandbyNames(want)) {
        const upstream = this.upstream ?? (await this.status()).upstream ?? null;
        await this.writeConfig({ primary: false, upstream, keepSyncWait: true });
        await this.reloadAndAwaitSync();
      }
      const [r] = await this.step("pg_promote", () => this.commandSql.query<{ ok: boolean }>("SELECT pg_promote(true, 60) AS ok"));
      if (!r.ok) throw new Error("promote: pg_promote did not finish within 60 s");
      while (await this.inRecovery()) await sleep(50);
      this.setFormerPrimary(false);
      await this.writeConfig({ primary: true });
      await this.commandSql.query("SELECT pg_reload_conf()");
    });
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
    return this.command("baseBackup", () => this.copyFrom(source));
  }

  /**
   * A requested restart, as one command: no HA action can run between the stop and the start. A
   * replica comes back on the upstream it had; a primary only when mayStartPrimary() still says so.
   */
  restart(o: RestartOptions): Promise<RestartResult> {
    return this.command("restart", async () => {
      if (this.pm.livePid() === undefined) throw new Error("restart: postgres is not running: nothing to restart");
      const role: Role = (await this.inRecovery()) ? { primary: false, upstream: this.upstream } : { primary: true };
      await this.pm.stop("fast");
      await this.closeSql();
      if (role.primary && !o.mayStartPrimary()) return "stopped";
      await this.startAs(role, o.timeoutS);
      return "running";
    });
  }

  /** New server parameters for the next write of postgresql.conf (reload); refused, naming the parameter, when invalid. */
  replaceParameters(parameters: Readonly<Record<string, ParamValue>>): void {
    renderPostgresqlConf({ ...this.confOptions({ primary: true }), parameters });
    this.parameters = parameters;
  }

  /** Our files rewritten for the role the server runs in (undoing edits by hand), then pg_reload_conf(). */
  reload(): Promise<ReloadResult> {
    return this.command("reload", async () => {
      if (this.pm.livePid() === undefined) return {};
      const inRecovery = await this.inRecovery();
      await this.writeConfig(inRecovery ? { primary: false, upstream: this.upstream } : { primary: true });
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
      this.setFormerPrimary(false);
      await this.copyFrom(source);
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
    return this.command("rewind", async () => {
      this.requireStopped("rewind");
      const before = await this.dataDirInfo();
      if (!before.initialized) {
        this.o.log.error({}, "rewind: the data directory is not initialized: nothing to rewind");
        return "failed";
      }
      if (before.clusterState !== "shut down" && before.clusterState !== "shut down in recovery") {
        this.o.log.info({ clusterState: before.clusterState }, "rewind: target not shut down cleanly; pg_rewind runs crash recovery first");
      }
      // Single-user crash recovery refuses standby mode; the file is back below either way.
      fs.rmSync(path.join(this.o.dataDir, "standby.signal"), { force: true });
      this.writePassfile();
      try {
        const result = await this.step("pg_rewind", () => runRewind(this.copyOptions("pg_rewind", source, this.o.superuser.username)));
        if (result === "done") this.setFormerPrimary(false);
        return result;
      } finally {
        // pg_rewind copied the source's config files over ours.
        await this.writeConfig({ primary: false, upstream: null });
      }
    });
  }

  /**
   * A replica from the backup repository instead of a copy of the leader: the latest backup is
   * restored over the data directory (delta: files that match stay), and the server then replays the
   * archive and streams the rest. False: not configured, no backup yet, or the restore failed (logged);
   * the data directory may then be half-restored: the caller wipes it and copies from the leader.
   */
  restoreFromArchive(): Promise<boolean> {
    return this.command("restoreFromArchive", async () => {
      if (!this.o.restoreFromArchive) return false;
      this.requireStopped("restoreFromArchive");
      ensureDir(this.o.dataDir, 0o700, this.o.runAs);
      try {
        const done = await this.step("pgbackrest restore", () => this.o.restoreFromArchive!());
        if (done) this.setFormerPrimary(false);
        return done;
      } catch (e) {
        this.o.log.warn({ err: (e as Error).message }, "restore from the backup repository failed: copying from the leader instead");
        return false;
      }
    });
  }

  answers(source: HostPort): Promise<boolean> {
    return tcpAnswers(source);
  }

  /** Removes the data dir's contents (the dir itself stays: it may be a mount point). */
  wipe(): Promise<void> {
    return this.command("wipe", async () => {
      this.requireStopped("wipe");
      clearDir(this.o.dataDir);
      this.setFormerPrimary(false);
    });
  }

  /** Primary only: creates missing physical slots for `wanted` members, drops other inactive permanent physical slots. */
  syncSlots(wanted: string[]): Promise<void> {
    return this.command("syncSlots", async () => {
      if (await this.inRecovery()) throw new Error("syncSlots: only on a primary");
      await syncPhysicalSlots(this.commandSql, new Set(wanted.map(slotName).filter((s) => s !== this.slot)), this.o.log);
    });
  }

  /**
   * New server parameters (the dynamic config changed). A stopped server gets them at its next start;
   * a running one has postgresql.conf rewritten for its current role and reloaded. Returns whether it
   * reloaded. Refuses (naming the parameter) what the schema refuses, before anything is written.
   */
  setParameters(parameters: Readonly<Record<string, ParamValue>>): Promise<boolean> {
    return this.command("setParameters", async () => {
      renderPostgresqlConf({ ...this.confOptions({ primary: true }), parameters });
      this.parameters = { ...parameters };
      if (this.pm.livePid() === undefined) return false;
      const primary = !(await this.inRecovery());
      await this.writeConfig(primary ? { primary: true } : { primary: false, upstream: this.upstream });
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

  private bin(tool: string): string {
    return path.join(this.o.binDir, tool);
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
      this.syncStandbys = [...names];
      this.syncCount = count;
      await this.writeConfig({ primary: true });
      await this.reloadAndAwaitSync();
    });
  }

  /** Reloads and waits until synchronous_standby_names is the one we rendered. */
  private async reloadAndAwaitSync(): Promise<void> {
    await this.commandSql.query("SELECT pg_reload_conf()");
    const want = renderSynchronousStandbyNames(this.syncStandbys, this.syncCount);
    const deadline = Date.now() + FOLLOW_TIMEOUT_MS;
    for (;;) {
      const [r] = await this.commandSql.query<{ v: string }>("SELECT current_setting('synchronous_standby_names') AS v");
      if (r.v === want) return;
      if (Date.now() > deadline)
        throw new Error(`synchronous_standby_names is still "${r.v}" ${FOLLOW_TIMEOUT_MS} ms after the reload (wanted "${want}")`);
      await sleep(20);
    }
  }

  private copyOptions(tool: string, source: HostPort, user: string): CopyOptions {
    return { tool: this.bin(tool), dataDir: this.o.dataDir, source, user, passfile: this.passfile, runAs: this.o.runAs, log: this.o.log };
  }

  private setFormerPrimary(on: boolean): void {
    const marker = formerPrimaryMarker(this.o.dataDir);
    if (on) writeOwned(marker, "", 0o600, this.o.runAs);
    else fs.rmSync(marker, { force: true });
  }

  private async startAs(role: Role, timeoutS?: number): Promise<void> {
    await this.writeConfig(role);
    await this.step("start postgres", () => this.pm.start((timeoutS ?? this.o.startTimeout ?? 300) * 1000));
  }

  /** pg_basebackup into the empty data dir as the replication user; on failure the data dir is left empty. */
  private async copyFrom(source: HostPort): Promise<void> {
    this.requireStopped("baseBackup");
    ensureDir(this.o.dataDir, 0o700, this.o.runAs);
    if (fs.readdirSync(this.o.dataDir).length > 0) throw new Error(`baseBackup: ${this.o.dataDir} is not empty: wipe() it first`);
    this.writePassfile();
    try {
      await this.step("pg_basebackup", () =>
        runBaseBackup({ ...this.copyOptions("pg_basebackup", source, this.o.replication.username), applicationName: this.o.memberName }),
      );
    } catch (e) {
      clearDir(this.o.dataDir);
      throw e;
    }
  }

  private async follow(upstream: HostPort | null): Promise<void> {
    await this.writeConfig({ primary: false, upstream });
    await this.commandSql.query("SELECT pg_reload_conf()");
    const deadline = Date.now() + FOLLOW_TIMEOUT_MS;
    let sender: HostPort | undefined;
    for (;;) {
      const [w] = await this.commandSql.query<{ host: string | null; port: number | null }>(
        "SELECT sender_host AS host, sender_port AS port FROM pg_stat_wal_receiver",
      );
      sender = w?.host && w.port ? { host: w.host, port: w.port } : undefined;
      const onNew = upstream ? sender?.host === upstream.host && sender.port === upstream.port : sender === undefined;
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

  private confOptions(role: Role): PostgresqlConfOptions {
    return {
      dataDir: this.o.dataDir,
      socketDir: this.socketDir,
      listen: this.o.listen,
      parameters: this.parameters,
      timing: this.o.timing,
      memberName: this.o.memberName,
      synchronousStandbys: this.syncStandbys,
      synchronousCount: this.syncCount,
      archive: this.o.archive,
      recovery: this.recoveryParameters(),
      standby: role.primary
        ? undefined
        : { upstream: role.upstream, replicationUser: this.o.replication.username, passfile: this.passfile, slotName: this.slot },
    };
  }

  /**
   * A restored cluster's restore_command: its own archive, then the source's (cloneRestoreCommand);
   * during the first member's restore, the recovery target as well.
   */
  private recoveryParameters(): Record<string, ParamValue> | undefined {
    if (this.recovering) return this.recovering;
    if (!this.o.restore) return undefined;
    return { restore_command: cloneRestoreCommand(undefined, this.o.restore.restoreCommand()) };
  }

  /** postgresql.conf, pg_hba.conf, pgpass, socket dir and standby.signal for the role. */
  private async writeConfig(role: Role): Promise<void> {
    // A standby waits for nobody whatever the setting; it carries the wait its promotion starts with
    // (synchronous modes), so that promoting it needs no reload. Once promoted, the HA loop decides.
    if (!role.primary && !role.keepSyncWait) {
      this.syncStandbys = [...(this.o.promotionWait?.() ?? [])];
      this.syncCount = undefined;
    }
    writeServerFiles({
      conf: this.confOptions(role),
      hba: { replicationUser: this.o.replication.username, allowedCidrs: this.o.allowedCidrs },
      runAs: this.o.runAs,
    });
    this.writePassfile();
    this.upstream = role.primary ? null : role.upstream;
  }

  private writePassfile(): void {
    writeOwned(this.passfile, renderPgpass([this.o.replication, this.o.superuser]), 0o600, this.o.runAs);
  }

  private async closeSql(): Promise<void> {
    await Promise.all([this.statusSql.close(), this.commandSql.close()]);
  }
}
