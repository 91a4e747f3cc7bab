/**
 * The checks a restore passes before anything is touched (no etcd key written, no data directory
 * created): the source stanza exists and holds a backup, a time target lies between the end of its
 * first backup and now, an LSN target after the end of its first backup. Pure: it reads what
 * `pgbackrest info --output=json` printed (`runPreflight` in ./source.ts runs it) and the time.
 */
import { parseLsn } from "../postgres/lsn";
import type { BackupInfo } from "./plan";
import { describeTarget, type RecoveryTarget } from "./target";

/** One stanza as `pgbackrest info --output=json` prints it (the fields looked at here). */
export interface StanzaInfo {
  name: string;
  status: { code: number; message: string };
  backup: BackupInfo[];
  archive?: { id: string; min: string | null; max: string | null }[];
  repo?: { key: number; status: { code: number; message: string } }[];
}

const iso = (epochMs: number) => new Date(epochMs).toISOString().replace(/\.000Z$/, "Z");

/**
 * Why this restore cannot run, one line per problem naming the field to fix; empty when it can.
 * `field` prefixes the messages (e.g. "bootstrap.fromBackup" or "--restore-from"); `where` names the
 * repository for the reader; `all` is `pgbackrest info` without --stanza, to list the stanzas there.
 */
export function restoreProblems(o: {
  info: StanzaInfo[];
  stanza: string;
  target: RecoveryTarget;
  nowMs: number;
  field: string;
  where: string;
  all?: StanzaInfo[];
}): string[] {
  const s = o.info.find((x) => x.name === o.stanza);
  const others = (o.all ?? []).map((x) => x.name).filter((n) => n !== o.stanza);
  const known = others.length ? ` (stanzas there: ${others.join(", ")})` : " (the repository holds no stanza)";
  if (!s || s.status.code === 1 || s.status.code === 3) {
    return [`${o.field}.stanza: no stanza "${o.stanza}" in ${o.where}${known}: give the stanza of the cluster to restore`];
  }
  const repoError = s.repo?.find((r) => r.status.code !== 0 && r.status.code !== 2);
  if (s.status.code === 99 || repoError) {
    const why = repoError?.status.message ?? s.status.message;
    return [`${o.field}: cannot read stanza "${o.stanza}" in ${o.where}: ${why}: check the repository settings and credentials`];
  }
  const backups = s.backup.filter((b) => b.timestamp?.stop !== undefined);
  if (s.status.code === 2 || backups.length === 0) {
    return [`${o.field}.stanza: "${o.stanza}" in ${o.where} holds no backup yet: take one first (hapg backup), then restore`];
  }
  const first = [...backups].sort((a, b) => a.timestamp.stop - b.timestamp.stop)[0];
  const t = o.target;
  if (t.type === "time") {
    if (t.epochMs > o.nowMs) {
      return [`${o.field}.target.time: ${t.at} is in the future (now ${iso(o.nowMs)}): give a time in the past, or no target for the latest point`];
    }
    if (t.epochMs < first.timestamp.stop * 1000) {
      return [
        `${o.field}.target.time: ${t.at} is before the end of the first backup of "${o.stanza}" (${first.label}, ended ` +
          `${iso(first.timestamp.stop * 1000)}): nothing can be restored to it; give a later time`,
      ];
    }
  }
  if (t.type === "lsn" && first.lsn && t.bytes < parseLsn(first.lsn.stop)) {
    return [
      `${o.field}.target.lsn: ${t.lsn} is before the end of the first backup of "${o.stanza}" (${first.label}, ended at ` +
        `${first.lsn.stop}): give a later WAL position`,
    ];
  }
  return [];
}

/** The one-line summary logged before a restore starts. */
export function describeRestore(stanza: string, where: string, target: RecoveryTarget): string {
  return `restoring stanza "${stanza}" from ${where} to ${describeTarget(target)}`;
}
