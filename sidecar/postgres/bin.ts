/** Finds the directory holding the PostgreSQL server binaries (postgres, initdb, pg_basebackup...). */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

const DEBIAN_ROOT = "/usr/lib/postgresql";

function hasPostgres(dir: string): boolean {
  try {
    fs.accessSync(path.join(dir, "postgres"), fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `pg_config --bindir` from PATH; undefined when pg_config is missing or fails. */
function pgConfigBinDir(): string | undefined {
  try {
    const out = execFileSync("pg_config", ["--bindir"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 5000 });
    return out.trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Highest-numbered /usr/lib/postgresql/<major>/bin with a postgres binary (Debian/Ubuntu layout). */
export function highestDebianBinDir(root: string): string | undefined {
  let entries: string[];
  try {
    entries = fs.readdirSync(root);
  } catch {
    return undefined;
  }
  const versions = entries.filter((e) => /^\d+(\.\d+)?$/.test(e)).sort((a, b) => parseFloat(b) - parseFloat(a));
  for (const v of versions) {
    const dir = path.join(root, v, "bin");
    if (hasPostgres(dir)) return dir;
  }
  return undefined;
}

/**
 * The configured directory when it holds `postgres`; else `pg_config --bindir` (Debian's pg_config in
 * /usr/bin comes from postgresql-common and may point at a version without a server: checked too);
 * else the highest /usr/lib/postgresql/N/bin. Throws an error naming the fix when nothing is found.
 */
export function findPgBinDir(configured?: string, debianRoot: string = DEBIAN_ROOT): string {
  if (configured !== undefined) {
    if (hasPostgres(configured)) return configured;
    throw new Error(
      `postgres.binDir: "${configured}" has no executable "postgres": point it at the server's bin directory (e.g. ${DEBIAN_ROOT}/<major>/bin) or remove it to discover one`,
    );
  }
  const fromPgConfig = pgConfigBinDir();
  if (fromPgConfig !== undefined && hasPostgres(fromPgConfig)) return fromPgConfig;
  const debian = highestDebianBinDir(debianRoot);
  if (debian !== undefined) return debian;
  throw new Error(
    "PostgreSQL server binaries not found (no postgres via pg_config --bindir or in " +
      `${debianRoot}/<major>/bin): install the server (Debian/Ubuntu: apt-get install postgresql, ` +
      "which pulls postgresql-<major>) or set postgres.binDir",
  );
}
