/**
 * Pure rendering of pgBackRest's config file for one node, and of the PostgreSQL parameters that
 * archive through it. No I/O: the caller reads the key and passphrase files and writes the result
 * (0600: it may hold S3 keys and the repository passphrase).
 */
import type { ParamValue } from "../contract/settings/parameters";
import type { BackupPolicy } from "../contract/settings/backup";
import type { RepoConfig } from "../contract/backup-config";

export interface S3Keys {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface PgInstance {
  /** Data directory. */
  path: string;
  port: number;
  /** Unix socket directory of a local instance. */
  socketPath?: string;
  /** A remote instance reached through pgBackRest's TLS server (backup-from-standby on another host). */
  host?: { name: string; port: number; certFile: string; keyFile: string; caFile: string };
}

export interface PgBackRestConfOptions {
  stanza: string;
  repo: RepoConfig;
  /** The prefix inside the bucket (resolved default: /<cluster>). */
  repoPath: string;
  /** The S3 endpoint (resolved default: s3.<region>.amazonaws.com). */
  endpoint: string;
  /** With credentials.source "keyFile": the keys read from that file. */
  keys?: S3Keys;
  cipherPassphrase?: string;
  compressType: string;
  processMax: number;
  spoolDir: string;
  logDir: string;
  lockDir: string;
  /** The superuser pgBackRest connects as (over the socket). */
  pgUser: string;
  /** pg1: this node's own instance. */
  pg1: PgInstance;
  /** pg2: another instance (the primary, for backup-from-standby). */
  pg2?: PgInstance;
  retention: BackupPolicy["retention"];
}

/** A pgBackRest option value: one line, no control characters (a newline would inject options). */
function value(name: string, v: string | number): string {
  const s = String(v);
  // eslint-disable-next-line no-control-regex -- refusing control characters is the point
  if (/[\x00-\x1f]/.test(s)) throw new Error(`pgBackRest option ${name}: the value must not contain control characters`);
  return `${name}=${s}`;
}

function pgLines(n: number, pg: PgInstance, user: string): string[] {
  const lines = [value(`pg${n}-path`, pg.path), value(`pg${n}-port`, pg.port), value(`pg${n}-user`, user)];
  if (pg.socketPath) lines.push(value(`pg${n}-socket-path`, pg.socketPath));
  if (pg.host) {
    lines.push(
      value(`pg${n}-host`, pg.host.name),
      value(`pg${n}-host-type`, "tls"),
      value(`pg${n}-host-port`, pg.host.port),
      value(`pg${n}-host-cert-file`, pg.host.certFile),
      value(`pg${n}-host-key-file`, pg.host.keyFile),
      value(`pg${n}-host-ca-file`, pg.host.caFile),
    );
  }
  return lines;
}

export function renderPgBackRestConf(o: PgBackRestConfOptions): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(o.stanza))
    throw new Error(`backup.stanza: "${o.stanza}" must use letters, digits, '.', '_' or '-'`);
  const r = o.repo;
  const g = [
    value("repo1-type", "s3"),
    value("repo1-s3-bucket", r.bucket),
    value("repo1-s3-region", r.region),
    value("repo1-s3-endpoint", o.endpoint),
    value("repo1-s3-uri-style", r.uriStyle),
    value("repo1-path", o.repoPath),
    value("repo1-storage-verify-tls", r.verifyTls ? "y" : "n"),
  ];
  if (r.port !== undefined) g.push(value("repo1-storage-port", r.port));
  if (r.caFile) g.push(value("repo1-storage-ca-file", r.caFile));
  if (r.kmsKeyId) g.push(value("repo1-s3-kms-key-id", r.kmsKeyId));
  if (r.credentials.source === "instanceRole") g.push(value("repo1-s3-key-type", "auto"));
  else {
    if (!o.keys) throw new Error(`backup.repo.credentials.file: the keys of ${r.credentials.file} were not read`);
    g.push(
      value("repo1-s3-key-type", "shared"),
      value("repo1-s3-key", o.keys.accessKeyId),
      value("repo1-s3-key-secret", o.keys.secretAccessKey),
    );
  }
  if (o.cipherPassphrase !== undefined) g.push(value("repo1-cipher-type", "aes-256-cbc"), value("repo1-cipher-pass", o.cipherPassphrase));
  // Retention by count; an age rule is applied per backup run (see retentionFullFor), which may raise it.
  g.push(value("repo1-retention-full-type", "count"), value("repo1-retention-full", o.retention.full));
  if (o.retention.diff !== undefined) g.push(value("repo1-retention-diff", o.retention.diff));
  g.push(
    value("compress-type", o.compressType),
    value("process-max", o.processMax),
    // Asynchronous archiving: archive_command returns once the segment is queued in the spool
    // directory's acknowledgements; WAL is kept in pg_wal until it is pushed (no queue limit: never dropped).
    value("archive-async", "y"),
    // pgBackRest refuses archive_mode "always" unless told otherwise, because two servers could then push
    // the same segment. Here only a primary pushes: a replica's archive_command never runs pgBackRest
    // (archiveParameters), which is the condition under which pgBackRest lets this check be turned off.
    value("archive-mode-check", "n"),
    value("spool-path", o.spoolDir),
    value("log-path", o.logDir),
    value("lock-path", o.lockDir),
    value("log-level-console", "warn"),
    value("log-level-file", "info"),
    value("log-level-stderr", "off"),
    // Backups start with an immediate checkpoint instead of waiting for the next one.
    value("start-fast", "y"),
    // A restore into a directory that holds files reuses what matches (rebuilt replicas copy only what changed).
    value("delta", "y"),
  );
  const s = pgLines(1, o.pg1, o.pgUser);
  if (o.pg2) s.push(...pgLines(2, o.pg2, o.pgUser), value("backup-standby", "y"));
  return ["# Written by the HaPostgresCluster agent; changes here are overwritten.", "[global]", ...g, "", `[${o.stanza}]`, ...s, ""].join(
    "\n",
  );
}

