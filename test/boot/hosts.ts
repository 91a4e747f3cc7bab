/**
 * The rehearsal's machines: a bridge, one network namespace per host (its fixed address on a veth,
 * 169.254.169.254 on lo for the IMDS stand-in), a data "volume" (an image file on a loop device,
 * exposed in the container under the NVMe by-id name EC2 gives the EBS volume), and a Debian
 * container booted by systemd-nspawn with systemd as PID 1 and cloud-init's NoCloud seed holding
 * the user-data. Every step registers its undo with the Cleanup.
 */
import { ChildProcess, spawn } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  rmdirSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { basename, join } from "node:path";
import { assertRouteOnBridge, overlaps } from "../../local/netns";
import { Cleanup } from "./cleanup";
import { ImdsConfig, macFor } from "./imds";
import { awsEndpoints, BRIDGE, CACHE_DIR, CGROUP_ROOT, ebsDevicePath, GATEWAY, hostNames, SUBNET } from "./plan";
import { run } from "./rootfs";

export const RUN_DIR = join(CACHE_DIR, "run");

/** Throws when the bridge exists or any host route or address overlaps the rehearsal's subnet. */
export async function assertSubnetFree(): Promise<void> {
  const links = await run("ip", ["-o", "link", "show"]);
  if (links.split("\n").some((l) => l.split(": ")[1]?.split("@")[0] === BRIDGE)) {
    throw new Error(`bridge ${BRIDGE} exists (left by a crashed rehearsal?): remove it with ip link del ${BRIDGE}`);
  }
  const routes = (await run("ip", ["-4", "-o", "route", "show"])).split("\n").map((l) => l.split(" ").find((t) => /^\d/.test(t)) ?? "");
  const addrs = (await run("ip", ["-4", "-o", "addr", "show"])).split("\n").map((l) => / inet (\S+)/.exec(l)?.[1] ?? "");
  const clash = [...routes, ...addrs].filter((c) => c && overlaps(c, SUBNET));
  if (clash.length)
    throw new Error(
      `the rehearsal's subnet ${SUBNET} overlaps ${clash.join(", ")} on this host: change SUBNET_PREFIX in test/boot/plan.ts`,
    );
}

export async function createBridge(cleanup: Cleanup): Promise<void> {
  await run("ip", ["link", "add", BRIDGE, "type", "bridge"]);
  cleanup.add(`bridge ${BRIDGE}`, () => run("ip", ["link", "del", BRIDGE]).then(() => undefined));
  await run("ip", ["addr", "add", `${GATEWAY}/24`, "dev", BRIDGE]);
  await run("ip", ["link", "set", BRIDGE, "up"]);
}

/** A namespace with the host's address on eth0 (a veth on the bridge) and the IMDS address on lo. */
export async function createNamespace(host: string, address: string, cleanup: Cleanup): Promise<void> {
  const n = hostNames(host);
  await run("ip", ["netns", "add", n.netns]);
  cleanup.add(`netns ${n.netns}`, () => run("ip", ["netns", "del", n.netns]).then(() => undefined));
  await run("ip", ["link", "add", n.veth, "type", "veth", "peer", "name", "eth0", "netns", n.netns]);
  await run("ip", ["link", "set", n.veth, "master", BRIDGE, "up"]);
  // A stable MAC: the IMDS stand-in lists the interface (and the fixed IP on it) under this MAC, as EC2 does.
  await run("ip", ["-n", n.netns, "link", "set", "eth0", "address", macFor(address)]);
  await run("ip", ["-n", n.netns, "addr", "add", `${address}/24`, "dev", "eth0"]);
  await run("ip", ["-n", n.netns, "link", "set", "eth0", "up"]);
  await run("ip", ["-n", n.netns, "link", "set", "lo", "up"]);
  // This kernel loads no modules (no dummy interface): the link-local IMDS address sits on lo.
  await run("ip", ["-n", n.netns, "addr", "add", "169.254.169.254/32", "dev", "lo"]);
  assertRouteOnBridge(address, BRIDGE);
}

/** A process the rehearsal started; stopped by its pid. */
export function startProcess(what: string, cmd: string, args: string[], logFile: string, cleanup: Cleanup): ChildProcess {
  const fd = openSync(logFile, "a");
  const child = spawn(cmd, args, { stdio: ["ignore", fd, fd], detached: false });
  closeSync(fd);
  cleanup.add(what, () => stopChild(child));
  return child;
}

export function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

export function startImds(host: string, config: ImdsConfig, cleanup: Cleanup): ChildProcess {
  const dir = join(RUN_DIR, host);
  mkdirSync(dir, { recursive: true });
  return startProcess(
    `imds of ${host}`,
    "ip",
    ["netns", "exec", hostNames(host).netns, process.execPath, join(__dirname, "imds.js"), JSON.stringify(config)],
    join(dir, "imds.log"),
    cleanup,
  );
}

