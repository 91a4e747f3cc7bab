/**
 * `hapg local up|status|down`: a whole cluster on 127.0.0.1 (etcd, N PostgreSQL nodes with their
 * agents, HAProxy), everything it starts recorded by pid so `down` stops exactly that.
 */
import * as fs from "node:fs";
import Table from "cli-table3";
import { isPostgresProcess, isRunning, readPostmasterPid } from "../sidecar/postgres/process";
import { readDesiredConfigFlag, writeDesiredConfig } from "./desired";
import { agentConfig, LOCAL_API_USER, prepareFiles, rssKb, serviceOwner, spawnAgent } from "./agents";
import { startEtcdCluster } from "./etcd";
import { Progress, waitHealthy, waitProxyWritable } from "./health";
import { localRoutingConfig, startHaproxy } from "./haproxy";
import { assertPortsFree, checkOptions, computeLayout, DEFAULT_BASE_PORT, DEFAULTS, HOST, LocalOptions } from "./layout";
import type { SynchronousMode } from "../sidecar/contract/settings/schema";
import { createNetns, netnsUnavailable } from "./netns";
import { ApiMember, clusterJsonPath, ClusterFile, fetchCluster, readClusterFile, writeClusterFile } from "./state";
import { knownProcesses, processesOfDir, readPid, stillRunning, stopEverything, teardownProblem } from "./teardown";
import { checkLocalRestore } from "./restore";
import { standbyClusterFor, writeStandbyConfig } from "./standby";
import { startS3 } from "./s3";
import { makeMemberCerts } from "./backup-tls";
import { reportLocalBoot } from "./host-reports";
import { routingFromTopology } from "../sidecar/topology/routing";
import { FIRST_REVISION, layoutTopology, localRouting, prepareAsgRequests, writeLocalTopology } from "./topology";

/** What `down` works from when cluster.json is gone: no recorded pid, only what /proc shows. */
const EMPTY_CLUSTER: ClusterFile = {
  proxy: { host: HOST, port: 0 },
  replicaProxy: { host: HOST, port: 0 },
  dsn: "",
  synchronousMode: "off",
  etcd: [],
  nodes: [],
};

export { DEFAULTS };

/** How each synchronous mode reads in progress lines and the status output. */
export function describeSyncMode(m: SynchronousMode): string {
  switch (m) {
    case "off":
      return "off (asynchronous replication)";
    case "on":
      return "on (a commit is acknowledged once a standby has it; writes go asynchronous when no standby is available)";
    case "strict":
      return "strict (a commit is acknowledged once a standby has it; writes block when no standby is available)";
    case "quorum":
      return "quorum (a commit is acknowledged once any k of the standbys have it; writes go asynchronous when none streams)";
  }
}

export interface UpOptions extends Partial<Omit<LocalOptions, "dir">> {
  dir: string;
  /** Progress lines while starting (default: none). */
  progress?: Progress;
  /** How long the cluster may take to become healthy. Default 120 s (a restore: 15 min, it copies and replays the backup). */
  timeoutMs?: number;
}

const elapsed = (t0: number) => `${((Date.now() - t0) / 1000).toFixed(1)} s`;

function haproxyPidFile(dir: string): string {
  return computeLayout({ dir, nodes: 0, etcd: 0, basePort: DEFAULT_BASE_PORT }).haproxyPidFile;
}

/**
 * Starts the cluster and returns once a primary and all replicas stream and the proxy takes writes.
 * On failure it stops everything it started (the logs stay in DIR) and throws naming the log to read.
 */
