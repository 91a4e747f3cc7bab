/**
 * Pure rendering of the files the agent owns: postgresql.conf (entirely ours; user parameters merged
 * over our defaults), pg_hba.conf and the pgpass file. No I/O here: PostgresManager writes the results.
 */
import { CONTROLLED_PARAMETERS, parameterProblems, type ParamValue } from "../contract/settings/parameters";
import type { HaTiming } from "../contract/settings/timing";
import type { HostPort } from "./types";

export { CONTROLLED_PARAMETERS, type ParamValue };

/** Defaults a user may override through postgres.parameters. */
const DEFAULT_PARAMETERS: Readonly<Record<string, ParamValue>> = {
  wal_level: "replica",
  max_wal_senders: 10,
  max_replication_slots: 10,
  wal_keep_size: "128MB",
  // A replica retries a failed upstream connection after this long (default 5 s): failover is seconds.
  wal_retrieve_retry_interval: "1s",
  // Before crash recovery PostgreSQL makes the data directory durable: file by file (fsync, its default)
  // that cost the leader 1-2 s after a crash of PostgreSQL alone in the chaos runs (docs/chaos.md);
  // one syncfs() of the data volume takes milliseconds (PostgreSQL 14+; Linux reports its errors since 5.8).
  recovery_init_sync_method: "syncfs",
  // English messages keep our log and error parsing stable; UTC keeps logs comparable across nodes.
  lc_messages: "C",
  timezone: "UTC",
  log_timezone: "UTC",
  log_line_prefix: "%m [%p] %q%u@%d ",
};

/**
 * Throws an error naming `postgres.parameters.<name>` for each parameter we must control or cannot
 * write safely (the settings schema refuses the same ones earlier, in the config and the component).
 */
export function validateParameters(parameters: Readonly<Record<string, ParamValue>>): void {
  const problems = parameterProblems(parameters).map(([name, message]) => `postgres.parameters.${name}: ${message}`);
  if (problems.length) throw new Error(`invalid PostgreSQL parameters:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
}

/** A postgresql.conf value: booleans on/off, numbers bare, strings single-quoted (backslashes are escapes there too). */
export function quoteConfValue(value: ParamValue): string {
  if (typeof value === "boolean") return value ? "on" : "off";
  if (typeof value === "number") return String(value);
  // eslint-disable-next-line no-control-regex -- refusing control characters is the point
  if (/[\x00-\x1f]/.test(value)) throw new Error("configuration values must not contain control characters");
  return `'${value.replace(/\\/g, "\\\\").replace(/'/g, "''")}'`;
}

/** A libpq connection string: every value single-quoted with \ escapes, so spaces and quotes are safe. */
export function conninfo(params: Readonly<Record<string, string | number>>): string {
  return Object.entries(params)
    .map(([k, v]) => `${k}='${String(v).replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`)
    .join(" ");
}

/** Replication slot name for a member: lower-case, anything but [a-z0-9_] becomes "_" (PostgreSQL's rule for slot names). */
export function slotName(member: string): string {
  const name = member.toLowerCase().replace(/[^a-z0-9_]/g, "_");
  if (name.length === 0 || name.length > 63) throw new Error(`member name "${member}" must give a slot name of 1 to 63 characters`);
  return name;
}

export interface StandbySettings {
  /** null: a read-only replica with no upstream (there is no leader to follow yet). */
  upstream: HostPort | null;
  replicationUser: string;
  /** pgpass file outside the data directory: no password in postgresql.conf. */
  passfile: string;
  /** Our slot on the upstream (slotName(memberName)); undefined: none (a standby leader without standby_cluster.primary_slot_name). */
  slotName: string | undefined;
  /** The upstream lists several hosts (a standby cluster's source): connect to the writable one. */
  readWrite?: boolean;
  /** application_name towards the upstream; default the member name (what synchronous_standby_names lists). */
  applicationName?: string;
}

