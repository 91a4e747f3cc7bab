/**
 * What a restore runs, as data: the pgbackrest command lines, the recovery parameters the agent
 * renders into postgresql.conf, the backup set a replica restores, the timeline history file it
 * needs. Pure: PostgresManager runs the plan (restore.ts), the tests read it.
 *
 * The first member restores the source's backup and replays the source's archive up to the target,
 * then promotes (a new timeline) and archives into the cluster's own stanza. Every other member
 * restores a backup of the source taken before that fork, replays the source's WAL up to the fork
 * and the new timeline after it (from the cluster's own archive, or streamed from the new primary):
 * nobody copies the data directory from the new primary.
 */
import { formatLsn, parseLsn } from "../postgres/lsn";
import type { ParamValue } from "../settings/parameters";
import type { RecoveryTarget } from "./target";

/** How pgbackrest reaches one repository and stanza: a config file the agent rendered, and the stanza in it. */
export interface PgbackrestLocation {
  /** Path of the pgbackrest binary. */
  bin: string;
  /** pgbackrest.conf rendered for this repository (repo1-* options, credentials by file or environment). */
  configFile: string;
  stanza: string;
}

/** Options every pgbackrest call of a restore shares: the data directory it writes, and quiet logs on stderr. */
function common(loc: PgbackrestLocation, dataDir: string): string[] {
  return [`--config=${loc.configFile}`, `--stanza=${loc.stanza}`, `--pg1-path=${dataDir}`, "--log-level-console=warn", "--log-level-stderr=off"];
}

/** `--type/--target` for a target (pgBackRest picks the newest backup that ends before a time or LSN target). */
export function targetOptions(t: RecoveryTarget): string[] {
  switch (t.type) {
    case "latest":
      return ["--type=default"];
    case "time":
      return ["--type=time", `--target=${t.at}`];
    case "lsn":
      return ["--type=lsn", `--target=${t.lsn}`];
    case "name":
      return ["--type=name", `--target=${t.name}`];
  }
}

/**
 * The first member's restore: the backup pgBackRest selects for the target into the empty data
 * directory. The recovery settings pgBackRest writes into postgresql.auto.conf are replaced by the
 * agent's (recoveryParameters), rendered into postgresql.conf, so one file says how this server recovers.
 */
export function primaryRestoreArgs(source: PgbackrestLocation, dataDir: string, target: RecoveryTarget, processMax = 2): string[] {
  return [...common(source, dataDir), `--process-max=${processMax}`, "restore", ...targetOptions(target), "--target-action=promote"];
}

/** A replica's restore: the given backup set of the source (see replicaBackupSet), as a standby. */
export function replicaRestoreArgs(source: PgbackrestLocation, dataDir: string, set: string, processMax = 2): string[] {
  return [...common(source, dataDir), `--process-max=${processMax}`, "restore", `--set=${set}`, "--type=standby"];
}

/** `pgbackrest archive-get` for restore_command; %f and %p are PostgreSQL's. */
export function archiveGetCommand(loc: PgbackrestLocation): string {
  return `${loc.bin} --config=${loc.configFile} --stanza=${loc.stanza} archive-get %f "%p"`;
}

/**
 * restore_command of every member of a cluster restored from another's backup: the cluster's own
 * archive first (its new timelines live only there), then the source's (the WAL before the fork lives
 * only there: the new primary never archives what it replayed). Both paths must be plain: no quotes.
 */
export function cloneRestoreCommand(own: PgbackrestLocation | undefined, source: PgbackrestLocation): string {
  for (const l of [own, source]) {
    if (l && /["'\s]/.test(l.configFile + l.bin + l.stanza)) {
      throw new Error(`pgbackrest paths and stanza names must not contain quotes or spaces: ${l.configFile} ${l.stanza}`);
    }
  }
  return own ? `${archiveGetCommand(own)} || ${archiveGetCommand(source)}` : archiveGetCommand(source);
}

/**
 * The recovery parameters of the first member's restore: replay the source's archive to the
 * target, then promote (a new timeline; the cluster's own archive starts there). The latest
 * timeline is followed, so a target after a failover in the source is reached across its timeline
 * switch. An inclusive target: a transaction committed exactly at the target time is restored.
 */
export function recoveryParameters(target: RecoveryTarget, restoreCommand: string): Record<string, ParamValue> {
  const p: Record<string, ParamValue> = {
    restore_command: restoreCommand,
    recovery_target_timeline: "latest",
  };
  if (target.type === "latest") return p;
  p.recovery_target_action = "promote";
  if (target.type === "time") p.recovery_target_time = target.at;
  if (target.type === "lsn") p.recovery_target_lsn = target.lsn;
  if (target.type === "name") p.recovery_target_name = target.name;
  return p;
}

/** One backup as `pgbackrest info --output=json` lists it (the fields a restore looks at). */
export interface BackupInfo {
  label: string;
  type: string;
  timestamp: { start: number; stop: number };
  lsn?: { start: string; stop: string };
}

/**
 * The backup set a replica of a restored cluster restores: the newest backup of the source that
 * ended before the cluster forked from the source. A later backup holds the source's WAL past the
 * fork, which the new primary never had: such a replica could never follow it. With a time or LSN
 * target the fork is the target itself (the first member selected its backup the same way); with
 * the latest point or a restore point it is where the leader's timeline began (`leaderHistory`, its
 * last [timeline, switch LSN]).
 */
export function replicaBackupSet(
  backups: readonly BackupInfo[],
  target: RecoveryTarget,
  leaderHistory: readonly [number, number][],
): string | undefined {
  const lastSwitch = leaderHistory.at(-1)?.[1];
  const fits = (b: BackupInfo): boolean => {
    if (target.type === "time") return b.timestamp.stop * 1000 <= target.epochMs;
    const stop = b.lsn ? parseLsn(b.lsn.stop) : undefined;
    if (stop === undefined) return false;
    if (target.type === "lsn") return stop <= target.bytes;
    return lastSwitch !== undefined && stop <= lastSwitch;
  };
  const before = backups.filter(fits).sort((a, b) => a.timestamp.stop - b.timestamp.stop);
  return before.at(-1)?.label;
}

/** pg_wal/0000000T.history for a timeline: PostgreSQL reads its parent timelines and switch positions from it. */
export function historyFileName(timeline: number): string {
  return `${timeline.toString(16).toUpperCase().padStart(8, "0")}.history`;
}

/** The history file's text, from the leader's published history ([parent timeline, switch LSN] per line). */
export function renderHistoryFile(history: readonly [number, number][]): string {
  return history.map(([tl, lsn]) => `${tl}\t${formatLsn(lsn)}\tcopied from the leader's timeline history\n`).join("");
}