export async function localUp(opts: UpOptions): Promise<ClusterFile> {
  const o: LocalOptions = { ...DEFAULTS, ...stripUndefined(opts), dir: opts.dir };
  if (o.restore) o.backup = true; // a restored cluster archives into a repository of its own
  const problems = checkOptions(o);
  if (o.standbyOf && (o.backup || o.restore))
    problems.push("--standby-of: not with --backup or --restore-from (a standby cluster's own archive is not supported yet)");
  if (problems.length) throw new Error(problems.join("\n"));
  const unavailable = o.netns ? netnsUnavailable() : undefined;
  if (unavailable) throw new Error(unavailable);
  const desired = o.desiredConfig === undefined ? undefined : readDesiredConfigFlag(o.desiredConfig, o);
  if (desired?.problem) throw new Error(desired.problem);
  const l = computeLayout(o);
  for (const n of l.nodes) agentConfig(l, n, o); // the agent's own checks (e.g. ttl vs loopWait), before anything is created
  if (fs.existsSync(l.dir) && fs.readdirSync(l.dir).length > 0) throw new Error(occupiedDirProblem(l.dir));
  // DIR may be gone while an earlier cluster's processes in it still run (removed by hand, or by an old `down`).
  const strays = processesOfDir(l.dir).map((p) => `${p.what} (pid ${p.pid})`);
  if (strays.length > 0) {
    throw new Error(`an earlier cluster in ${l.dir} still runs: ${strays.join(", ")}: stop it with hapg local down --dir ${l.dir}`);
  }
  await assertPortsFree(l, o.backup === true);
  // The source's backups are checked before anything is created: a refused restore leaves nothing.
  if (o.restore) await checkLocalRestore(o.restore);
  const say = opts.progress ?? (() => undefined);
  const t0 = Date.now();
  const owner = serviceOwner();
  const superuserPassword = prepareFiles(l, o, owner);
  const standby = o.standbyOf ? standbyClusterFor(o.standbyOf, l.dir, owner) : undefined;
  if (o.backup) makeMemberCerts(l.backupTlsDir, l.nodes, owner);
  if (desired?.doc) writeDesiredConfig(l.dir, desired.doc, owner);
  if (o.topology) {
    writeLocalTopology(l.dir, layoutTopology(l));
    prepareAsgRequests(l.dir, owner);
  }
  say(`files: ${l.dir}${owner ? ` (agents run as ${owner.name})` : ""}`);
  say(`synchronous mode: ${describeSyncMode(o.synchronousMode)}`);

  const state: ClusterFile = {
    proxy: { host: HOST, port: l.proxyPort },
    replicaProxy: { host: HOST, port: l.replicaProxyPort },
    dsn: `postgresql://postgres:${encodeURIComponent(superuserPassword)}@${HOST}:${l.proxyPort}/postgres`,
    api: { username: LOCAL_API_USER, passwordFile: l.apiPasswordFile },
    synchronousMode: o.synchronousMode,
    etcd: [],
    nodes: [],
  };
  // From the first process on, `down` finds the cluster (etcd members are also found by their pid files).
  writeClusterFile(l.dir, state);
  let failedLog = "";
  try {
    if (l.network) {
      createNetns(l.network); // throws before touching anything when the names or the subnet are taken
      state.network = l.network; // from here on, stopEverything removes them
      writeClusterFile(l.dir, state); // `down` removes the namespaces even if etcd fails to start
      say(`network: bridge ${l.network.bridge} ${l.network.gateway} on ${l.network.subnet}; a namespace per node and etcd member`);
    }
    if (o.backup) {
      failedLog = `${l.s3Dir}/s3rver.log`;
      const s3 = await startS3({ dir: l.s3Dir, port: l.s3Port, owner });
      state.s3 = { pid: s3.pid, port: s3.port, dir: l.s3Dir, bucket: s3.bucket };
      writeClusterFile(l.dir, state);
      say(`s3: s3rver started (pid ${s3.pid}) on https://localhost:${s3.port}, bucket ${s3.bucket}: the backup repository`);
    }
    failedLog = `${l.etcdDir}/etcd-*.log`;
    const etcd = await startEtcdCluster({
      dir: l.etcdDir,
      members: o.etcd,
      hosts: l.etcd.map((e) => e.host),
      netns: l.etcd.map((e) => e.netns),
      clientPorts: l.etcd.map((e) => e.clientPort),
      peerPorts: l.etcd.map((e) => e.peerPort),
      onProgress: (m) => say(`etcd: ${m}`),
    });
    state.etcd = etcd.members.map((m) => ({ name: m.name, clientUrl: m.clientUrl, pid: m.pid, ...(m.netns ? { netns: m.netns } : {}) }));
    writeClusterFile(l.dir, state); // from here on `down` can clean up, even after a Ctrl-C
    if (standby) {
      await writeStandbyConfig(state, standby);
      say(
        `standby cluster of ${o.standbyOf!.dir}: streaming from its proxy ${standby.host}:${standby.port}${standby.restore_command ? ", reading its WAL archive when it cannot" : ""}`,
      );
    }
    // What each host booted, as `hapg host-report` writes it on AWS (the roll compares it with the topology).
    if (o.topology) for (const h of [...l.etcd, ...l.nodes]) await reportLocalBoot(state, h.name, FIRST_REVISION, `local-${h.name}-1`);

    for (const n of l.nodes) {
      failedLog = n.logFile;
      const pid = spawnAgent(n, owner);
      state.nodes.push({
        name: n.name,
        host: n.host,
        pgPort: n.pgPort,
        apiUrl: `http://${n.host}:${n.apiPort}`,
        dataDir: n.dataDir,
        agentPid: pid,
        ...(n.netns ? { netns: n.netns } : {}),
      });
      writeClusterFile(l.dir, state);
      say(
        `${n.name}: agent started (pid ${pid}), PostgreSQL on ${n.host}:${n.pgPort}, API on ${n.host}:${n.apiPort}${n.netns ? ` (namespace ${n.netns})` : ""}`,
      );
    }

    failedLog = l.haproxyLog;
    fs.writeFileSync(l.haproxyConfig, o.topology ? routingFromTopology(layoutTopology(l), localRouting(l)) : localRoutingConfig(l));
    const haproxyPid = await startHaproxy({
      configFile: l.haproxyConfig,
      pidFile: l.haproxyPidFile,
      logFile: l.haproxyLog,
      host: HOST,
      statsPort: l.statsPort,
    });
    say(
      `haproxy: started (pid ${haproxyPid}), primary ${HOST}:${l.proxyPort}, replicas ${HOST}:${l.replicaProxyPort}, stats http://${HOST}:${l.statsPort}/stats`,
    );

    failedLog = l.nodes.map((n) => n.logFile).join(", ");
    const leader = await waitHealthy(l.dir, opts.timeoutMs ?? (o.restore ? 900_000 : 120_000), (m) => say(`[${elapsed(t0)}] ${m}`), {
      standby: standby !== undefined,
    });
    failedLog = l.haproxyLog;
    // A standby cluster takes no writes until it is promoted (hapg promote-cluster).
    if (!standby) await waitProxyWritable(state.dsn, 15_000);
    say(`[${elapsed(t0)}] healthy: ${leader} is ${standby ? "the standby leader" : "primary"}, ${o.nodes - 1} replica(s) streaming`);
    return state;
  } catch (e) {
    say(`failed after ${elapsed(t0)}: stopping what was started`);
    const left = teardownProblem(l.dir, await stopEverything(l.dir, state));
    const how = `remove the files with: hapg local down --dir ${l.dir}`;
    throw new Error(`hapg local up failed: ${(e as Error).message}\n  read: ${failedLog}\n  ${how}${left ? `\n${left}` : ""}`, {
      cause: e,
    });
  }
}

