/**
 * The backup a cluster is restored from (`bootstrap.fromBackup`), as this node reaches it: its own
 * pgbackrest.conf for the source repository (beside the data directory, 0600: it may hold S3 keys and
 * the passphrase), the checks a restore passes before anything is touched, and the two restores
 * (the first member's, to the target; a replica's, from a backup before the fork). Runs pgBackRest
 * through PgBackRest (sidecar/backup/pgbackrest.ts); the decisions are the pure plan (./plan.ts).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { backupPaths } from "../contract/backup-config";
import { archiveParameters, renderPgBackRestConf, type S3Keys } from "../backup/pgbackrest-conf";
import { PgBackRest } from "../backup/pgbackrest";
import { readKeys, readSecret } from "../backup/secrets";
import type { Logger } from "../log";
import { dataDirFiles } from "../postgres/controldata";
import { ensureDir, writeOwned } from "../postgres/files";
import { runTool, type RunAs } from "../postgres/process";
import type { LeaderTimeline } from "../postgres/types";
import type { ParamValue } from "../contract/settings/parameters";
import { resolvedSource, type FromBackup } from "../contract/restore-config";
import {
  forkSegment,
  historyFileName,
  newestSwitch,
  primaryRestoreRequest,
  recoveryParameters,
  renderHistoryFile,
  replicaBackupSet,
  replicaRestoreRequest,
  walSegmentName,
} from "./plan";
import { restoreProblems } from "./preflight";
import { describeTarget, type RecoveryTarget } from "../contract/recovery-target";

const FIELD = "bootstrap.fromBackup";
/** initdb's default WAL segment size (a restored segment of another size corrects it). */
const DEFAULT_WAL_SEGMENT_SIZE = 16 * 1024 * 1024;

export interface RestoreSourceOptions {
  fromBackup: FromBackup;
  dataDir: string;
  socketDir: string;
  pgPort: number;
  superuser: string;
  runAs?: RunAs;
  log: Logger;
  /** pgbackrest binary (default: from PATH). */
  bin?: string;
}

/** Where the source's pgBackRest files live: beside the data directory, apart from the cluster's own (backupPaths). */
export function sourcePaths(dataDir: string): ReturnType<typeof backupPaths> {
  return backupPaths(dataDir, "-source");
}

export class RestoreSource {
  readonly stanza: string;
  readonly target: RecoveryTarget;
  readonly where: string;
  readonly paths: ReturnType<typeof backupPaths>;
  readonly pgbackrest: PgBackRest;

  constructor(private readonly o: RestoreSourceOptions) {
    const s = resolvedSource(o.fromBackup);
    this.stanza = s.stanza;
    this.target = s.target;
    this.where = `s3://${o.fromBackup.repo.bucket}${s.repoPath} at ${s.endpoint}`;
    this.paths = sourcePaths(o.dataDir);
    this.pgbackrest = new PgBackRest({ confFile: this.paths.confFile, stanza: this.stanza, runAs: o.runAs, log: o.log, bin: o.bin });
  }

  /**
   * Writes the source's pgbackrest.conf. Throws naming the field when a credential file cannot be
   * read: before anything else happens, so a refused restore leaves nothing behind.
   */
  prepare(): void {
    const f = this.o.fromBackup;
    const s = resolvedSource(f);
    let keys: S3Keys | undefined;
    if (f.repo.credentials.source === "keyFile") keys = readKeys(`${FIELD}.repo.credentials.file`, f.repo.credentials.file);
    const passphrase = f.cipherPassphraseFile ? readSecret(`${FIELD}.cipherPassphraseFile`, f.cipherPassphraseFile) : undefined;
    for (const d of [this.paths.dir, this.paths.spoolDir, this.paths.logDir, this.paths.lockDir]) ensureDir(d, 0o700, this.o.runAs);
    const text = renderPgBackRestConf({
      stanza: this.stanza,
      repo: f.repo,
      repoPath: s.repoPath,
      endpoint: s.endpoint,
      keys,
      cipherPassphrase: passphrase,
      compressType: "lz4",
      processMax: 2,
      spoolDir: this.paths.spoolDir,
      logDir: this.paths.logDir,
      lockDir: this.paths.lockDir,
      pgUser: this.o.superuser,
      pg1: { path: this.o.dataDir, port: this.o.pgPort, socketPath: this.o.socketDir },
      // Never used: this config never backs up nor expires anything in the source's repository.
      retention: { full: 1 },
    });
    writeOwned(this.paths.confFile, text, 0o600, this.o.runAs);
  }

  /** The problems that refuse this restore (empty: it can run). Reads the source's stanza; touches nothing. */
  async problems(nowMs: number): Promise<string[]> {
    let info;
    try {
      info = await this.pgbackrest.info();
    } catch (e) {
      return [
        `${FIELD}: cannot read stanza "${this.stanza}" in ${this.where}: ${(e as Error).message}: check the repository settings and credentials`,
      ];
    }
    let stanzas: string[] | undefined;
    if (info.status.code === 1) stanzas = await this.stanzasInRepo().catch(() => undefined);
    return restoreProblems({ info, stanza: this.stanza, target: this.target, nowMs, field: FIELD, where: this.where, stanzas });
  }

