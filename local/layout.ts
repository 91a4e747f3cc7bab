/**
 * Where everything of a local cluster lives: ports on 127.0.0.1 (with --netns: on each host's own
 * address, see netns.ts) and paths under DIR. Pure and
 * deterministic, so `status`, `down` and `restartNode` find things again from DIR alone.
 *
 * Port layout from the base port P (default 15000):
 *   etcd member i client  P + i          (i < 10)
 *   etcd member i peer    P + 10 + i
 *   HAProxy primary       P + 20         (forwards to the member whose /primary answers 200)
 *   HAProxy replicas      P + 21         (round robin over members whose /replica answers 200)
 *   HAProxy stats         P + 22         (HTTP stats page, /stats)
 *   S3 (s3rver, HTTPS)    P + 23         (with --backup: the backup repository)
 *   node i pgBackRest     P + 60 + i     (with --backup, i < 40: its TLS server, for backups taken on a replica;
 *                                        P + 30.. stays free for a restored cluster beside this one)
 *   node i PostgreSQL     P + 100 + i    (i < 100)
 *   node i agent API      P + 200 + i
 */
import * as net from "node:net";
import * as path from "node:path";
import {
  HA_DEFAULTS,
  haSettingsSchema,
  SYNCHRONOUS_MODES,
  synchronousQuorumProblem,
  type SynchronousMode,
} from "../sidecar/contract/settings/schema";
import type { FromBackupInput } from "../sidecar/contract/restore-config";
import { NetnsPlan, planNetns } from "./netns";

export const HOST = "127.0.0.1";
export const DEFAULT_BASE_PORT = 15000;
export const MAX_ETCD = 9;
export const MAX_NODES = 99;
/** With --backup each node's pgBackRest TLS server takes a port from P + 60 on, below PostgreSQL's at P + 100. */
export const MAX_BACKUP_NODES = 40;

/**
 * The synchronous mode from the CLI flags: `--synchronous-mode off|on|strict`, or the shorthands
 * `--sync` (on), `--sync-strict` (strict) and `--async` (off). Throws naming the flags on a bad or
 * contradictory value.
 */
export function syncModeFromFlags(f: { sync?: boolean; syncStrict?: boolean; async?: boolean; synchronousMode?: string }): SynchronousMode {
  if (f.async && (f.sync || f.syncStrict))
    throw new Error(`--async contradicts ${f.syncStrict ? "--sync-strict" : "--sync"}: give one of them`);
  const short: SynchronousMode | undefined = f.syncStrict ? "strict" : f.sync ? "on" : f.async ? "off" : undefined;
  if (f.synchronousMode === undefined) return short ?? HA_DEFAULTS.synchronousMode;
  const mode = f.synchronousMode as SynchronousMode;
  if (!SYNCHRONOUS_MODES.includes(mode)) {
    throw new Error(`--synchronous-mode: "${f.synchronousMode}" must be one of ${SYNCHRONOUS_MODES.join(", ")}`);
  }
  if (short !== undefined && short !== mode) {
    const flag = f.syncStrict ? "--sync-strict" : f.sync ? "--sync" : "--async";
    throw new Error(`--synchronous-mode ${mode} contradicts ${flag} (short for ${short}): give one of them`);
  }
  return mode;
}

export interface LocalOptions {
  dir: string;
  nodes: number;
  etcd: number;
  basePort: number;
  /** Agent timing, seconds (`--ttl`, `--loop-wait`, `--retry-timeout`; defaults: the settings schema's). */
  ttl: number;
  loopWait: number;
  retryTimeout: number;
  /** Synchronous replication (`--synchronous-mode`, or `--sync` / `--sync-strict` / `--async`). Default: the settings schema's. */
  synchronousMode: SynchronousMode;
  /** Synchronous mode "quorum": how many standbys a commit waits for (`--synchronous-quorum`; default: the settings schema's). */
  synchronousQuorum: number;
  /** Every node and etcd member in a network namespace of its own (`--netns`, root): partitions become possible. Default false. */
  netns: boolean;
  /** `--desired-config FILE`: seeds DIR/desired-config.json, which the leader converges etcd's config key to. */
  desiredConfig?: string;
  /** Continuous archiving and backups to a local S3 server (s3rver) on 127.0.0.1 (`--backup`). Default false. */
  backup?: boolean;
  /** Create the cluster from another cluster's backups (`--restore-from`, local/restore.ts); implies `backup`. */
  restore?: FromBackupInput;
  /**
   * `--topology`: DIR/topology.json lists the nodes and etcd members; the agents read it (HAProxy's backends, etcd
   * endpoints, the roll) and `hapg local scale` / `hapg local roll` change it. Default false.
   */
  topology?: boolean;
  /** `--standby-of DIR`: a standby cluster of the running local cluster in DIR (local/standby.ts). */
  standbyOf?: LocalStandbySource;
}

