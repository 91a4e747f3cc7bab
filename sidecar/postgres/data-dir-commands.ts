/**
 * The commands of PostgresManager that create or rebuild the data directory: initdb, a restore from
 * a backup (a cluster's first member, its other members, a replica from the cluster's own
 * repository), pg_basebackup and pg_rewind. Each runs inside one queued manager command, on a
 * stopped server, and leaves the data directory empty or consistent when it fails.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { CopyOptions, runBaseBackup, runRewind } from "./copy";
import { controlDataToInfo, dataDirFiles } from "./controldata";
import { clearDir, ensureDir, writeOwned } from "./files";
import type { PostgresManagerOptions } from "./options";
import type { Postmaster } from "./postmaster";
import { runToolChecked, sleep, tailFile } from "./process";
import type { Role, ServerConfig } from "./server-config";
import { ensureReplicationRole, setPassword, type LocalSql } from "./sql";
import type { DataDirInfo, HostPort, LeaderTimeline, RewindResult } from "./types";

/** What these commands use of the manager that runs them. */
export interface CommandContext {
  readonly o: PostgresManagerOptions;
  readonly pm: Postmaster;
  readonly files: ServerConfig;
  /** The manager's command connection (no statement timeout). */
  readonly sql: LocalSql;
  /** Runs fn and logs its duration as a step of the current command. */
  step<T>(name: string, fn: () => Promise<T>): Promise<T>;
  requireStopped(what: string): void;
  startAs(role: Role, timeoutS?: number): Promise<void>;
  closeSql(): Promise<void>;
}

function bin(c: CommandContext, tool: string): string {
  return path.join(c.o.binDir, tool);
}

export async function readDataDirInfo(o: PostgresManagerOptions): Promise<DataDirInfo> {
  const files = dataDirFiles(o.dataDir);
  if (!files.initialized) return files;
  const out = await runToolChecked(path.join(o.binDir, "pg_controldata"), ["-D", o.dataDir], { runAs: o.runAs, timeoutMs: 10_000 });
  return { ...files, ...controlDataToInfo(out.stdout) };
}

/** initdb, our config, start as primary, create the replication role. Returns the system identifier. */
export async function initAndStart(c: CommandContext): Promise<string> {
  const { o } = c;
  c.requireStopped("bootstrap");
  if (dataDirFiles(o.dataDir).initialized) throw new Error(`bootstrap: ${o.dataDir} is already initialized`);
  ensureDir(o.dataDir, 0o700, o.runAs);
  const pwDir = fs.mkdtempSync(path.join(path.dirname(c.files.passfile), ".hapg-initdb-"));
  try {
    const pwfile = path.join(pwDir, "pw");
    writeOwned(pwfile, o.superuser.password + "\n", 0o600, o.runAs);
    if (o.runAs) fs.chownSync(pwDir, o.runAs.uid, o.runAs.gid);
    const args = ["-D", o.dataDir, "--data-checksums", "--auth-local=trust", "--auth-host=scram-sha-256", "-U", o.superuser.username];
    args.push(`--pwfile=${pwfile}`, "--encoding=UTF8", `--locale=${o.locale ?? "C.UTF-8"}`);
    await c.step("initdb", () => runToolChecked(bin(c, "initdb"), args, { runAs: o.runAs }));
  } finally {
    fs.rmSync(pwDir, { recursive: true, force: true });
  }
  await c.startAs({ primary: true });
  await c.step("create replication role", () => ensureReplicationRole(c.sql, o.replication));
  return systemIdentifier(c);
}

async function systemIdentifier(c: CommandContext): Promise<string> {
  const [row] = await c.sql.query<{ id: string }>("SELECT system_identifier::text AS id FROM pg_control_system()");
  return row.id;
}

/**
 * The first member of a cluster created from a backup: restores it (pgBackRest), replays the
 * source's archive to the target, promotes, then configures as bootstrap does (roles, passwords:
 * this cluster's, not the source's). On failure the data directory is emptied again.
 */
export async function restoreFirstMember(c: CommandContext): Promise<string> {
  const { o, files } = c;
  const hooks = o.restore;
  if (!hooks) throw new Error("restore: this member has no bootstrap.fromBackup in its config");
  c.requireStopped("restore");
  if (dataDirFiles(o.dataDir).initialized) throw new Error(`restore: ${o.dataDir} is already initialized`);
  ensureDir(o.dataDir, 0o700, o.runAs);
  try {
    files.recovering = await c.step("pgbackrest restore", () => hooks.restorePrimary());
    await c.startAs({ primary: true });
    await c.step("replay to the target and promote", () => waitPromoted(c));
    files.recovering = undefined;
    files.write({ primary: true });
    await c.sql.query("SELECT pg_reload_conf()");
    await c.step("roles", async () => {
      await ensureReplicationRole(c.sql, o.replication);
      await setPassword(c.sql, o.superuser);
    });
    return await systemIdentifier(c);
  } catch (e) {
    files.recovering = undefined;
    await c.pm.stop("immediate").catch(() => undefined);
    await c.closeSql();
    clearDir(o.dataDir);
    throw e;
  }
}