  /** The stanzas the source's repository holds (`pgbackrest info` without --stanza), for the "no such stanza" message. */
  private async stanzasInRepo(): Promise<string[]> {
    const r = await runTool(this.o.bin ?? "pgbackrest", [`--config=${this.paths.confFile}`, "--output=json", "info"], {
      runAs: this.o.runAs,
      timeoutMs: 60_000,
    });
    if (r.code !== 0) return [];
    return (JSON.parse(r.stdout) as { name: string }[]).map((s) => s.name);
  }

  /** restore_command reading the source's archive. */
  restoreCommand(): string {
    return archiveParameters(this.paths.confFile, this.stanza, 0).restore_command as string;
  }

  /** The first member: restores the backup pgBackRest selects for the target; returns the recovery parameters to start with. */
  async restorePrimary(): Promise<Record<string, ParamValue>> {
    this.o.log.info({ stanza: this.stanza, target: describeTarget(this.target) }, `restoring from ${this.where}`);
    await this.pgbackrest.restore({ ...primaryRestoreRequest(this.target), delta: false });
    return recoveryParameters(this.target, this.restoreCommand());
  }

  /**
   * A replica: the newest backup of the source that ended before the fork, as a standby, plus the
   * leader's timeline history file, so that recovery leaves the source's timeline at the fork
   * instead of replaying the source's WAL past it.
   */
  async restoreReplica(leader: LeaderTimeline): Promise<void> {
    const info = await this.pgbackrest.info();
    const set = replicaBackupSet(info.backups, this.target, leader.history);
    if (!set) {
      throw new Error(
        `no backup of stanza "${this.stanza}" in ${this.where} ended before the cluster forked from it: cannot build a replica from it`,
      );
    }
    this.o.log.info({ stanza: this.stanza, set, timeline: leader.timeline }, `restoring backup ${set} as a replica`);
    await this.pgbackrest.restore({ ...replicaRestoreRequest(set), delta: false });
    const file = path.join(this.o.dataDir, "pg_wal", historyFileName(leader.timeline));
    writeOwned(file, renderHistoryFile(leader.history), 0o600, this.o.runAs);
    fs.rmSync(path.join(this.o.dataDir, "recovery.signal"), { force: true });
    await this.seedForkSegment(leader);
  }

  /**
   * Writes the leader's first segment of its newest timeline into pg_wal, made from the source's
   * segment (newestSwitch, forkSegment): until the cluster's own archive holds the real one,
   * recovery then stops at the fork and streams the rest from the leader, instead of replaying the
   * source's records past the fork. Nothing to do when the source never had that segment.
   */
  private async seedForkSegment(leader: LeaderTimeline): Promise<void> {
    const fork = newestSwitch(leader);
    if (!fork) return;
    const tmp = path.join(this.o.dataDir, "pg_wal", ".hapg-fork-segment");
    let size = DEFAULT_WAL_SEGMENT_SIZE;
    for (let attempt = 0; attempt < 2; attempt++) {
      const parent = walSegmentName(fork.parent, fork.lsn, size);
      const r = await runTool(
        this.o.bin ?? "pgbackrest",
        [`--config=${this.paths.confFile}`, `--stanza=${this.stanza}`, "archive-get", parent, tmp],
        {
          runAs: this.o.runAs,
          timeoutMs: 120_000,
        },
      );
      if (r.code !== 0) {
        this.o.log.info({ segment: parent }, "the source's archive does not hold the segment of the fork: nothing to seed");
        return;
      }
      const bytes = fs.readFileSync(tmp);
      fs.rmSync(tmp, { force: true });
      if (bytes.length !== size) {
        size = bytes.length; // a cluster initialised with another --wal-segsize: name it again with that size
        continue;
      }
      const name = walSegmentName(fork.timeline, fork.lsn, size);
      const target = path.join(this.o.dataDir, "pg_wal", name);
      fs.writeFileSync(target, forkSegment(bytes, fork.lsn), { mode: 0o600 });
      if (this.o.runAs) fs.chownSync(target, this.o.runAs.uid, this.o.runAs.gid);
      this.o.log.info({ segment: name, from: parent }, "seeded the first segment of the leader's timeline from the source's");
      return;
    }
  }
}

/**
 * The agent's start with `bootstrap.fromBackup`: writes the source's pgbackrest.conf and, while this
 * member has no data directory yet, refuses to start (throwing every problem, each naming its field)
 * when the restore could not work — before the agent writes anything to etcd or the data directory.
 * Undefined without `bootstrap.fromBackup`.
 */
export async function prepareRestore(
  o: Omit<RestoreSourceOptions, "fromBackup"> & { fromBackup?: FromBackup },
): Promise<RestoreSource | undefined> {
  if (!o.fromBackup) return undefined;
  const source = new RestoreSource({ ...o, fromBackup: o.fromBackup });
  source.prepare();
  if (!dataDirFiles(o.dataDir).initialized) {
    const problems = await source.problems(Date.now());
    if (problems.length) {
      throw new Error(`the restore from the backup is refused (nothing was started):\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    }
    o.log.info({ stanza: source.stanza, target: describeTarget(source.target) }, `the backups of ${source.where} can be restored`);
  }
  return source;
}
