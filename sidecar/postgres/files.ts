/** Writing the files we own into the data directory (content comes from conf.ts). */
import * as fs from "node:fs";
import * as path from "node:path";
import { renderPgHba, renderPostgresqlConf, stripControlledFromAutoConf, type HbaOptions, type PostgresqlConfOptions } from "./conf";
import type { RunAs } from "./process";

/** Atomic write (temp + rename), owned by runAs: PostgreSQL and libpq read these as the service user. */
export function writeOwned(file: string, content: string, mode: number, runAs?: RunAs): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, content, { mode });
  fs.chmodSync(tmp, mode);
  if (runAs) fs.chownSync(tmp, runAs.uid, runAs.gid);
  fs.renameSync(tmp, file);
}

/** Ensures a directory exists with the given mode, owned by runAs: what PostgreSQL requires of its data and socket dirs. */
export function ensureDir(dir: string, mode: number, runAs?: RunAs): void {
  fs.mkdirSync(dir, { recursive: true, mode });
  fs.chmodSync(dir, mode);
  if (runAs) fs.chownSync(dir, runAs.uid, runAs.gid);
}

/** Removes a directory's contents; the directory itself stays (it may be a mount point). */
export function clearDir(dir: string): void {
  if (!fs.existsSync(dir)) return;
  for (const e of fs.readdirSync(dir)) fs.rmSync(path.join(dir, e), { recursive: true, force: true });
}

/**
 * postgresql.conf and pg_hba.conf (ours entirely), pg_ident.conf if missing (ident_file points at it),
 * postgresql.auto.conf cleaned of parameters we control, the socket directory, and standby.signal
 * present exactly for a replica (conf.standby set).
 */
export function writeServerFiles(o: { conf: PostgresqlConfOptions; hba: HbaOptions; runAs?: RunAs }): void {
  const dir = o.conf.dataDir;
  writeOwned(path.join(dir, "postgresql.conf"), renderPostgresqlConf(o.conf), 0o600, o.runAs);
  writeOwned(path.join(dir, "pg_hba.conf"), renderPgHba(o.hba), 0o600, o.runAs);
  const ident = path.join(dir, "pg_ident.conf");
  if (!fs.existsSync(ident)) writeOwned(ident, "", 0o600, o.runAs);
  const auto = path.join(dir, "postgresql.auto.conf");
  if (fs.existsSync(auto)) {
    const text = fs.readFileSync(auto, "utf8");
    const cleaned = stripControlledFromAutoConf(text);
    if (cleaned !== text) writeOwned(auto, cleaned, 0o600, o.runAs);
  }
  ensureDir(o.conf.socketDir, 0o700, o.runAs);
  const signal = path.join(dir, "standby.signal");
  if (!o.conf.standby) fs.rmSync(signal, { force: true });
  else if (!fs.existsSync(signal)) writeOwned(signal, "", 0o600, o.runAs);
}