/** What a standby cluster takes from its source (`--standby-of`, ./standby.ts): where to stream from, the passwords, the archive. */
export interface LocalStandbySource {
  dir: string;
  /** The source's primary proxy (HAProxy's primary port). */
  endpoint: { host: string; port: number };
  superuserPassword: string;
  replicationPassword: string;
  /** The source's repository (a source started with --backup), as bootstrap.fromBackup names one. */
  archive?: { repo: Record<string, unknown>; stanza: string; cipherPassphraseFile?: string };
}

export interface EtcdSlot {
  name: string;
  /** The address it listens on: 127.0.0.1, or its namespace's address. */
  host: string;
  netns?: string;
  clientPort: number;
  peerPort: number;
  dataDir: string;
}

export interface NodeSlot {
  name: string;
  host: string;
  netns?: string;
  pgPort: number;
  apiPort: number;
  /** DIR/<name>: owned by the service user; holds data/, agent.json, agent.log. */
  nodeDir: string;
  dataDir: string;
  configFile: string;
  logFile: string;
  /** With --backup: its pgBackRest TLS server. */
  backupServerPort: number;
}

export interface Layout {
  dir: string;
  /** The namespaces and bridge with --netns. */
  network?: NetnsPlan;
  etcd: EtcdSlot[];
  nodes: NodeSlot[];
  proxyPort: number;
  replicaProxyPort: number;
  statsPort: number;
  /** The local S3 server (with --backup). */
  s3Port: number;
  s3Dir: string;
  secretsDir: string;
  superuserPasswordFile: string;
  replicationPasswordFile: string;
  /** The password of the agents' API for calls that change something (user LOCAL_API_USER). */
  apiPasswordFile: string;
  /** With --backup: the CA and the nodes' certificates of the pgBackRest TLS servers. */
  backupTlsDir: string;
  haproxyDir: string;
  haproxyConfig: string;
  haproxyLog: string;
  haproxyPidFile: string;
  etcdDir: string;
  clusterJson: string;
}

