/**
 * The OS user PostgreSQL runs as in the local cluster and in tests, which run as root (PostgreSQL
 * refuses to run as root). Production agents already run as the postgres user and need none of this.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export interface ServiceUser {
  name: string;
  uid: number;
  gid: number;
}

/** getent passwd NAME → user, or undefined when there is no such user. */
function lookupUser(name: string): ServiceUser | undefined {
  try {
    const line = execFileSync("getent", ["passwd", name], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    const f = line.split(":");
    return { name: f[0], uid: Number(f[2]), gid: Number(f[3]) };
  } catch {
    return undefined;
  }
}

/**
 * As root: the existing `postgres` user (installed with the server packages), else a system user
 * `hapg` created without a home directory. As anyone else: the current user (already not root).
 */
export function ensureServiceUser(): ServiceUser {
  if (process.getuid?.() !== 0) {
    const me = os.userInfo();
    return { name: me.username, uid: me.uid, gid: me.gid };
  }
  const existing = lookupUser("postgres") ?? lookupUser("hapg");
  if (existing) return existing;
  execFileSync("useradd", ["--system", "--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin", "hapg"], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  const created = lookupUser("hapg");
  if (!created) throw new Error("useradd hapg succeeded but getent passwd hapg finds no user");
  return created;
}

/** chown -R without following symlinks (lchown), so a link cannot hand out ownership of files elsewhere. */
export function chownRecursive(dir: string, uid: number, gid: number): void {
  fs.lchownSync(dir, uid, gid);
  if (!fs.lstatSync(dir).isDirectory()) return;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) chownRecursive(p, uid, gid);
    else fs.lchownSync(p, uid, gid);
  }
}
