/**
 * Runs pgBackRest for one node: stanza creation, check, backups (with progress), the list of backups,
 * restore and expire. Every command reads the node's pgbackrest.conf (written by the agent) and runs
 * as the PostgreSQL OS user. Failures throw with pgBackRest's own message (its last lines).
 */
import type { Logger } from "../log";
import { runTool, type RunAs, type RunResult } from "../postgres/process";

export const BACKUP_TYPES = ["full", "diff", "incr"] as const;
export type BackupType = (typeof BACKUP_TYPES)[number];

/** One backup as `hapg backup list` shows it. Times are ms since the epoch; sizes bytes. */
export interface BackupInfo {
  label: string;
  type: BackupType;
  start: number;
  stop: number;
  /** Database size at backup time. */
  size: number;
  /** What this backup stored in the repository (compressed). */
  repoSize: number;
  /** WAL needed to make it consistent: first and last segment. */
  walStart?: string;
  walStop?: string;
  lsnStart?: string;
  lsnStop?: string;
  /** The backup it depends on (diff/incr). */
  prior?: string;
}

/** The stanza's state beyond the backups: archive range, and a backup running now (progress). */
export interface StanzaInfo {
  status: { code: number; message: string };
  /** The system identifier of the database the stanza holds now (a string: it exceeds 2^53). */
  systemId?: string;
  backups: BackupInfo[];
  archive?: { min?: string; max?: string };
  /** A backup holds the stanza's lock (on this or another host): bytes done of total, when pgBackRest reports it. */
  running?: { done?: number; total?: number };
}

export interface PgBackRestOptions {
  confFile: string;
  stanza: string;
  runAs?: RunAs;
  log: Logger;
  /** pgbackrest binary (default: from PATH). */
  bin?: string;
}

export class PgBackRestError extends Error {
  constructor(
    readonly command: string,
    readonly result: RunResult,
  ) {
    const text = (result.stderr || result.stdout).trim().split("\n").slice(-6).join("\n");
    super(`pgbackrest ${command} failed (exit ${result.code ?? result.signal}): ${text}`);
    this.name = "PgBackRestError";
  }
}

export interface RestoreOptions {
  /** "standby": writes standby.signal and keeps the restore_command (a replica); "default": recover, then stop at the target. */
  type?: "standby" | "default" | "time" | "lsn" | "name" | "immediate";
  target?: string;
  targetAction?: "promote" | "pause" | "shutdown";
  /** A given backup label instead of the latest. */
  set?: string;
  /** The percentage of the files restored, as pgBackRest copies them. */
  onProgress?: (percent: number) => void;
  /** Reuse the files that match (delta). Default true. */
  delta?: boolean;
}

/** Parses `pgbackrest info --output=json` for one stanza. Pure. */
export function parseInfo(json: string, stanza: string): StanzaInfo {
  type Raw = {
    name: string;
    status: { code: number; message: string; lock?: { backup?: { held?: boolean; "size-cplt"?: number; size?: number } } };
    backup?: {
      label: string;
      type: BackupType;
      timestamp: { start: number; stop: number };
      info: { size: number; repository: { delta: number } };
      archive?: { start?: string; stop?: string };
      lsn?: { start?: string; stop?: string };
      prior?: string | null;
    }[];
    archive?: { min?: string | null; max?: string | null }[];
  };
  const all = JSON.parse(json) as Raw[];
  const s = all.find((x) => x.name === stanza);
  if (!s) return { status: { code: 1, message: "missing stanza path" }, backups: [] };
  const lock = s.status.lock?.backup;
  const archive = s.archive?.[s.archive.length - 1];
  // The last db entry is the current one; its system-id is read from the text (JSON numbers lose it).
  const ids = [...json.matchAll(/"system-id":(\d+)/g)].map((m) => m[1]);
  return {
    status: { code: s.status.code, message: s.status.message },
    systemId: ids[ids.length - 1],
    backups: (s.backup ?? []).map((b) => ({
      label: b.label,
      type: b.type,
      start: b.timestamp.start * 1000,
      stop: b.timestamp.stop * 1000,
      size: b.info.size,
      repoSize: b.info.repository.delta,
      walStart: b.archive?.start,
      walStop: b.archive?.stop,
      lsnStart: b.lsn?.start,
      lsnStop: b.lsn?.stop,
      prior: b.prior ?? undefined,
    })),
    archive: archive ? { min: archive.min ?? undefined, max: archive.max ?? undefined } : undefined,
    running: lock?.held ? { done: lock["size-cplt"], total: lock.size } : undefined,
  };
}

