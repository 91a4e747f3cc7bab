/**
 * The Debian 13 root file system the rehearsal's containers boot: `debootstrap --variant=minbase`
 * from the mirror this host's apt uses, plus what the Debian cloud AMI has (systemd, cloud-init…)
 * and every package the user-data installs, installed beforehand because the containers have no
 * route out. Cached under CACHE_DIR by a hash of suite, mirror and package list: a changed package
 * list builds a new one. Containers never write to it (each boots an overlay of its own).
 */
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { CACHE_DIR, debianMirror, rootfsKey, rootfsPackages, SUITE } from "./plan";

export function run(cmd: string, args: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { encoding: "utf8", maxBuffer: 64 << 20, timeout: opts.timeoutMs ?? 120_000 }, (err, out, errOut) =>
      err ? reject(new Error(`${cmd} ${args.join(" ")}: ${(errOut || err.message).trim().slice(-2000)}`)) : resolve(out),
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** The `packages:` list of a #cloud-config user-data. */
export function userDataPackages(userData: string): string[] {
  const doc = parseYaml(userData) as { packages?: unknown };
  return Array.isArray(doc.packages) ? doc.packages.map(String) : [];
}

/** The host's Debian mirror, from its apt sources. */
export function hostMirror(): string {
  const files = ["/etc/apt/sources.list", ...listDir("/etc/apt/sources.list.d").map((f) => join("/etc/apt/sources.list.d", f))];
  const mirror = debianMirror(files.filter((f) => existsSync(f)).map((f) => readFileSync(f, "utf8")));
  if (!mirror)
    throw new Error(
      "boot rehearsal: no Debian mirror in /etc/apt/sources.list*: add one (e.g. the deb.debian.org line) or set HAPG_BOOT_MIRROR",
    );
  return process.env.HAPG_BOOT_MIRROR ?? mirror;
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * The cached rootfs for these user-data documents, built first if missing. Returns its directory.
 * `log` reports progress (a cold build takes a few minutes).
 */
export async function preparedRootfs(userData: string[], log: (m: string) => void): Promise<string> {
  const mirror = hostMirror();
  const packages = rootfsPackages(userData.map(userDataPackages));
  const dir = join(CACHE_DIR, `rootfs-${rootfsKey(mirror, packages)}`);
  if (existsSync(join(dir, ".hapg-complete"))) return dir;
  mkdirSync(CACHE_DIR, { recursive: true });
  const release = await buildLock(log);
  try {
    if (!existsSync(join(dir, ".hapg-complete"))) await build(dir, mirror, packages, log);
  } finally {
    release();
  }
  return dir;
}

/** One build at a time (two rehearsals, or a rehearsal and a warm-up, may start together). */
async function buildLock(log: (m: string) => void): Promise<() => void> {
  const lock = join(CACHE_DIR, ".build-lock");
  for (let waited = false; ; waited = true) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, "pid"), String(process.pid));
      return () => rmSync(lock, { recursive: true, force: true });
    } catch {
      const pid = Number(readFileSync(join(lock, "pid"), { encoding: "utf8", flag: "a+" }) || 0);
      if (!pid || !alive(pid)) {
        rmSync(lock, { recursive: true, force: true }); // left by a build that died
        continue;
      }
      if (!waited) log(`waiting for the rootfs build of process ${pid}`);
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Removes a half-built rootfs; first unmounts its /proc, so the removal never walks into a mount. */
async function removeBuild(tmp: string): Promise<void> {
  await run("umount", ["-l", join(tmp, "proc")]).catch(() => undefined);
  const mounts = readFileSync("/proc/mounts", "utf8");
  if (mounts.includes(` ${tmp}/`)) throw new Error(`boot rehearsal: ${tmp} still has mounts; unmount them and remove it by hand`);
  rmSync(tmp, { recursive: true, force: true });
}

async function build(dir: string, mirror: string, packages: string[], log: (m: string) => void): Promise<void> {
  const tmp = `${dir}.building`;
  await removeBuild(tmp);
  log(`building the Debian ${SUITE} rootfs from ${mirror} (${packages.length} packages; cached in ${dir})`);
  await run("debootstrap", ["--variant=minbase", "--include=systemd,systemd-sysv,dbus,ca-certificates", SUITE, tmp, mirror], {
    timeoutMs: 900_000,
  });
  // Keeps the packages' services from starting inside the build chroot, as the user-data's own
  // policy-rc.d does during cloud-init's package step.
  writeFileSync(join(tmp, "usr/sbin/policy-rc.d"), "#!/bin/sh\nexit 101\n", { mode: 0o755 });
  await run("mount", ["-t", "proc", "proc", join(tmp, "proc")]);
  try {
    await run("chroot", [tmp, "apt-get", "update", "-qq"], { timeoutMs: 300_000 });
    await run(
      "chroot",
      [tmp, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-qq", "--no-install-recommends", ...packages],
      {
        timeoutMs: 1_200_000,
      },
    );
    // A cluster the package created (the user-data's createcluster.d prevents that on a node) would
    // not exist on a node: drop it, so the rootfs is what the package step leaves behind.
    const clusters = (await run("chroot", [tmp, "sh", "-c", "pg_lsclusters -h 2>/dev/null || true"])).trim();
    for (const line of clusters.split("\n").filter(Boolean)) {
      const [version, name] = line.split(/\s+/);
      await run("chroot", [tmp, "pg_dropcluster", version, name]);
    }
    await run("chroot", [tmp, "apt-get", "clean"]);
  } finally {
    await run("umount", [join(tmp, "proc")]).catch(() => undefined);
  }
  rmSync(join(tmp, "usr/sbin/policy-rc.d"), { force: true });
  // No apt sources: the containers cannot reach a mirror, so the user-data's package step finds
  // every package installed and `apt-get update` has nothing to fetch.
  writeFileSync(join(tmp, "etc/apt/sources.list"), "");
  for (const f of listDir(join(tmp, "etc/apt/sources.list.d"))) rmSync(join(tmp, "etc/apt/sources.list.d", f));
  writeFileSync(join(tmp, ".hapg-complete"), `${JSON.stringify({ mirror, packages, builtAt: new Date().toISOString() })}\n`);
  renameSync(tmp, dir);
  // One rootfs is kept: an older package list's is not booted again.
  const inUse = readFileSync("/proc/mounts", "utf8");
  for (const old of listDir(CACHE_DIR).filter(
    (f) => f.startsWith("rootfs-") && join(CACHE_DIR, f) !== dir && !inUse.includes(join(CACHE_DIR, f)),
  )) {
    log(`removing the outdated rootfs ${old}`);
    await removeBuild(join(CACHE_DIR, old));
  }
}