export interface PostgresqlConfOptions {
  dataDir: string;
  /**
   * Directory for the Unix socket: private (0700, the postgres OS user), so `local all all trust` is
   * safe. Not the data directory itself: pg_rewind copies every file of the source's data directory
   * and fails on the source's socket ("could not open file .s.PGSQL.5432").
   */
  socketDir: string;
  listen: HostPort;
  parameters: Readonly<Record<string, ParamValue>>;
  /** The HA timing, resolved once from the settings (settings/timing.ts): the parameters derived from it. */
  timing: HaTiming;
  /** Shown in `ps` (cluster_name) and used as application_name towards the upstream (synchronous_standby_names). */
  memberName: string;
  /** Present for a replica. */
  standby?: StandbySettings;
  /** Primary in synchronous mode: the standbys a commit waits for (application names); empty: asynchronous. */
  synchronousStandbys?: readonly string[];
  /** Quorum commit: a commit waits for any this many of synchronousStandbys (ANY k); absent: the first one. */
  synchronousCount?: number;
  /** Continuous archiving (archive_mode, archive_command, restore_command, archive_timeout: sidecar/backup/pgbackrest-conf.ts). */
  archive?: Readonly<Record<string, ParamValue>>;
  /**
   * A cluster restored from another's backup: restore_command reaching the source's archive too, and
   * during the first member's restore the recovery target (sidecar/restore/plan.ts).
   */
  recovery?: Readonly<Record<string, ParamValue>>;
  /** A member of a standby cluster: restore_command (the source's archive) and, on the standby leader, recovery_min_apply_delay. */
  standbyCluster?: Readonly<Record<string, ParamValue>>;
}

/**
 * synchronous_standby_names for our synchronous modes: wait for the first of these (one standby),
 * or, with `count` (quorum commit), for any `count` of them.
 */
export function renderSynchronousStandbyNames(names: readonly string[], count?: number): string {
  if (!names.length) return "";
  const list = names.map((n) => `"${n.replace(/"/g, '""')}"`).join(", ");
  return count === undefined ? `FIRST 1 (${list})` : `ANY ${count} (${list})`;
}

/** The inverse of renderSynchronousStandbyNames: the names, and the count of an ANY (quorum) wait. */
export function parseSynchronousStandbyNames(value: string | undefined): { names: string[]; count?: number } {
  const names = [...(value ?? "").matchAll(/"((?:[^"]|"")*)"/g)].map((m) => m[1].replace(/""/g, '"'));
  const any = /^\s*ANY\s+(\d+)\s*\(/i.exec(value ?? "");
  return any ? { names, count: Number(any[1]) } : { names };
}

/** Longest Unix socket path (sun_path is 108 bytes with the terminating NUL on Linux). */
const MAX_SOCKET_PATH = 107;

export function socketPath(socketDir: string, port: number): string {
  return `${socketDir}/.s.PGSQL.${port}`;
}

