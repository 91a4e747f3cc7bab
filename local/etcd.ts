/**
 * Starts and stops real local etcd processes for `hapg local` and the integration tests. Every
 * member listens on `host` only (127.0.0.1 by default), keeps its data under opts.dir, logs to
 * `dir/etcd-N.log` and records its pid in `dir/etcd-N.pid`. Processes are spawned detached (their
 * own process group) so a Ctrl-C or crash of the parent does not take etcd down half-way; callers
 * stop them by pid. Only flags that exist in etcd 3.4, 3.5 and 3.6 are used.
 */
import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { isRunning as isAlive, signalIfAlive } from "../sidecar/postgres/process";
import { memberHealthy } from "../sidecar/membership/etcd-members";
import { inNetns } from "./netns";

/** Alive and not a zombie (a zombie has exited; its parent just has not reaped it yet). */
export { isAlive };

export interface EtcdClusterOptions {
  dir: string;
  members: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Per member: its own address (overrides host) and network namespace (local up --netns). */
  hosts?: string[];
  netns?: (string | undefined)[];
  clientPorts: number[];
  peerPorts: number[];
  /** Default "hapg-local". */
  clusterToken?: string;
  /** How long to wait for every member to report healthy. Default 30 s. */
  timeoutMs?: number;
  onProgress?: (msg: string) => void;
}

export interface EtcdMemberInfo {
  name: string;
  clientUrl: string;
  peerUrl: string;
  pid: number;
  dataDir: string;
  logFile: string;
  pidFile: string;
  /** The command line it runs with (a member can be started again with it). */
  args: string[];
  /** The network namespace it runs in (local up --netns). */
  netns?: string;
}

export interface EtcdCluster {
  members: EtcdMemberInfo[];
}

/** The etcd binary: `which etcd` (Debian package etcd-server installs /usr/bin/etcd). */
export function findEtcdBinary(): string {
  try {
    const found = execFileSync("which", ["etcd"], { encoding: "utf8" }).trim();
    if (found) return found;
  } catch {
    // fall through to the error below
  }
  throw new Error("etcd not found on PATH: install it (Debian: apt-get install etcd-server)");
}

export async function startEtcdCluster(opts: EtcdClusterOptions): Promise<EtcdCluster> {
  const n = opts.members;
  if (!Number.isInteger(n) || n < 1) throw new Error(`members must be a positive integer (got ${n})`);
  if (opts.clientPorts.length < n || opts.peerPorts.length < n) {
    throw new Error(`need ${n} client and peer ports (got ${opts.clientPorts.length} and ${opts.peerPorts.length})`);
  }
  const hostOf = (i: number) => opts.hosts?.[i] ?? opts.host ?? "127.0.0.1";
  const names = Array.from({ length: n }, (_, i) => `etcd-${i + 1}`);
  const peerUrls = names.map((_, i) => `http://${hostOf(i)}:${opts.peerPorts[i]}`);
  const initialCluster = names.map((name, i) => `${name}=${peerUrls[i]}`).join(",");
  const binary = findEtcdBinary();
  fs.mkdirSync(opts.dir, { recursive: true });

  const members: EtcdMemberInfo[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const clientUrl = `http://${hostOf(i)}:${opts.clientPorts[i]}`;
      const dataDir = path.join(opts.dir, `${names[i]}.data`);
      const args = etcdArgs({
        name: names[i],
        dataDir,
        clientUrl,
        peerUrl: peerUrls[i],
        initialCluster,
        state: "new",
        token: opts.clusterToken ?? "hapg-local",
      });
      const member: EtcdMemberInfo = {
        name: names[i],
        clientUrl,
        peerUrl: peerUrls[i],
        pid: 0,
        dataDir,
        logFile: path.join(opts.dir, `${names[i]}.log`),
        pidFile: path.join(opts.dir, `${names[i]}.pid`),
        args,
        netns: opts.netns?.[i],
      };
      member.pid = spawnEtcd(binary, member);
      members.push(member);
      opts.onProgress?.(`started ${member.name} (pid ${member.pid}) on ${clientUrl}`);
    }
    // A member is healthy only once the cluster has a leader, so all are started before waiting.
    await Promise.all(members.map((m) => waitMemberHealthy(m, opts.timeoutMs ?? 30_000)));
    opts.onProgress?.(`etcd cluster of ${n} healthy: ${members.map((m) => m.clientUrl).join(",")}`);
    return { members };
  } catch (err) {
    await Promise.all(members.map((m) => stopProcess(m.pid, 3000).catch(() => undefined)));
    throw err;
  }
}

