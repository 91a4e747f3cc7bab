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
import { formatLsn, parseLsn } from "../contract/lsn";
import type { ParamValue } from "../contract/settings/parameters";
import type { RecoveryTarget } from "../contract/recovery-target";

export { cloneRestoreCommand } from "../postgres/conf";

/** What `pgbackrest restore` is asked for (the options of PgBackRest.restore, sidecar/backup/pgbackrest.ts). */
export interface RestoreRequest {
  type: "default" | "time" | "lsn" | "name" | "standby";
  target?: string;
  targetAction?: "promote";
  set?: string;
}

/**
 * The first member's restore: pgBackRest selects the newest backup that ends before a time or LSN
 * target (the latest one otherwise). The recovery settings it writes into postgresql.auto.conf are
 * replaced by the agent's (recoveryParameters) in postgresql.conf, so one file says how this server recovers.
 */
export function primaryRestoreRequest(t: RecoveryTarget): RestoreRequest {
  switch (t.type) {
    case "latest":
      return { type: "default" };
    case "time":
      return { type: "time", target: t.at, targetAction: "promote" };
    case "lsn":
      return { type: "lsn", target: t.lsn, targetAction: "promote" };
    case "name":
      return { type: "name", target: t.name, targetAction: "promote" };
  }
}

/** A replica's restore: a given backup set of the source (see replicaBackupSet), as a standby. */
export function replicaRestoreRequest(set: string): RestoreRequest {
  return { type: "standby", set };
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

/** One backup as the parsed `pgbackrest info` lists it (BackupInfo of sidecar/backup/pgbackrest.ts has these). */
export interface BackupSetInfo {
  label: string;
  /** When it ended, ms since the epoch. */
  stop: number;
  /** The WAL position it ended at ("0/3000050"). */
  lsnStop?: string;
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
  backups: readonly BackupSetInfo[],
  target: RecoveryTarget,
  leaderHistory: readonly [number, number][],
): string | undefined {
  const lastSwitch = leaderHistory.at(-1)?.[1];
  const fits = (b: BackupSetInfo): boolean => {
    if (target.type === "time") return b.stop <= target.epochMs;
    const stop = b.lsnStop ? parseLsn(b.lsnStop) : undefined;
    if (stop === undefined) return false;
    if (target.type === "lsn") return stop <= target.bytes;
    return lastSwitch !== undefined && stop <= lastSwitch;
  };
  const before = backups.filter(fits).sort((a, b) => a.stop - b.stop);
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

/** The WAL segment file name holding `lsn` on `timeline`, for segments of `segmentSize` bytes. */
export function walSegmentName(timeline: number, lsn: number, segmentSize: number): string {
  const segno = Math.floor(lsn / segmentSize);
  const perId = 2 ** 32 / segmentSize;
  const hex8 = (n: number) => n.toString(16).toUpperCase().padStart(8, "0");
  return hex8(timeline) + hex8(Math.floor(segno / perId)) + hex8(segno % perId);
}

/**
 * Where the leader's newest timeline began: [parent timeline, switch LSN, new timeline]. PostgreSQL
 * starts a new timeline with a copy of the parent's segment up to the switch, zero-filled after it;
 * a replica that finds only the parent's segment (the source's archive holds it, the cluster's own
 * archive does not have the new one yet) would replay the parent's records past the switch.
 */
export function newestSwitch(leader: {
  timeline: number;
  history: readonly [number, number][];
}): { parent: number; lsn: number; timeline: number } | undefined {
  const last = leader.history.at(-1);
  return last && { parent: last[0], lsn: last[1], timeline: leader.timeline };
}

/** The new timeline's first segment from the parent's: the bytes up to the switch, zeros after (as PostgreSQL makes it at promotion). */
export function forkSegment(parentSegment: Buffer, switchLsn: number): Buffer {
  const upto = switchLsn % parentSegment.length;
  const out = Buffer.alloc(parentSegment.length);
  parentSegment.copy(out, 0, 0, upto);
  return out;
}
