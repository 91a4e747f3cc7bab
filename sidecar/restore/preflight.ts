/**
 * The checks a restore passes before anything is touched (no etcd key written, no data directory
 * created): the source stanza exists and holds a backup, a time target lies between the end of its
 * first backup and now, an LSN target after the end of its first backup. Pure: it reads what
 * `pgbackrest info --output=json` printed (`runPreflight` in ./source.ts runs it) and the time.
 */
import { parseLsn } from "../contract/lsn";
import type { BackupSetInfo } from "./plan";
import { describeTarget, type RecoveryTarget } from "../contract/recovery-target";

/** The source stanza as the parsed `pgbackrest info` gives it (StanzaInfo of sidecar/backup/pgbackrest.ts has these). */
export interface SourceInfo {
  status: { code: number; message: string };
  backups: BackupSetInfo[];
}

const iso = (epochMs: number) => new Date(epochMs).toISOString().replace(/\.000Z$/, "Z");

/**
 * Why this restore cannot run, one line per problem naming the field to fix; empty when it can.
 * `field` prefixes the messages (e.g. "bootstrap.fromBackup" or "--restore-from"); `where` names the
 * repository for the reader; `all` is `pgbackrest info` without --stanza, to list the stanzas there.
 */
export function restoreProblems(o: {
  info: SourceInfo;
  stanza: string;
  target: RecoveryTarget;
  nowMs: number;
  field: string;
  where: string;
  /** The stanzas the repository holds (`pgbackrest info` without --stanza), named when the one given is not there. */
  stanzas?: string[];
}): string[] {
  const s = o.info;
  const others = (o.stanzas ?? []).filter((n) => n !== o.stanza);
  const known = others.length ? ` (stanzas there: ${others.join(", ")})` : " (the repository holds no stanza)";
  if (s.status.code === 1 || s.status.code === 3) {
    return [`${o.field}.stanza: no stanza "${o.stanza}" in ${o.where}${known}: give the stanza of the cluster to restore`];
  }
  if (s.status.code !== 0 && s.status.code !== 2) {
    return [
      `${o.field}: cannot read stanza "${o.stanza}" in ${o.where}: ${s.status.message}: check the repository settings and credentials`,
    ];
  }
  const backups = s.backups;
  if (s.status.code === 2 || backups.length === 0) {
    return [`${o.field}.stanza: "${o.stanza}" in ${o.where} holds no backup yet: take one first (hapg backup), then restore`];
  }
  const first = [...backups].sort((a, b) => a.stop - b.stop)[0];
  const t = o.target;
  if (t.type === "time") {
    if (t.epochMs > o.nowMs) {
      return [
        `${o.field}.target.time: ${t.at} is in the future (now ${iso(o.nowMs)}): give a time in the past, or no target for the latest point`,
      ];
    }
    if (t.epochMs < first.stop) {
      return [
        `${o.field}.target.time: ${t.at} is before the end of the first backup of "${o.stanza}" (${first.label}, ended ` +
          `${iso(first.stop)}): nothing can be restored to it; give a later time`,
      ];
    }
  }
  if (t.type === "lsn" && first.lsnStop && t.bytes < parseLsn(first.lsnStop)) {
    return [
      `${o.field}.target.lsn: ${t.lsn} is before the end of the first backup of "${o.stanza}" (${first.label}, ended at ` +
        `${first.lsnStop}): give a later WAL position`,
    ];
  }
  return [];
}

/** The one-line summary logged before a restore starts. */
export function describeRestore(stanza: string, where: string, target: RecoveryTarget): string {
  return `restoring stanza "${stanza}" from ${where} to ${describeTarget(target)}`;
}