/** One local member's command line (only flags etcd 3.4, 3.5 and 3.6 all have). Pure. */
export function etcdArgs(m: {
  name: string;
  dataDir: string;
  clientUrl: string;
  peerUrl: string;
  initialCluster: string;
  state: "new" | "existing";
  token: string;
}): string[] {
  return [
    `--name=${m.name}`,
    `--data-dir=${m.dataDir}`,
    `--listen-client-urls=${m.clientUrl}`,
    `--advertise-client-urls=${m.clientUrl}`,
    `--listen-peer-urls=${m.peerUrl}`,
    `--initial-advertise-peer-urls=${m.peerUrl}`,
    `--initial-cluster=${m.initialCluster}`,
    `--initial-cluster-state=${m.state}`,
    `--initial-cluster-token=${m.token}`,
    // Fast local failure detection; etcd's minimum lease TTL becomes 1.5 × election timeout ≈ 2 s.
    "--heartbeat-interval=100",
    "--election-timeout=1000",
    "--logger=zap",
  ];
}

/** Starts one member's etcd detached, in its namespace if it has one; records and returns its pid. */
export function spawnEtcd(binary: string, member: EtcdMemberInfo): number {
  const log = fs.openSync(member.logFile, "a");
  try {
    // ETCD_* variables are read as flags and conflict with ours: never inherit them.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("ETCD_")));
    const { cmd, args } = inNetns(member.netns, binary, member.args);
    const child = spawn(cmd, args, { detached: true, stdio: ["ignore", log, log], env });
    if (child.pid === undefined) throw new Error(`${member.name}: etcd did not start (see ${member.logFile})`);
    child.on("error", () => undefined); // reported through the health wait and the log
    child.unref();
    fs.writeFileSync(member.pidFile, `${child.pid}\n`);
    return child.pid;
  } finally {
    fs.closeSync(log);
  }
}

/** Resolves once the member reports healthy; rejects naming its log when it exits or times out. */
export async function waitMemberHealthy(member: EtcdMemberInfo, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(member.pid)) throw new Error(`${member.name} (pid ${member.pid}) exited at start:\n${logTail(member.logFile)}`);
    if (await isHealthy(member.clientUrl)) return;
    await sleep(100);
  }
  throw new Error(`${member.name} not healthy within ${timeoutMs} ms:\n${logTail(member.logFile)}`);
}

/** GET /health answers {"health":"true"} once the member is part of a cluster with a leader. */
export function isHealthy(clientUrl: string, timeoutMs = 1000): Promise<boolean> {
  return memberHealthy(clientUrl, {}, timeoutMs);
}

function logTail(file: string, lines = 15): string {
  try {
    return fs.readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return `(no log at ${file})`;
  }
}

/**
 * SIGTERM, then SIGKILL when the process is still there after timeoutMs; resolves once the pid is
 * gone. SIGCONT follows SIGTERM so a SIGSTOPped process can act on it.
 */
export async function stopProcess(pid: number, timeoutMs: number): Promise<void> {
  if (!Number.isInteger(pid) || pid <= 1) throw new Error(`refusing to signal pid ${pid}`);
  if (!isAlive(pid)) return;
  signalIfAlive(pid, "SIGTERM");
  signalIfAlive(pid, "SIGCONT");
  const termDeadline = Date.now() + timeoutMs;
  while (isAlive(pid) && Date.now() < termDeadline) await sleep(25);
  if (!isAlive(pid)) return;
  signalIfAlive(pid, "SIGKILL");
  const killDeadline = Date.now() + 5000;
  while (isAlive(pid)) {
    if (Date.now() > killDeadline) throw new Error(`pid ${pid} survived SIGKILL for 5 s`);
    await sleep(25);
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