/** The data volume: a sparse image on a loop device. Kept across reboots and replacements of the host. */
export async function createVolume(host: string, sizeMiB: number, cleanup: Cleanup): Promise<string> {
  const image = join(RUN_DIR, `${host}.img`);
  mkdirSync(RUN_DIR, { recursive: true });
  rmSync(image, { force: true });
  await run("truncate", ["-s", `${sizeMiB}M`, image]);
  cleanup.add(`image ${image}`, () => rmSync(image, { force: true }));
  const loop = (await run("losetup", ["--find", "--show", image])).trim();
  cleanup.add(`loop device ${loop}`, () => run("losetup", ["-d", loop]).then(() => undefined));
  return loop;
}

export interface Container {
  host: string;
  nspawn: ChildProcess;
  /** PID (host view) of the container's systemd. */
  leader: number;
  root: string;
}

function cgroupDirs(host: string): string[] {
  return ["unified", "systemd"].map((h) => join("/sys/fs/cgroup", h, hostNames(host).cgroup));
}

/** The pids in a cgroup tree. */
function cgroupPids(dir: string): number[] {
  if (!existsSync(dir)) return [];
  const own = (() => {
    try {
      return readFileSync(join(dir, "cgroup.procs"), "utf8").split("\n").filter(Boolean).map(Number);
    } catch {
      return [];
    }
  })();
  const subs = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory());
  return [...own, ...subs.flatMap((e) => cgroupPids(join(dir, e.name)))];
}

/**
 * Waits until a container's cgroup tree holds no process: after nspawn is stopped, the container's
 * init can still be shutting down (a slow PostgreSQL stop on a loaded machine), and while it lives
 * its cgroups cannot be removed and its namespace keeps its veth. What is left after 20 s is killed,
 * by pid (processes this rehearsal started: they are in the cgroup it made for them).
 */
async function drainCgroup(dir: string): Promise<void> {
  for (let i = 0; i < 40 && cgroupPids(dir).length; i++) await new Promise((r) => setTimeout(r, 500));
  for (const pid of cgroupPids(dir)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* gone meanwhile */
    }
  }
  for (let i = 0; i < 20 && cgroupPids(dir).length; i++) await new Promise((r) => setTimeout(r, 500));
}

/** Removes a cgroup tree bottom-up (cgroupfs directories go with rmdir only, once empty). */
function removeCgroup(dir: string): void {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeCgroup(join(dir, e.name));
  rmdirSync(dir);
}

export interface BootSpec {
  host: string;
  rootfs: string;
  userData: string;
  instanceId: string;
  hostname: string;
  volumeId: string;
  loop: string;
  /** Start from a fresh root file system (a replaced instance) instead of the host's previous one. */
  fresh: boolean;
  /** EC2 has the volume attached to this instance already (a reboot): its device is there from the start. */
  attached: boolean;
  /** The backup repository's names (for /etc/hosts) and CA (trusted like AWS's), when the deployment has one. */
  backupRepo?: { hosts: string; caPem: string };
}

/** Files the rehearsal adds to a container's root: the NoCloud seed and the stand-ins' endpoints. */
function seedRoot(root: string, s: BootSpec): void {
  const put = (path: string, content: string, mode = 0o644) => {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), content, { mode });
  };
  put("var/lib/cloud/seed/nocloud/user-data", s.userData, 0o600);
  put("var/lib/cloud/seed/nocloud/meta-data", `instance-id: ${s.instanceId}\nlocal-hostname: ${s.hostname}\n`, 0o600);
  // NoCloud is the only datasource here; the container's network is set up from outside (as EC2's
  // is by its DHCP), and apt keeps the (empty) sources of the prepared image.
  put(
    "etc/cloud/cloud.cfg.d/90-hapg-rehearsal.cfg",
    "datasource_list: [NoCloud, None]\nnetwork: {config: disabled}\napt: {preserve_sources_list: true}\n",
  );
  // systemd's fstab-generator skips device entries inside a container ("Running in a container,
  // ignoring fstab device entry"), where a VM mounts them at boot: this mounts the boot script's
  // fstab line as the AMI's systemd would, before local-fs.target (so before etcd and the agent).
  put(
    "etc/systemd/system/hapg-rehearsal-fstab.service",
    "[Unit]\nDescription=Rehearsal: mount fstab's device entries (skipped by systemd inside containers)\nDefaultDependencies=no\n" +
      "After=local-fs-pre.target\nBefore=local-fs.target\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/mount -a -t ext4\n",
  );
  mkdirSync(join(root, "etc/systemd/system/local-fs.target.wants"), { recursive: true });
  rmSync(join(root, "etc/systemd/system/local-fs.target.wants/hapg-rehearsal-fstab.service"), { force: true });
  symlinkSync("../hapg-rehearsal-fstab.service", join(root, "etc/systemd/system/local-fs.target.wants/hapg-rehearsal-fstab.service"));
  // The AWS CLI's endpoints: the S3 and SSM stand-ins on the bridge (cloud-init 25 runs user-data in cloud-init-main).
  if (s.backupRepo) {
    // The S3 endpoint's names resolve to the bridge (also in cloud-init's template, should it rewrite
    // /etc/hosts), and its certificate chains to a CA in the system trust store, as AWS's does.
    const append = (f: string, text: string) => {
      const path = join(root, f);
      if (!existsSync(path)) return;
      const before = readFileSync(path, "utf8");
      if (!before.includes(text)) writeFileSync(path, before + text); // a reboot seeds the same root again
    };
    for (const f of ["etc/hosts", "etc/cloud/templates/hosts.debian.tmpl"]) append(f, s.backupRepo.hosts);
    append("etc/ssl/certs/ca-certificates.crt", s.backupRepo.caPem);
  }
  // The AWS CLI's endpoints: the stand-ins on the bridge, for every unit that calls AWS (cloud-init's
  // user-data, the agent's topology reads and roll, the certificate refresh): the manager's default environment.
  put(
    "etc/systemd/system.conf.d/hapg-rehearsal.conf",
    `[Manager]\nDefaultEnvironment=${Object.entries(awsEndpoints())
      .map(([k, v]) => `${k}=${v}`)
      .join(" ")}\n`,
  );
}