/** Returns a problem per bad option (empty when fine); the CLI prints them and exits. */
export function checkOptions(o: LocalOptions): string[] {
  const problems: string[] = [];
  if (!path.isAbsolute(o.dir)) problems.push(`--dir: "${o.dir}" must be an absolute path`);
  if (!Number.isInteger(o.nodes) || o.nodes < 1 || o.nodes > MAX_NODES) problems.push(`--nodes: must be an integer from 1 to ${MAX_NODES}`);
  if (!Number.isInteger(o.etcd) || o.etcd < 1 || o.etcd > MAX_ETCD) problems.push(`--etcd: must be an integer from 1 to ${MAX_ETCD}`);
  if (!Number.isInteger(o.basePort) || o.basePort < 1024 || o.basePort + 299 > 65535) {
    problems.push(`--base-port: must be an integer from 1024 to ${65535 - 299} (the cluster uses P .. P+299)`);
  }
  // The agents' own rules (settings schema), reported on the flag that sets the value.
  const settings = haSettingsSchema.safeParse(localSettings(o));
  for (const issue of settings.success ? [] : settings.error.issues) {
    const leaf = String(issue.path[issue.path.length - 1] ?? "");
    const flag = `--${leaf.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    problems.push(`${flag}: ${issue.message}`);
  }
  if (o.backup && o.nodes > MAX_BACKUP_NODES) problems.push(`--nodes: at most ${MAX_BACKUP_NODES} with --backup`);
  const quorum = synchronousQuorumProblem(o.synchronousMode, o.synchronousQuorum, o.nodes - 1);
  if (quorum) problems.push(`--synchronous-quorum: ${quorum}`);
  return problems;
}

/** The HA settings every agent of a local cluster runs with. */
export function localSettings(o: Pick<LocalOptions, "ttl" | "loopWait" | "retryTimeout" | "synchronousMode" | "synchronousQuorum">) {
  return {
    timing: { ttl: o.ttl, loopWait: o.loopWait, retryTimeout: o.retryTimeout },
    synchronousMode: o.synchronousMode,
    synchronousQuorum: o.synchronousQuorum,
    // Never on a developer's machine: several agents share one kernel, and the fault suite freezes
    // leaders on purpose (SIGSTOP), which with a watchdog would reset the whole machine.
    watchdog: { mode: "off" as const },
  };
}

export function nodeName(i: number): string {
  return `node${i + 1}`;
}

export function computeLayout(o: Pick<LocalOptions, "dir" | "nodes" | "etcd" | "basePort"> & { netns?: boolean }): Layout {
  const dir = path.resolve(o.dir);
  const P = o.basePort;
  const network = o.netns ? planNetns(P, o.etcd, o.nodes) : undefined;
  const etcd = Array.from({ length: o.etcd }, (_, i) => ({
    // Names and data dirs as startEtcdCluster lays them out under DIR/etcd.
    name: `etcd-${i + 1}`,
    host: network?.etcd[i].address ?? HOST,
    netns: network?.etcd[i].netns,
    clientPort: P + i,
    peerPort: P + 10 + i,
    dataDir: path.join(dir, "etcd", `etcd-${i + 1}.data`),
  }));
  const nodes = Array.from({ length: o.nodes }, (_, i) => {
    const nodeDir = path.join(dir, nodeName(i));
    return {
      name: nodeName(i),
      host: network?.nodes[i].address ?? HOST,
      netns: network?.nodes[i].netns,
      pgPort: P + 100 + i,
      apiPort: P + 200 + i,
      nodeDir,
      dataDir: path.join(nodeDir, "data"),
      configFile: path.join(nodeDir, "agent.json"),
      logFile: path.join(nodeDir, "agent.log"),
      backupServerPort: P + 60 + i,
    };
  });
  const secretsDir = path.join(dir, "secrets");
  const haproxyDir = path.join(dir, "haproxy");
  return {
    dir,
    network,
    etcd,
    nodes,
    proxyPort: P + 20,
    replicaProxyPort: P + 21,
    statsPort: P + 22,
    s3Port: P + 23,
    s3Dir: path.join(dir, "s3"),
    secretsDir,
    superuserPasswordFile: path.join(secretsDir, "superuser.password"),
    replicationPasswordFile: path.join(secretsDir, "replication.password"),
    apiPasswordFile: path.join(secretsDir, "api.password"),
    backupTlsDir: path.join(secretsDir, "pgbackrest-tls"),
    haproxyDir,
    haproxyConfig: path.join(haproxyDir, "haproxy.cfg"),
    haproxyLog: path.join(haproxyDir, "haproxy.log"),
    haproxyPidFile: path.join(haproxyDir, "haproxy.pid"),
    etcdDir: path.join(dir, "etcd"),
    clusterJson: path.join(dir, "cluster.json"),
  };
}

/** Every port the layout uses on 127.0.0.1, with what it is for (used in the "port taken" message). */
export function portsOf(l: Layout, backup = false): { port: number; use: string }[] {
  const proxy = [
    { port: l.proxyPort, use: "HAProxy primary" },
    { port: l.replicaProxyPort, use: "HAProxy replicas" },
    { port: l.statsPort, use: "HAProxy stats" },
    ...(backup ? [{ port: l.s3Port, use: "S3 server (s3rver)" }] : []),
  ];
  // With --netns the members listen in namespaces of their own; only HAProxy is on the host's loopback.
  if (l.network) return proxy;
  return [
    ...l.etcd.flatMap((e) => [
      { port: e.clientPort, use: `${e.name} client` },
      { port: e.peerPort, use: `${e.name} peer` },
    ]),
    ...proxy,
    ...l.nodes.flatMap((n) => [
      { port: n.pgPort, use: `${n.name} PostgreSQL` },
      { port: n.apiPort, use: `${n.name} agent API` },
      ...(backup ? [{ port: n.backupServerPort, use: `${n.name} pgBackRest TLS server` }] : []),
    ]),
  ];
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once("error", () => resolve(false));
    srv.listen({ host: HOST, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** Throws naming the first taken port and what the cluster wanted it for. */
export async function assertPortsFree(l: Layout, backup = false): Promise<void> {
  const taken: string[] = [];
  for (const p of portsOf(l, backup)) if (!(await portFree(p.port))) taken.push(`${HOST}:${p.port} (${p.use})`);
  if (taken.length) {
    throw new Error(`port(s) already in use: ${taken.join(", ")}: stop what uses them or pick another --base-port`);
  }
}

/** Defaults of `hapg local up`: the HA settings' come from their schema (sidecar/contract/settings/schema.ts). */
export const DEFAULTS: Omit<LocalOptions, "dir"> = {
  nodes: 3,
  etcd: 3,
  basePort: DEFAULT_BASE_PORT,
  ttl: HA_DEFAULTS.timing.ttl,
  loopWait: HA_DEFAULTS.timing.loopWait,
  retryTimeout: HA_DEFAULTS.timing.retryTimeout,
  synchronousMode: HA_DEFAULTS.synchronousMode,
  synchronousQuorum: HA_DEFAULTS.synchronousQuorum,
  netns: false,
  backup: false,
};
