/**
 * Archiving health as `/patroni`, `hapg list` and /metrics show it: pg_stat_archiver, the segments
 * waiting in pg_wal/archive_status, and, when pushing fails, pgBackRest's own reason from its spool
 * directory. On the leader from pg_stat_archiver; on a replica what it keeps until the leader has
 * archived it (replica-archive.ts): a replica never uploads.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { LocalSql } from "../postgres/sql";

export interface ArchiveStatus {
  /** "replica": the counts below are what this member keeps for the leader, not what it archived. Absent on the leader. */
  role?: "replica";
  last_archived_wal?: string;
  /** ISO time. */
  last_archived_time?: string;
  /** Seconds since the last segment was archived (how old the newest archived WAL is). */
  age_seconds?: number;
  archived_count: number;
  failed_count: number;
  last_failed_wal?: string;
  last_failed_time?: string;
  /** Segments complete in pg_wal and not archived yet (kept until they are). */
  ready_count: number;
  /** Why archiving fails now (pgBackRest's message), when the last attempt failed. */
  problem?: string;
  /** Replica: segments kept in pg_wal because the leader has not archived them yet (pushed by this member if it is promoted). */
  kept_for_leader?: number;
  /** Replica: the oldest of them. */
  oldest_kept?: string;
  /** Replica: the leader's last archived WAL file, as it last answered. */
  leader_last_archived_wal?: string;
  note?: string;
}

interface ArchiverRow {
  archived_count: string;
  last_archived_wal: string | null;
  last_archived_time: Date | null;
  failed_count: string;
  last_failed_wal: string | null;
  last_failed_time: Date | null;
}

/** WAL files waiting for archive_command: the .ready files PostgreSQL leaves in pg_wal/archive_status (names without .ready). */
export function readyFiles(dataDir: string): string[] {
  try {
    return fs
      .readdirSync(path.join(dataDir, "pg_wal", "archive_status"))
      .filter((f) => f.endsWith(".ready"))
      .map((f) => f.slice(0, -".ready".length));
  } catch {
    return [];
  }
}

export function readyCount(dataDir: string): number {
  return readyFiles(dataDir).length;
}

/**
 * pgBackRest refuses a segment the archive holds with a different checksum: two members wrote different
 * WAL under one name. Never overwritten, never skipped: PostgreSQL keeps retrying it and the status says so.
 */
export function describeArchiveError(wal: string | undefined, error: string | undefined): string {
  const what = wal ?? "WAL";
  if (error && /already exists in the .*archive with a different checksum/i.test(error)) {
    return (
      `archiving ${what} fails: the archive already holds a different ${what} (${error}); two members wrote different WAL ` +
      "under one name. Nothing is overwritten: compare the two copies, then remove the wrong one from the repository"
    );
  }
  return `archiving ${what} fails${error ? `: ${error}` : ""}; WAL is kept in pg_wal until it is archived`;
}

/** The newest pgBackRest error of the asynchronous archive-push (spool/archive/<stanza>/out/*.error), one line. */
export function spoolError(spoolDir: string, stanza: string): string | undefined {
  const dir = path.join(spoolDir, "archive", stanza, "out");
  let newest: { at: number; file: string } | undefined;
  try {
    for (const f of fs.readdirSync(dir)) {
      if (!f.endsWith(".error")) continue;
      const at = fs.statSync(path.join(dir, f)).mtimeMs;
      if (!newest || at > newest.at) newest = { at, file: path.join(dir, f) };
    }
  } catch {
    return undefined;
  }
  if (!newest) return undefined;
  try {
    // First line: pgBackRest's error code; then the message.
    const lines = fs.readFileSync(newest.file, "utf8").trim().split("\n");
    return lines.slice(1).join(" ").replace(/\s+/g, " ").slice(0, 400) || lines[0];
  } catch {
    return undefined;
  }
}

/** Pure: the status from the archiver's row, the ready count and the spool's error. */
export function archiveStatus(row: ArchiverRow, ready: number, error: string | undefined, now: number): ArchiveStatus {
  const archivedAt = row.last_archived_time?.getTime();
  const failedAt = row.last_failed_time?.getTime();
  const failingNow = failedAt !== undefined && (archivedAt === undefined || failedAt > archivedAt);
  return {
    last_archived_wal: row.last_archived_wal ?? undefined,
    last_archived_time: row.last_archived_time?.toISOString(),
    age_seconds: archivedAt === undefined ? undefined : Math.max(0, Math.round((now - archivedAt) / 1000)),
    archived_count: Number(row.archived_count),
    failed_count: Number(row.failed_count),
    last_failed_wal: row.last_failed_wal ?? undefined,
    last_failed_time: row.last_failed_time?.toISOString(),
    ready_count: ready,
    problem: failingNow ? describeArchiveError(row.last_failed_wal ?? undefined, error) : undefined,
  };
}

export async function readArchiveStatus(
  sql: LocalSql,
  dataDir: string,
  spoolDir: string,
  stanza: string,
  now: number,
): Promise<ArchiveStatus> {
  const [row] = await sql.query<ArchiverRow>(
    "SELECT archived_count::text, last_archived_wal, last_archived_time, " +
      "failed_count::text, last_failed_wal, last_failed_time FROM pg_stat_archiver",
  );
  return archiveStatus(row, readyCount(dataDir), spoolError(spoolDir, stanza), now);
}
