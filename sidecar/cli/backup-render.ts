/** What `hapg backup list` and `hapg backup` print. Pure: the API's bodies in, text out. */
import Table from "cli-table3";
import type { BackupInfo, StanzaInfo } from "../backup/pgbackrest";
import type { BackupOperation } from "../backup/service";

/** 1536 → "1.5 KiB". */
export function bytesText(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

const time = (ms: number) => new Date(ms).toISOString().replace("T", " ").slice(0, 19);

export interface BackupRow {
  label: string;
  type: string;
  start: string;
  stop: string;
  duration_s: number;
  size: number;
  repo_size: number;
  wal_start: string | null;
  wal_stop: string | null;
}

export function backupRows(info: StanzaInfo): BackupRow[] {
  return info.backups.map((b: BackupInfo) => ({
    label: b.label,
    type: b.type,
    start: new Date(b.start).toISOString(),
    stop: new Date(b.stop).toISOString(),
    duration_s: Math.round((b.stop - b.start) / 1000),
    size: b.size,
    repo_size: b.repoSize,
    wal_start: b.walStart ?? null,
    wal_stop: b.walStop ?? null,
  }));
}

export function backupListText(info: StanzaInfo, stanza?: string): string {
  const plain = process.stdout.isTTY !== true;
  const t = new Table({
    head: ["Label", "Type", "Start (UTC)", "Stop (UTC)", "Size", "In repository", "WAL start", "WAL stop"],
    style: { compact: true, ...(plain ? { head: [], border: [] } : {}) },
  });
  for (const b of info.backups) {
    t.push([b.label, b.type, time(b.start), time(b.stop), bytesText(b.size), bytesText(b.repoSize), b.walStart ?? "", b.walStop ?? ""]);
  }
  const head = `Stanza: ${stanza ?? "?"} (${info.status.message})`;
  const archive = info.archive ? `\nWAL archive: ${info.archive.min ?? "?"} .. ${info.archive.max ?? "?"}` : "";
  if (info.backups.length === 0) return `${head}\nno backup yet${archive}`;
  return `${head}\n${t.toString()}${archive}`;
}

/** One progress line for a running backup. */
export function progressText(op: BackupOperation, now: number): string {
  const s = Math.round((now - Date.parse(op.started)) / 1000);
  return `${op.type} backup (slot ${op.slot}): ${op.percent === undefined ? "starting" : `${op.percent.toFixed(1)}%`} after ${s} s`;
}
