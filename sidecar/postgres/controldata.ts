/** Reads the control file with pg_controldata: what the data directory says when PostgreSQL is not running. */
import * as fs from "node:fs";
import * as path from "node:path";
import { parseLsn } from "../contract/lsn";
import type { DataDirInfo } from "./types";

/** "Key:   value" lines → map. Keys are kept verbatim (e.g. "Latest checkpoint's TimeLineID"). Pure. */
export function parseControlData(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split("\n")) {
    // Keys contain no ':' but values may ("0:724", times); split at the first one.
    const i = line.indexOf(":");
    if (i <= 0) continue;
    fields.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  return fields;
}

/** pg_controldata output (run with LC_ALL=C so the labels are English) → DataDirInfo fields. Pure. */
export function controlDataToInfo(text: string): Pick<DataDirInfo, "systemId" | "clusterState" | "timeline" | "checkpointLsn"> {
  const f = parseControlData(text);
  const systemId = f.get("Database system identifier");
  const clusterState = f.get("Database cluster state");
  const tli = f.get("Latest checkpoint's TimeLineID");
  const lsn = f.get("Latest checkpoint location");
  if (systemId === undefined || clusterState === undefined) {
    throw new Error(`unexpected pg_controldata output (no system identifier or cluster state): ${text.slice(0, 200)}`);
  }
  return {
    systemId,
    clusterState,
    timeline: tli === undefined ? undefined : Number(tli),
    checkpointLsn: lsn === undefined ? undefined : parseLsn(lsn),
  };
}

/**
 * Marks a former primary started read-only (no leader to rewind against yet): its WAL may have
 * diverged from whoever leads next, so it must be rewound before it follows anyone. Kept beside the
 * data directory, not in it, so pg_basebackup and pg_rewind never copy it to another member.
 */
export function formerPrimaryMarker(dataDir: string): string {
  return `${path.resolve(dataDir)}.former-primary`;
}

/** Files only: whether initdb/base backup finished and whether the server starts as a standby. */
export function dataDirFiles(dataDir: string): Pick<DataDirInfo, "initialized" | "standbySignal" | "formerPrimary"> {
  return {
    initialized: fs.existsSync(path.join(dataDir, "PG_VERSION")),
    standbySignal: fs.existsSync(path.join(dataDir, "standby.signal")),
    formerPrimary: fs.existsSync(formerPrimaryMarker(dataDir)),
  };
}