/** Why `up` refuses a non-empty DIR, naming what of a previous cluster there still runs. */
function occupiedDirProblem(dir: string): string {
  const hasFile = fs.existsSync(clusterJsonPath(dir));
  let running: string[];
  try {
    running = (hasFile ? knownProcesses(dir, readClusterFile(dir)) : processesOfDir(dir))
      .filter(stillRunning)
      .map((p) => `${p.what} (pid ${p.pid})`);
  } catch (e) {
    return `${dir} holds an unreadable cluster.json (${(e as Error).message}): use another --dir, or remove ${dir} once nothing of it runs`;
  }
  if (running.length > 0) {
    return `${dir} holds a local cluster that is still running: ${running.join(", ")}: stop it first with hapg local down --dir ${dir}`;
  }
  return hasFile
    ? `${dir} holds the files of a stopped local cluster: remove them with hapg local down --dir ${dir}, or use another --dir`
    : `${dir} is not empty: use a new or empty --dir`;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * Stops what `up` started in DIR, confirms that all of it is gone, and removes DIR (keepFiles: leaves
 * data and logs, e.g. after a failure, for reading). Returns what was stopped, for the report. Throws
 * naming whatever still runs (DIR is then kept, so `down` can be run again).
 */
export async function localDown(dir: string, progress?: Progress, o: { keepFiles?: boolean } = {}): Promise<string[]> {
  const file = clusterJsonPath(dir);
  const hasFile = fs.existsSync(file);
  // Without cluster.json (DIR removed, or `up` killed before it wrote one) the processes are found
  // by their command lines, which name paths under DIR.
  if (!hasFile && processesOfDir(dir).length === 0) {
    if (!fs.existsSync(dir)) return [];
    throw new Error(`${file} not found: ${dir} does not look like a local cluster (nothing stopped, nothing removed)`);
  }
  const c: ClusterFile = hasFile ? readClusterFile(dir) : { ...EMPTY_CLUSTER };
  const report = await stopEverything(dir, c);
  for (const s of report.stopped) progress?.(`stopped ${s}`);
  const problem = teardownProblem(dir, report);
  if (problem) throw new Error(problem);
  if (o.keepFiles || !hasFile) return report.stopped;
  fs.rmSync(dir, { recursive: true, force: true });
  progress?.(`removed ${dir}`);
  return report.stopped;
}

export interface NodeStatus {
  name: string;
  role: string;
  state: string;
  timeline?: number;
  lag?: number | string;
  host: string;
  pgPort: number;
  apiUrl: string;
  agentPid: number;
  agentRunning: boolean;
  agentRssKb?: number;
  postmasterPid?: number;
  postmasterRunning: boolean;
}

export interface StatusReport {
  synchronousMode: SynchronousMode;
  proxy: ClusterFile["proxy"];
  replicaProxy: ClusterFile["replicaProxy"];
  nodes: NodeStatus[];
  etcd: (ClusterFile["etcd"][number] & { running: boolean })[];
  haproxy: { pid?: number; running: boolean };
  /** With --backup: the local S3 server. */
  s3?: { pid: number; port: number; running: boolean };
}

/** The cluster as the agents report it (/cluster) plus what runs locally. The DSN (with its password) stays out. */
export async function localStatus(dir: string): Promise<StatusReport> {
  const c = readClusterFile(dir);
  const view = await fetchCluster(c);
  const haproxy = readPid(haproxyPidFile(dir));
  return {
    synchronousMode: c.synchronousMode,
    proxy: c.proxy,
    replicaProxy: c.replicaProxy,
    nodes: c.nodes.map((n) => {
      const m: ApiMember | undefined = view?.members.find((x) => x.name === n.name);
      const pm = readPostmasterPid(n.dataDir)?.pid;
      const agentRunning = isRunning(n.agentPid);
      return {
        name: n.name,
        role: m?.role ?? (view ? "absent" : "unknown"),
        state: m?.state ?? (agentRunning ? "unknown" : "agent stopped"),
        timeline: m?.timeline,
        lag: m?.lag,
        host: n.host,
        pgPort: n.pgPort,
        apiUrl: n.apiUrl,
        agentPid: n.agentPid,
        agentRunning,
        agentRssKb: agentRunning ? rssKb(n.agentPid) : undefined,
        postmasterPid: pm,
        postmasterRunning: pm !== undefined && isRunning(pm) && isPostgresProcess(pm),
      };
    }),
    etcd: c.etcd.map((e) => ({ ...e, running: isRunning(e.pid) })),
    haproxy: { pid: haproxy, running: haproxy !== undefined && isRunning(haproxy) },
    ...(c.s3 ? { s3: { pid: c.s3.pid, port: c.s3.port, running: isRunning(c.s3.pid) } } : {}),
  };
}

/** A cli-table3 table, without colour codes when stdout is not a terminal (logs, CI, pipes). */
export function newTable(head?: string[]): InstanceType<typeof Table> {
  const plain = process.stdout.isTTY !== true;
  return new Table({ ...(head ? { head } : {}), ...(plain ? { style: { head: [], border: [] } } : {}) });
}

const pidCell = (pid: number | undefined, running: boolean) => (pid === undefined ? "-" : running ? String(pid) : `${pid} (gone)`);

export function formatStatus(s: StatusReport): string {
  const t = newTable(["node", "role", "state", "timeline", "lag (bytes)", "PostgreSQL", "agent pid", "postmaster pid", "agent RSS"]);
  for (const n of s.nodes) {
    t.push([
      n.name,
      n.role,
      n.state,
      n.timeline ?? "-",
      n.lag ?? "-",
      `${n.host}:${n.pgPort}`,
      pidCell(n.agentPid, n.agentRunning),
      pidCell(n.postmasterPid, n.postmasterRunning),
      n.agentRssKb === undefined ? "-" : `${(n.agentRssKb / 1024).toFixed(1)} MB`,
    ]);
  }
  const etcd = s.etcd.map((e) => `${e.name} ${e.clientUrl} pid ${pidCell(e.pid, e.running)}`).join("; ");
  return [
    t.toString(),
    `primary proxy  ${s.proxy.host}:${s.proxy.port}    replica proxy  ${s.replicaProxy.host}:${s.replicaProxy.port}    haproxy pid ${pidCell(s.haproxy.pid, s.haproxy.running)}`,
    `etcd           ${etcd}`,
    `synchronous    ${describeSyncMode(s.synchronousMode)}`,
    ...(s.s3 ? [`backups        s3rver https://localhost:${s.s3.port} pid ${pidCell(s.s3.pid, s.s3.running)}`] : []),
  ].join("\n");
}