export function renderPostgresqlConf(o: PostgresqlConfOptions): string {
  validateParameters(o.parameters);
  // eslint-disable-next-line no-control-regex -- refusing control characters is the point
  if (/["\x00-\x1f]/.test(o.dataDir + o.socketDir)) throw new Error(`postgres.dataDir: must not contain '"' or control characters`);
  if (socketPath(o.socketDir, o.listen.port).length > MAX_SOCKET_PATH) {
    throw new Error(
      `postgres.dataDir: "${o.dataDir}" is too long: the Unix socket path ${socketPath(o.socketDir, o.listen.port)} exceeds ${MAX_SOCKET_PATH} characters`,
    );
  }
  const required: Record<string, ParamValue> = {
    listen_addresses: o.listen.host,
    port: o.listen.port,
    // Double quotes inside: the value is a comma-separated list, the path may contain commas.
    unix_socket_directories: `"${o.socketDir}"`,
    hba_file: `${o.dataDir}/pg_hba.conf`,
    ident_file: `${o.dataDir}/pg_ident.conf`,
    hot_standby: true,
    wal_log_hints: true, // pg_rewind needs it (checksums would do too; both are cheap)
    password_encryption: "scram-sha-256",
    // stderr goes to the log file the manager opened for the postmaster.
    logging_collector: false,
    log_destination: "stderr",
    cluster_name: o.memberName,
    // The setting timing.replicationTimeout: a silent peer is noticed in seconds, not PostgreSQL's minute.
    wal_sender_timeout: `${o.timing.replicationTimeoutMs}ms`,
    wal_receiver_timeout: `${o.timing.replicationTimeoutMs}ms`,
    // Written for every role: a postmaster-level line dropped from the file (at promotion) would make
    // PostgreSQL report a pending restart on every new primary, though nothing changed. A primary ignores it.
    recovery_target_timeline: "latest",
  };
  Object.assign(required, o.archive ?? {});
  Object.assign(required, o.recovery ?? {});
  // A standby ignores it; the manager renders it on one only right before promoting it.
  if (o.synchronousStandbys?.length)
    required.synchronous_standby_names = renderSynchronousStandbyNames(o.synchronousStandbys, o.synchronousCount);
  if (o.standby) {
    if (o.standby.upstream) {
      required.primary_conninfo = conninfo({
        host: o.standby.upstream.host,
        port: o.standby.upstream.port,
        user: o.standby.replicationUser,
        passfile: o.standby.passfile,
        application_name: o.standby.applicationName ?? o.memberName,
        connect_timeout: 3,
        sslmode: "prefer",
        gssencmode: "disable",
        ...(o.standby.readWrite ? { target_session_attrs: "read-write" } : {}),
      });
      if (o.standby.slotName) required.primary_slot_name = o.standby.slotName;
    }
  }
  // A standby cluster: every member reads the source's archive; the standby leader may replay late.
  Object.assign(required, o.standbyCluster ?? {});
  const merged: Record<string, ParamValue> = { ...DEFAULT_PARAMETERS, ...o.parameters, ...required };
  const lines = Object.keys(merged)
    .sort()
    .map((k) => `${k} = ${quoteConfValue(merged[k])}`);
  return [
    "# Written by the HaPostgresCluster agent; changes here are overwritten.",
    "# Set server parameters with postgres.parameters in the agent config.",
    ...lines,
    "",
  ].join("\n");
}

/** Double-quotes a pg_hba.conf user name unless it is a plain lower-case identifier. */
function hbaName(name: string): string {
  return /^[a-z_][a-z0-9_]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

export interface HbaOptions {
  replicationUser: string;
  allowedCidrs: readonly string[];
}

/**
 * Local connections are trusted: the socket is in a 0700 directory, so only the postgres OS user
 * (the agent) reaches it. Everything over TCP needs a SCRAM password.
 */
export function renderPgHba(o: HbaOptions): string {
  const rows: string[][] = [
    ["local", "all", "all", "", "trust"],
    ["local", "replication", "all", "", "trust"],
  ];
  for (const cidr of o.allowedCidrs) {
    if (!/^[0-9A-Fa-f:.]+\/\d{1,3}$/.test(cidr)) throw new Error(`postgres.allowedCidrs: "${cidr}" is not a CIDR such as 10.0.0.0/16`);
    rows.push(["host", "replication", hbaName(o.replicationUser), cidr, "scram-sha-256"]);
    rows.push(["host", "all", "all", cidr, "scram-sha-256"]);
  }
  return [
    "# Written by the HaPostgresCluster agent; changes here are overwritten.",
    "# TYPE DATABASE USER ADDRESS METHOD",
    ...rows.map((r) => r.filter((c) => c !== "").join("\t")),
    "",
  ].join("\n");
}

/** pgpass lines matching any host, port and database for each user; ':' and '\' escaped as libpq requires. */
export function renderPgpass(credentials: readonly { username: string; password: string }[]): string {
  const esc = (s: string) => s.replace(/\\/g, "\\\\").replace(/:/g, "\\:");
  return credentials
    .map((c) => {
      if (/[\r\n]/.test(c.password)) throw new Error(`the password of ${c.username} must not contain a line break`);
      return `*:*:*:${esc(c.username)}:${esc(c.password)}\n`;
    })
    .join("");
}

/**
 * postgresql.auto.conf (ALTER SYSTEM) overrides postgresql.conf: drop the lines that set parameters
 * we control, so an ALTER SYSTEM (or a file copied by pg_basebackup/pg_rewind) cannot redirect replication.
 */
export function stripControlledFromAutoConf(text: string): string {
  return text
    .split("\n")
    .filter((line) => {
      const m = /^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*=?/.exec(line);
      return !(m && CONTROLLED_PARAMETERS.has(m[1].toLowerCase()));
    })
    .join("\n");
}

/**
 * restore_command of every member of a cluster restored from another's backup: the cluster's own
 * archive first (its new timelines live only there), then the source's (the WAL before the fork lives
 * only there: the new primary never archives what it replayed). Each is a complete `archive-get`
 * command (archiveParameters in sidecar/backup/pgbackrest-conf.ts); sh runs the second when the first fails.
 */
export function cloneRestoreCommand(own: string | undefined, source: string): string {
  return own ? `${own} || ${source}` : source;
}