/** Mounts the host's overlay root (a fresh one when asked) and seeds it. */
async function mountRoot(s: BootSpec, cleanup: Cleanup): Promise<string> {
  const dir = join(RUN_DIR, s.host);
  const [upper, work, root] = ["upper", "work", "root"].map((d) => join(dir, d));
  if (s.fresh) for (const d of [upper, work]) rmSync(d, { recursive: true, force: true });
  for (const d of [upper, work, root]) mkdirSync(d, { recursive: true });
  await run("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=${s.rootfs},upperdir=${upper},workdir=${work}`, root]);
  cleanup.add(`root of ${s.host}`, () => run("umount", ["-l", root]).then(() => undefined));
  seedRoot(root, s);
  return root;
}

/**
 * The volume's device appears in the host's container (EC2 attached it): the by-id link udev would make
 * on EC2, pointing at the loop device, in the directory bound at /dev/disk/by-id. Hidden again on detach.
 */
export function exposeVolume(host: string, loop: string, volumeId: string): void {
  const link = join(RUN_DIR, host, "by-id", basename(ebsDevicePath(volumeId)));
  rmSync(link, { force: true });
  symlinkSync(`../../${basename(loop)}`, link);
}

export function hideVolume(host: string, volumeId: string): void {
  rmSync(join(RUN_DIR, host, "by-id", basename(ebsDevicePath(volumeId))), { force: true });
}

/** Boots the host's container. Resolves once its systemd runs. */
export async function bootContainer(s: BootSpec, cleanup: Cleanup): Promise<Container> {
  const n = hostNames(s.host);
  const root = await mountRoot(s, cleanup);
  // The by-id link udev would make on EC2, pointing at the loop device (same name inside and out,
  // so blkid's scan of /proc/partitions finds the file system by UUID at mount time too).
  const byId = join(RUN_DIR, s.host, "by-id");
  rmSync(byId, { recursive: true, force: true });
  mkdirSync(byId, { recursive: true });
  if (s.attached) exposeVolume(s.host, s.loop, s.volumeId);
  const cgroups = cgroupDirs(s.host);
  const moveIn = cgroups.map((c) => `mkdir -p ${c} && echo $$ > ${c}/cgroup.procs`).join(" && ");
  const args = [
    "-b",
    "--register=no",
    "--keep-unit",
    "-D",
    root,
    "-M",
    n.machine,
    `--network-namespace-path=/run/netns/${n.netns}`,
    // As on EC2, root may configure the instance's own addresses (hapg-fixed-ip.service puts the fixed
    // IP on eth0); the namespace is the rehearsal's own, on its bridge.
    "--capability=CAP_NET_ADMIN",
    `--bind=${s.loop}`,
    `--bind-ro=${byId}:/dev/disk/by-id`,
    "--console=pipe",
  ];
  // With no systemd on the host, nspawn keeps the cgroup it starts in: give it one of its own per
  // hierarchy (this host mixes cgroup v1 and v2; the container gets the unified one).
  cleanup.add(`cgroups of ${s.host}`, async () => {
    for (const c of cgroups) await drainCgroup(c);
    cgroups.forEach(removeCgroup);
  });
  const nspawn = startProcess(
    `container ${s.host}`,
    "sh",
    ["-c", `${moveIn} && SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 exec systemd-nspawn "$@"`, "sh", ...args],
    join(RUN_DIR, s.host, "console.log"),
    cleanup,
  );
  const leader = await waitFor(`${s.host}'s systemd to start`, 30_000, async () => {
    if (nspawn.exitCode !== null)
      throw new Error(`systemd-nspawn of ${s.host} exited (${nspawn.exitCode}): see ${join(RUN_DIR, s.host, "console.log")}`);
    const children = readChildren(nspawn.pid!);
    for (const c of children) if (readFileSync(`/proc/${c}/comm`, "utf8").trim() === "systemd") return c;
    return undefined;
  });
  const c = { host: s.host, nspawn, leader, root };
  // Runs before the container stops: keeps its logs for a reader of a failed run.
  cleanup.add(`logs of ${s.host}`, () => keepLogs(c));
  return c;
}

/** Copies cloud-init's logs and the journal of a running container to RUN_DIR/<host>/logs-<time>/. */
export async function keepLogs(c: Container): Promise<void> {
  if (c.nspawn.exitCode !== null || c.nspawn.signalCode !== null) return;
  const dir = join(RUN_DIR, c.host, `logs-${new Date().toISOString().replace(/[:.]/g, "")}`);
  mkdirSync(dir, { recursive: true });
  for (const f of ["/var/log/cloud-init.log", "/var/log/cloud-init-output.log"]) {
    try {
      writeFileSync(join(dir, basename(f)), readFileSync(containerPath(c, f)));
    } catch {
      /* not written (yet) */
    }
  }
  const journal = await inContainer(c, ["journalctl", "-b", "--no-pager", "-o", "short-precise"], { timeoutMs: 30_000 }).catch((e) =>
    String(e),
  );
  writeFileSync(join(dir, "journal.txt"), journal);
}

/** Removes the rehearsal's cgroup parents (after every container's own cgroups went). */
export function removeCgroupRoot(): void {
  for (const h of ["unified", "systemd"]) removeCgroup(join("/sys/fs/cgroup", h, CGROUP_ROOT));
}

/** Removes the containers' root file systems (upper layers) and work directories; logs stay. */
export function removeRoots(): void {
  const hosts = existsSync(RUN_DIR) ? readdirSync(RUN_DIR, { withFileTypes: true }).filter((e) => e.isDirectory()) : [];
  for (const { name: host } of hosts) {
    for (const d of ["upper", "work", "root", "by-id"]) rmSync(join(RUN_DIR, host, d), { recursive: true, force: true });
  }
}

function readChildren(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Runs a command inside the container (all its namespaces). */
export function inContainer(c: Container, cmd: string[], opts: { timeoutMs?: number } = {}): Promise<string> {
  return run("nsenter", ["-t", String(c.leader), "-a", ...cmd], opts);
}

/** A path inside the container as the host sees it (its mounts included). */
export function containerPath(c: Container, path: string): string {
  return join(`/proc/${c.leader}/root`, path);
}

function exited(c: Container, timeoutMs: number): Promise<boolean> {
  if (c.nspawn.exitCode !== null || c.nspawn.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), timeoutMs);
    c.nspawn.once("exit", () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/** Clean shutdown (what `systemctl poweroff` inside does); SIGKILL if it takes over a minute. */
export async function powerOff(c: Container, cleanup: Cleanup): Promise<void> {
  // Its logs first: once it is off there is no journalctl to ask (the shutdown itself is in console.log).
  await keepLogs(c);
  c.nspawn.kill("SIGTERM"); // nspawn asks the container's systemd to power off
  if (!(await exited(c, 60_000))) process.kill(c.leader, "SIGKILL");
  await exited(c, 10_000);
  await cleanup.runNow(`logs of ${c.host}`);
  await cleanup.runNow(`container ${c.host}`);
  await cleanup.runNow(`cgroups of ${c.host}`);
  await cleanup.runNow(`root of ${c.host}`);
  await cleanup.runNow(`imds of ${c.host}`);
}

/** Pulls the plug: every process of the container dies at once (SIGKILL to its PID 1). */
export async function crash(c: Container, cleanup: Cleanup): Promise<void> {
  await keepLogs(c);
  process.kill(c.leader, "SIGKILL");
  await exited(c, 30_000);
  await cleanup.runNow(`logs of ${c.host}`);
  await cleanup.runNow(`container ${c.host}`);
  await cleanup.runNow(`cgroups of ${c.host}`);
  await cleanup.runNow(`root of ${c.host}`);
  await cleanup.runNow(`imds of ${c.host}`);
}

export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, everyMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = (e as Error).message;
      if (/exited \(/.test(last)) throw e;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? ` (last error: ${last})` : ""}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
