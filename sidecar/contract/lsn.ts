/** WAL positions ("LSNs") as PostgreSQL prints them ("16/B374D848") and as bytes. */

const LSN_RE = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

/** "0/3000028" → 50331688. A JS number is exact up to 2^53 bytes (8 PiB of WAL), far beyond any real cluster. */
export function parseLsn(text: string): number {
  const m = LSN_RE.exec(text.trim());
  if (!m) throw new Error(`not a WAL location: "${text}" (expected e.g. "0/3000028")`);
  return parseInt(m[1], 16) * 2 ** 32 + parseInt(m[2], 16);
}

/** Like parseLsn, but null/undefined in (a SQL NULL) gives undefined out. */
export function parseLsnOrUndefined(text: string | null | undefined): number | undefined {
  return text === null || text === undefined ? undefined : parseLsn(text);
}

/** 50331688 → "0/3000028", the form PostgreSQL accepts back (e.g. in `'0/3000028'::pg_lsn`). */
export function formatLsn(bytes: number): string {
  if (!Number.isSafeInteger(bytes) || bytes < 0) throw new Error(`not a WAL position in bytes: ${bytes}`);
  const hi = Math.floor(bytes / 2 ** 32);
  const lo = bytes - hi * 2 ** 32;
  return `${hi.toString(16).toUpperCase()}/${lo.toString(16).toUpperCase()}`;
}

/**
 * A timeline history file (pg_wal/0000000T.history): one line per earlier timeline, "parentTLI
 * switchpoint reason", e.g. "1\t0/404A2C8\tno recovery target specified". Comments (#) and blank
 * lines are skipped; a malformed line is skipped too (the file is PostgreSQL's, not user input).
 */
export function parseTimelineHistory(text: string | null | undefined): { timeline: number; switchLsn: number; reason?: string }[] {
  const out: { timeline: number; switchLsn: number; reason?: string }[] = [];
  for (const line of (text ?? "").split("\n")) {
    const m = /^\s*(\d+)\s+([0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8})(?:\s+(\S.*?))?\s*$/.exec(line);
    if (m) out.push({ timeline: Number(m[1]), switchLsn: parseLsn(m[2]), ...(m[3] ? { reason: m[3] } : {}) });
  }
  return out;
}

/**
 * The timeline a replica replays: the newest timeline among its WAL segment files that hold the last
 * replayed record. pg_control's checkpoint timeline lags (until the next restartpoint) and the WAL
 * receiver's is gone when the upstream is: neither tells a replica that followed a timeline switch
 * from one that replayed the old timeline past the fork.
 */
export function replayTimeline(
  walFiles: readonly string[],
  replayLsn: number | undefined,
  segmentSize: number | undefined,
): number | undefined {
  if (replayLsn === undefined || !segmentSize || replayLsn <= 0) return undefined;
  const segno = Math.floor((replayLsn - 1) / segmentSize); // a record ending on a boundary is in the segment before
  const perId = 2 ** 32 / segmentSize;
  const hex8 = (n: number) => n.toString(16).toUpperCase().padStart(8, "0");
  const suffix = hex8(Math.floor(segno / perId)) + hex8(segno % perId);
  const tlis = walFiles.filter((f) => /^[0-9A-F]{24}$/.test(f) && f.slice(8) === suffix).map((f) => parseInt(f.slice(0, 8), 16));
  return tlis.length ? Math.max(...tlis) : undefined;
}
