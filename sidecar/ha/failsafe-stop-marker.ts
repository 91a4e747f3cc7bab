/**
 * What a cleanly stopped agent leaves for its next run: until when (wall-clock ms) a failsafe
 * confirmation it gave still binds this member (row FS5). Without it, a starting agent must assume
 * its previous run confirmed someone a moment ago and not race for the leader key for ttl: after
 * every agent of a cluster was stopped and started again, that guard alone held the election ~ttl
 * (the chaos runs' whole-cluster restarts). A killed agent leaves none, so the guard stays for it.
 *
 * The next run reads the file and removes it at once, durably (the directory is fsynced): a marker
 * that came back after a machine crash would vouch for the run that crashed.
 */
import * as fs from "node:fs";
import * as path from "node:path";

export interface StopMarker {
  /** The bound the previous run left (wall-clock ms), and the file removed; undefined when there was none or it is unreadable. */
  take(): number | undefined;
  /** Written by a clean stop, once this agent gives no more confirmations. */
  leave(untilWallMs: number): void;
}

/** The marker as a file (beside the data directory, like PostgreSQL's log: the agent owns that directory). */
export function fileStopMarker(file: string): StopMarker {
  return {
    take() {
      let text: string;
      try {
        text = fs.readFileSync(file, "utf8");
      } catch {
        return undefined;
      }
      fs.rmSync(file, { force: true });
      syncDir(path.dirname(file));
      try {
        const until = (JSON.parse(text) as { bindsUntil?: unknown }).bindsUntil;
        return typeof until === "number" && Number.isFinite(until) ? until : undefined;
      } catch {
        return undefined; // torn or edited: as if there were none (the guard applies)
      }
    },
    leave(untilWallMs) {
      const tmp = `${file}.tmp`;
      fs.writeFileSync(tmp, `${JSON.stringify({ bindsUntil: Math.ceil(untilWallMs), written: new Date().toISOString() })}\n`, {
        mode: 0o600,
      });
      fs.renameSync(tmp, file);
    },
  };
}

/** The marker's path for a data directory: `<dataDir>.failsafe-stop`. */
export function stopMarkerFile(dataDir: string): string {
  return path.join(path.dirname(dataDir), `${path.basename(dataDir)}.failsafe-stop`);
}

function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, "r");
    fs.fsyncSync(fd);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
