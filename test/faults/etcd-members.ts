/**
 * The local cluster's etcd members, stopped and restarted by pid (cluster.json keeps the new pid for
 * `down`): what the etcd scenarios (scenarios.ts, failsafe.ts) share.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { EtcdMemberInfo, isAlive as etcdAlive } from "../../local/etcd";
import { computeLayout, DEFAULT_BASE_PORT } from "../../local/layout";
import { ClusterFile, readClusterFile, writeClusterFile } from "../../local/state";
import { restartEtcdMember, stopEtcdMember } from "../helpers/etcd";
import type { Say } from "./context";

function etcdMemberInfo(dir: string, c: ClusterFile, name: string): EtcdMemberInfo {
  const e = c.etcd.find((x) => x.name === name);
  if (!e) throw new Error(`no etcd member ${name}`);
  const args = fs.readFileSync(`/proc/${e.pid}/cmdline`, "utf8").split("\0").filter(Boolean).slice(1);
  const etcdDir = computeLayout({ dir, nodes: 0, etcd: 0, basePort: DEFAULT_BASE_PORT }).etcdDir;
  const dataDir = args.find((a) => a.startsWith("--data-dir="))?.slice("--data-dir=".length) ?? path.join(etcdDir, `${name}.data`);
  const peerUrl = args.find((a) => a.startsWith("--listen-peer-urls="))?.slice("--listen-peer-urls=".length) ?? "";
  return {
    name,
    clientUrl: e.clientUrl,
    peerUrl,
    pid: e.pid,
    dataDir,
    logFile: path.join(etcdDir, `${name}.log`),
    pidFile: path.join(etcdDir, `${name}.pid`),
    args,
  };
}

/** What restartEtcd needs, read (from /proc/PID/cmdline) before the members are stopped. */
export function etcdInfos(dir: string, names: string[]): EtcdMemberInfo[] {
  const c = readClusterFile(dir);
  return names.map((n) => etcdMemberInfo(dir, c, n));
}

export async function stopEtcd(infos: EtcdMemberInfo[]): Promise<void> {
  await Promise.all(infos.map((m) => stopEtcdMember(m.pid)));
}

export async function restartEtcd(dir: string, infos: EtcdMemberInfo[], say: Say): Promise<void> {
  // Restarted together: one member alone has no quorum and never reports healthy.
  const restarted = await Promise.all(
    infos.filter((m) => !etcdAlive(m.pid)).map((m) => restartEtcdMember(m, { timeoutMs: 30_000, onProgress: (l) => say(`  etcd: ${l}`) })),
  );
  const c = readClusterFile(dir);
  for (const r of restarted) c.etcd.find((e) => e.name === r.name)!.pid = r.pid;
  writeClusterFile(dir, c);
}