/** Waits until recovery reached its target and promoted; throws with the server's last log lines if it stopped instead. */
async function waitPromoted(c: CommandContext): Promise<void> {
  for (;;) {
    if (c.pm.livePid() === undefined) {
      throw new Error(`PostgreSQL stopped before reaching the recovery target; last log lines:\n${tailFile(c.o.logFile, 8)}`);
    }
    const r = await c.sql.query<{ r: boolean }>("SELECT pg_is_in_recovery() AS r").catch(() => undefined);
    if (r && !r[0].r) return;
    await sleep(200);
  }
}

/** Another member of a cluster created from a backup: restores from the backup, not from the leader (stays stopped). */
export async function restoreOtherMember(c: CommandContext, leader: LeaderTimeline): Promise<void> {
  const { o } = c;
  const hooks = o.restore;
  if (!hooks) throw new Error("restoreReplica: this member has no bootstrap.fromBackup in its config");
  c.requireStopped("restoreReplica");
  ensureDir(o.dataDir, 0o700, o.runAs);
  if (fs.readdirSync(o.dataDir).length > 0) throw new Error(`restoreReplica: ${o.dataDir} is not empty: wipe() it first`);
  try {
    // The cluster's own backups once it has one (they are on its timeline); the source's before that.
    const fromOwn = o.restoreFromArchive;
    const own =
      fromOwn &&
      (await c.step("restore from the cluster's own backups", () =>
        fromOwn().catch((e: Error) => {
          o.log.warn({ err: e.message }, "no restore from the cluster's own backups: restoring from the source's");
          return false;
        }),
      ));
    if (!own) {
      clearDir(o.dataDir);
      await c.step("pgbackrest restore from the source", () => hooks.restoreReplica(leader));
    }
    c.files.write({ primary: false, upstream: null });
    c.files.setFormerPrimary(false);
  } catch (e) {
    clearDir(o.dataDir);
    throw e;
  }
}

/**
 * A replica from the backup repository instead of a copy of the leader (see
 * PostgresManager.restoreFromArchive). False: not configured, no backup yet, or the restore failed (logged).
 */
export async function restoreFromRepository(c: CommandContext): Promise<boolean> {
  const { o } = c;
  if (!o.restoreFromArchive) return false;
  c.requireStopped("restoreFromArchive");
  ensureDir(o.dataDir, 0o700, o.runAs);
  try {
    const done = await c.step("pgbackrest restore", () => o.restoreFromArchive!());
    if (done) c.files.setFormerPrimary(false);
    return done;
  } catch (e) {
    o.log.warn({ err: (e as Error).message }, "restore from the backup repository failed: copying from the leader instead");
    return false;
  }
}

function copyOptions(c: CommandContext, tool: string, source: HostPort, user: string): CopyOptions {
  return { tool: bin(c, tool), dataDir: c.o.dataDir, source, user, passfile: c.files.passfile, runAs: c.o.runAs, log: c.o.log };
}

/** pg_basebackup into the empty data dir as the replication user; on failure the data dir is left empty. */
export async function copyFrom(c: CommandContext, source: HostPort): Promise<void> {
  const { o } = c;
  c.requireStopped("baseBackup");
  ensureDir(o.dataDir, 0o700, o.runAs);
  if (fs.readdirSync(o.dataDir).length > 0) throw new Error(`baseBackup: ${o.dataDir} is not empty: wipe() it first`);
  c.files.writePassfile();
  try {
    await c.step("pg_basebackup", () =>
      runBaseBackup({ ...copyOptions(c, "pg_basebackup", source, o.replication.username), applicationName: o.memberName }),
    );
  } catch (e) {
    clearDir(o.dataDir);
    throw e;
  }
}

/** pg_rewind from source (see PostgresManager.rewind). */
export async function rewindFrom(c: CommandContext, source: HostPort): Promise<RewindResult> {
  const { o } = c;
  c.requireStopped("rewind");
  const before = await readDataDirInfo(o);
  if (!before.initialized) {
    o.log.error({}, "rewind: the data directory is not initialized: nothing to rewind");
    return "failed";
  }
  if (before.clusterState !== "shut down" && before.clusterState !== "shut down in recovery") {
    o.log.info({ clusterState: before.clusterState }, "rewind: target not shut down cleanly; pg_rewind runs crash recovery first");
  }
  // Single-user crash recovery refuses standby mode; the file is back below either way.
  fs.rmSync(path.join(o.dataDir, "standby.signal"), { force: true });
  c.files.writePassfile();
  try {
    const result = await c.step("pg_rewind", () => runRewind(copyOptions(c, "pg_rewind", source, o.superuser.username)));
    if (result === "done") c.files.setFormerPrimary(false);
    return result;
  } finally {
    // pg_rewind copied the source's config files over ours.
    c.files.write({ primary: false, upstream: null });
  }
}