/** Reads pgBackRest's per-file detail lines ("backup file /path (8KB, 45.20%) checksum ...") into percentages. */
export function fileProgress(command: "backup" | "restore", onProgress: (percent: number) => void): (chunk: string) => void {
  const re = new RegExp(`${command} file .*?, (\\d+(?:\\.\\d+)?)%\\)`, "g");
  return (chunk) => {
    const all = [...chunk.matchAll(re)];
    if (all.length) onProgress(Number(all[all.length - 1][1]));
  };
}

export class PgBackRest {
  constructor(private readonly o: PgBackRestOptions) {}

  private async run(
    command: string,
    args: string[] = [],
    timeoutMs?: number,
    onStdout?: (c: string) => void,
    confFile = this.o.confFile,
  ): Promise<RunResult> {
    const full = [`--config=${confFile}`, `--stanza=${this.o.stanza}`, ...args, command];
    const result = await runTool(this.o.bin ?? "pgbackrest", full, { runAs: this.o.runAs, timeoutMs, onStdout });
    if (result.code !== 0) throw new PgBackRestError(command, result);
    return result;
  }

  /** Creates the stanza in the repository (idempotent: an existing one for the same database is fine). */
  async stanzaCreate(): Promise<void> {
    await this.run("stanza-create", [], 120_000);
  }

  /** Checks the configuration and that a WAL switch gets archived. */
  async check(timeoutS = 60): Promise<void> {
    await this.run("check", [`--archive-timeout=${timeoutS}`], (timeoutS + 30) * 1000);
  }

  async info(): Promise<StanzaInfo> {
    const r = await this.run("info", ["--output=json"], 60_000);
    return parseInfo(r.stdout, this.o.stanza);
  }

  /**
   * Takes a backup; `onProgress` gets the percentage done as pgBackRest copies the files (its
   * per-file detail lines). `retentionFull` overrides the count of full backups kept after it.
   */
  async backup(o: {
    type: BackupType;
    retentionFull?: number;
    onProgress?: (percent: number) => void;
    /** Another config file (a backup from standby: sidecar/backup/standby.ts). */
    confFile?: string;
  }): Promise<void> {
    const args = [`--type=${o.type}`, "--log-level-console=detail"];
    if (o.retentionFull !== undefined) args.push(`--repo1-retention-full=${o.retentionFull}`);
    // From standby, the log file keeps where each file was read (the primary's few files carry its host).
    if (o.confFile) args.push("--log-level-file=detail");
    await this.run("backup", args, undefined, o.onProgress && fileProgress("backup", o.onProgress), o.confFile);
  }

  /** Restores into the (stopped) data directory of pg1. */
  async restore(o: RestoreOptions = {}): Promise<void> {
    const args: string[] = [];
    if (o.delta !== false) args.push("--delta");
    if (o.type) args.push(`--type=${o.type}`);
    if (o.target !== undefined) args.push(`--target=${o.target}`);
    if (o.targetAction) args.push(`--target-action=${o.targetAction}`);
    if (o.set) args.push(`--set=${o.set}`);
    if (o.onProgress) args.push("--log-level-console=detail");
    await this.run("restore", args, undefined, o.onProgress && fileProgress("restore", o.onProgress));
  }

  async expire(): Promise<void> {
    await this.run("expire", [], 600_000);
  }
}