/** A shell word for archive_command / restore_command (PostgreSQL runs them with sh -c). */
function sh(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Where the archive_command of a member looks: its data directory (signal files) and the replica's marks (wal-gate.ts). */
export interface ArchiveGate {
  dataDir: string;
  /** gateDir(): one empty file per WAL file a replica may let go. */
  marksDir: string;
}

/**
 * What archive_command does, by what PostgreSQL's own signal files say about the server now. PostgreSQL
 * removes standby.signal / recovery.signal at promotion before it writes the new timeline's history
 * file, so the switch from "replica" to "push" happens exactly when recovery ends, with no reload.
 * - "replica" (standby.signal): never uploads; succeeds for a file the agent marked (the leader archived it);
 * - "restore" (recovery.signal, only the first member of a cluster restored from a backup): succeeds,
 *   uploading nothing (the WAL it replays comes from an archive; its own archive starts at its new timeline);
 * - "push" (no signal file: a primary): pgBackRest archive-push.
 */
export type ArchiveRole = "replica" | "restore" | "push";

export function archiveRole(signals: { standby: boolean; recovery: boolean }): ArchiveRole {
  return signals.standby ? "replica" : signals.recovery ? "restore" : "push";
}

/**
 * The parameters that archive through pgBackRest, the same for every role (archive_mode "always" is
 * postmaster-level: a role change never needs a restart). With archive_mode "always" a replica keeps
 * every segment it received until its archive_command succeeds; the command (archiveRole) succeeds on
 * a replica only once the leader archived the segment, so a successor still holds what its leader
 * could not archive and pushes it once promoted, and no segment is pushed by two members. Every member
 * can fetch WAL from the archive (restore_command), so a replica that fell behind catches up from there.
 * Without `gate` (a restore source's archive, read only): the push command alone.
 */
export function archiveParameters(
  confFile: string,
  stanza: string,
  archiveTimeoutS: number,
  gate?: ArchiveGate,
): Record<string, ParamValue> {
  const base = `pgbackrest --config=${sh(confFile)} --stanza=${sh(stanza)}`;
  // A push that S3 does not take within PUSH_TIMEOUT_S fails (PostgreSQL keeps the segment and
  // retries), so an outage shows in the status within seconds instead of pgBackRest's default minute.
  const push = `${base} --archive-timeout=${PUSH_TIMEOUT_S} archive-push %p`;
  const signal = (f: string) => `test -f ${sh(`${gate?.dataDir}/${f}`)}`;
  return {
    archive_mode: gate ? "always" : "on",
    archive_command: gate
      ? `if ${signal("standby.signal")}; then test -f ${sh(gate.marksDir)}/%f; elif ${signal("recovery.signal")}; then true; else ${push}; fi`
      : push,
    // A standby that lost its stream, and a promotion, ask the archive for newer timeline history files,
    // which pgBackRest fetches synchronously: with S3 unreachable, its connection retries last about
    // 9 x io-timeout (default 60 s: minutes, during which the startup process does not see a promote
    // request); even with GET_IO_TIMEOUT_S one lookup took 5-9 s, and a promotion makes three, so
    // `timeout` ends each after GET_CAP_S (exit 124: "not found" to PostgreSQL, which then streams,
    // or promotes). pgBackRest's own wait for a prefetched segment (archive-timeout) ends first.
    // Not for a restore source's archive (no gate): there a segment that does not come is the end of
    // the recovery, so a restore to the latest point must not end early on a slow read; it waits
    // pgBackRest's default minute (a segment the archive does not hold is "not found" at once).
    restore_command: gate
      ? `timeout ${GET_CAP_S} ${base} --archive-timeout=${GET_TIMEOUT_S} --io-timeout=${GET_IO_TIMEOUT_S} archive-get %f "%p"`
      : `${base} --archive-timeout=${SOURCE_GET_TIMEOUT_S} archive-get %f "%p"`,
    archive_timeout: archiveTimeoutS,
  };
}

/**
 * Seconds archive_command waits for the asynchronous push of its segment. A compressed 16 MB segment
 * takes well under a second to S3 from EC2; one slower than this fails once and is found pushed
 * (the push goes on in the background) when PostgreSQL retries it.
 */
export const PUSH_TIMEOUT_S = 10;
/** Seconds restore_command waits for a segment from the archive (the asynchronous get prefetches the next ones). */
export const GET_TIMEOUT_S = 2;
/** Seconds a restore from a source's archive waits for a segment (pgBackRest's default). */
export const SOURCE_GET_TIMEOUT_S = 60;
/** Seconds after which a member's restore_command is ended, whatever pgBackRest is doing (see archiveParameters). */
export const GET_CAP_S = 3;
/**
 * pgBackRest's io-timeout for restore_command: seconds without progress before a connection or read gives
 * up. A slow read then fails and PostgreSQL asks again (or streams); an unreachable S3 costs seconds.
 */
export const GET_IO_TIMEOUT_S = 1;

/**
 * The full-backup count to expire with: the larger of the retention count and the number of full
 * backups younger than `fullDays` (plus the one before them, which recovers their first days), so a
 * full backup is expired only when both rules allow it. Pure: the stop times of the full backups in.
 */
export function retentionFullFor(retention: BackupPolicy["retention"], fullStops: number[], now: number): number {
  if (retention.fullDays === undefined) return retention.full;
  const since = now - retention.fullDays * 86_400_000;
  const young = fullStops.filter((t) => t >= since).length;
  const older = fullStops.length > young ? 1 : 0;
  return Math.max(retention.full, young + older);
}
