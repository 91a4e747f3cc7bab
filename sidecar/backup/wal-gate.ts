/**
 * Which WAL files a replica may let go of. Every member runs with archive_mode "always", so a replica
 * keeps each segment it received (a .ready file in pg_wal/archive_status) until its archive_command
 * succeeds. On a replica that command never uploads: it succeeds only for a file the agent marked
 * here, after seeing that the leader has archived it (or that the cluster's history does not need
 * it). So what the leader had not archived when it died is still on its successor, which pushes it
 * once promoted; nothing is pushed by two members. Pure: names, positions and the leader's timeline
 * history in, a decision out.
 */
import * as path from "node:path";

/** A file name PostgreSQL's archiver hands to archive_command (%f). */
export type WalFile = { kind: "segment" | "partial" | "backup"; timeline: number; segno: number } | { kind: "history"; timeline: number };

/** Segments per 4 GiB "log id" (the middle 8 hex digits of a segment name) for a segment size. */
function segmentsPerId(segmentSize: number): number {
  return 0x100000000 / segmentSize;
}

/** Parses a WAL file name; undefined for anything else. `segmentSize`: wal_segment_size in bytes. */
export function parseWalFileName(name: string, segmentSize: number): WalFile | undefined {
  const h = /^([0-9A-F]{8})\.history$/.exec(name);
  if (h) return { kind: "history", timeline: parseInt(h[1], 16) };
  const m = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})(\.partial|\.[0-9A-F]{8}\.backup)?$/.exec(name);
  if (!m) return undefined;
  const kind = m[4] === undefined ? "segment" : m[4] === ".partial" ? "partial" : "backup";
  return { kind, timeline: parseInt(m[1], 16), segno: parseInt(m[2], 16) * segmentsPerId(segmentSize) + parseInt(m[3], 16) };
}

/** The segment number holding the WAL position `lsn` (bytes). */
export function segnoOf(lsn: number, segmentSize: number): number {
  return Math.floor(lsn / segmentSize);
}

/** The leader's timeline path: its timeline and where each earlier timeline of its history ended (switch LSN). */
export interface TimelinePath {
  timeline: number;
  /** [timeline, switch LSN] for each earlier timeline the leader's history goes through (its member key's `history`). */
  history: readonly (readonly [number, number])[];
}

/**
 * What the agent knows is in the archive: per timeline, the newest segment the leader archived on it
 * (every segment of the leader's path before it was archived earlier: PostgreSQL archives in name
 * order and never skips one), and the newest timeline whose history file was archived.
 */
export interface ArchivedPositions {
  segments: Readonly<Record<number, number>>;
  historyTimeline: number;
}

export const NOTHING_ARCHIVED: ArchivedPositions = { segments: {}, historyTimeline: 0 };

/**
 * Adds the leader's last archived file (pg_stat_archiver.last_archived_wal) to what is known. A
 * `.partial` or `.backup` file is archived before the segment it names is complete: it vouches only
 * for the segments before it. Positions only grow: the archive does not forget a segment.
 */
export function addArchived(known: ArchivedPositions, lastArchived: string | undefined, segmentSize: number): ArchivedPositions {
  const f = lastArchived ? parseWalFileName(lastArchived, segmentSize) : undefined;
  if (!f) return known;
  if (f.kind === "history") return f.timeline > known.historyTimeline ? { ...known, historyTimeline: f.timeline } : known;
  const segno = f.kind === "segment" ? f.segno : f.segno - 1;
  const before = known.segments[f.timeline];
  if (segno < 0 || (before !== undefined && before >= segno)) return known;
  return { ...known, segments: { ...known.segments, [f.timeline]: segno } };
}

/**
 * Where a timeline of the leader's path stops holding complete segments of the path: the first
 * segment number that is not the path's on `timeline` (the one holding its switch point, partial
 * there and complete on the next timeline). Infinity for the leader's own timeline; undefined for a
 * timeline the path does not go through.
 */
export function pathEnd(p: TimelinePath, timeline: number, segmentSize: number): number | undefined {
  if (timeline === p.timeline) return Infinity;
  const h = p.history.find(([t]) => t === timeline);
  return h ? segnoOf(h[1], segmentSize) : undefined;
}

/**
 * "archived": the archive holds it, the replica may let it go. "not-needed": no restore ever reads
 * it under this name (a partial copy of an old timeline's last segment, WAL of a branch the cluster
 * left, a .partial or .backup file of this member's own past as leader): let go, never pushed.
 * "wait": keep it (the leader has not archived it yet, or the agent cannot tell).
 */
export type GateDecision = "archived" | "not-needed" | "wait";

export function gateDecision(f: WalFile, p: TimelinePath | undefined, known: ArchivedPositions, segmentSize: number): GateDecision {
  if (f.kind === "partial" || f.kind === "backup") return "not-needed";
  if (!p) return "wait";
  const newest = Math.max(known.historyTimeline, ...Object.keys(known.segments).map(Number));
  if (f.kind === "history") return f.timeline <= newest && f.timeline <= p.timeline ? "archived" : "wait";
  if (f.timeline > p.timeline) return "wait"; // newer than what we know of the leader: ask again later
  const end = pathEnd(p, f.timeline, segmentSize);
  if (end === undefined || f.segno >= end) return "not-needed";
  // Archived on a timeline at or after the file's (on the path): everything of the path before it is archived too.
  for (const [t, n] of Object.entries(known.segments)) {
    const tl = Number(t);
    const tlEnd = pathEnd(p, tl, segmentSize);
    if (tl < f.timeline || tlEnd === undefined) continue;
    // A position past its timeline's switch point is WAL of a branch the path left: it vouches only up to the switch.
    if (f.segno <= Math.min(n, tlEnd - 1)) return "archived";
  }
  return "wait";
}

/** The directory of the marks a replica's archive_command looks for (one empty file per WAL file it may let go). */
export function gateDir(backupDir: string): string {
  return path.join(backupDir, "archived");
}

/** Pure: which marks to create and which to remove, given the .ready files and the marks there are. */
export function gatePlan(
  ready: readonly string[],
  marks: readonly string[],
  decide: (name: string) => GateDecision,
): { create: string[]; remove: string[]; waiting: string[] } {
  const markSet = new Set(marks);
  const create: string[] = [];
  const waiting: string[] = [];
  for (const name of [...ready].sort()) {
    if (decide(name) === "wait") waiting.push(name);
    else if (!markSet.has(name)) create.push(name);
  }
  const keep = new Set(ready.filter((n) => !waiting.includes(n)));
  // A mark whose file is gone (archived, recycled) or waits again is removed: marks never outlive their reason.
  return { create, remove: marks.filter((m) => !keep.has(m)), waiting };
}
