/**
 * The agents of a local cluster: their config files, the shared secrets, and their processes.
 * PostgreSQL refuses to run as root, so as root every agent runs as the service user and owns its files.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { AgentConfigInput, DEFAULT_API_USER, validateAgentConfig } from "../sidecar/contract/agent-config";
import { desiredConfigPath, LOCAL_DESIRED_INTERVAL_S } from "./desired";
import { Layout, LocalOptions, localSettings, NodeSlot } from "./layout";
import { inNetns } from "./netns";
import { chownRecursive, ensureServiceUser } from "./os-user";
import { LOCAL_BUCKET } from "./s3";
import { memberTlsFiles } from "./backup-tls";
import { localTopologySections } from "./topology";

export const CLUSTER_NAME = "local";

export interface Owner {
  name: string;
  uid: number;
  gid: number;
}

/** The service user when we are root (PostgreSQL refuses root), else undefined: run as ourselves. */
export function serviceOwner(): Owner | undefined {
  return process.getuid?.() === 0 ? ensureServiceUser() : undefined;
}

export type AgentOptions = Pick<
  LocalOptions,
  "ttl" | "loopWait" | "retryTimeout" | "synchronousMode" | "synchronousQuorum" | "desiredConfig" | "backup" | "restore" | "topology"
>;

/** The user of the local agents' API for calls that change something (password in secrets/api.password). */
export const LOCAL_API_USER = DEFAULT_API_USER;

/** One node's agent config, checked against the agent's own schema before it is written. Pure. */
export function agentConfig(l: Layout, node: NodeSlot, o: AgentOptions): AgentConfigInput {
  const input: AgentConfigInput = {
    cluster: CLUSTER_NAME,
    name: node.name,
    etcd: { endpoints: l.etcd.map((e) => `http://${e.host}:${e.clientPort}`) },
    postgres: {
      dataDir: node.dataDir,
      listen: { host: node.host, port: node.pgPort },
      // Small, so several nodes fit on a small machine; fsync stays on (the safety claims need it).
      parameters: { shared_buffers: "32MB", max_connections: 50 },
      superuser: { username: "postgres", passwordFile: l.superuserPasswordFile },
      replication: { username: "replicator", passwordFile: l.replicationPasswordFile },
      // With --netns the other nodes and HAProxy (on the bridge) connect from the cluster's subnet.
      allowedCidrs: ["127.0.0.1/32", ...(l.network ? [l.network.subnet] : [])],
    },
    api: {
      listen: { host: node.host, port: node.apiPort },
      authentication: { username: LOCAL_API_USER, passwordFile: l.apiPasswordFile },
    },
    ...localSettings(o),
    ...(o.desiredConfig ? { desiredConfig: { file: desiredConfigPath(l.dir), intervalSeconds: LOCAL_DESIRED_INTERVAL_S } } : {}),
    // A restored cluster archives too, into its own S3 server: never into the source's repository.
    ...(o.backup || o.restore ? { backup: localBackupSection(l, node) } : {}),
    ...(o.restore ? { bootstrap: { fromBackup: o.restore } } : {}),
    ...(o.topology ? localTopologySections(l.dir) : {}),
  };
  validateAgentConfig(input);
  return input;
}

/**
 * The backup repository of a local cluster: the bucket on its s3rver (HTTPS on 127.0.0.1, reached as
 * "localhost", which its certificate names), path-style URIs, the key s3rver accepts.
 */
export function localBackupSection(l: Layout, node: NodeSlot): NonNullable<AgentConfigInput["backup"]> {
  return {
    // Every node's pgBackRest TLS server, with the certificates `hapg local up` makes (./backup-tls.ts).
    server: {
      listen: { host: node.host, port: node.backupServerPort },
      ...memberTlsFiles(l.backupTlsDir, node.name),
      clients: l.nodes.map((n) => n.name),
    },
    repo: {
      bucket: LOCAL_BUCKET,
      endpoint: "localhost",
      port: l.s3Port,
      uriStyle: "path",
      caFile: path.join(l.s3Dir, "tls", "ca.pem"),
      credentials: { source: "keyFile", file: path.join(l.s3Dir, "s3-keys.json") },
    },
  };
}

/** JSON (as node-init writes on AWS): the agent then never loads a YAML parser, which keeps its memory down. */
export function agentConfigJson(l: Layout, node: NodeSlot, o: AgentOptions): string {
  return `${JSON.stringify(agentConfig(l, node, o), null, 2)}\n`;
}

/** A URL-safe random password (no characters that need escaping in a DSN). */
export function randomPassword(): string {
  return randomBytes(24).toString("base64url");
}

/**
 * The service user must reach DIR: every ancestor needs search (x) permission for it. Checked up front
 * because otherwise the agent fails later with a bare EACCES in its log.
 */
function assertReachable(dir: string, owner: Owner): void {
  for (let d = path.dirname(dir); ; d = path.dirname(d)) {
    const st = fs.statSync(d);
    const ok = st.uid === owner.uid ? st.mode & 0o100 : st.gid === owner.gid ? st.mode & 0o010 : st.mode & 0o001;
    if (!ok) {
      throw new Error(
        `${d} (mode ${(st.mode & 0o777).toString(8)}) is not searchable by the service user ${owner.name}: use a --dir under /tmp or run chmod o+x ${d}`,
      );
    }
    if (d === path.dirname(d)) return;
  }
}

/** Creates DIR's tree, the secrets (0600) and every agent config; returns the superuser password. */
export function prepareFiles(l: Layout, o: LocalOptions, owner: Owner | undefined): string {
  fs.mkdirSync(l.dir, { recursive: true, mode: 0o711 });
  if (owner) {
    assertReachable(l.dir, owner);
    fs.chmodSync(l.dir, 0o711); // the service user traverses it; only root lists it
  }
  for (const d of [l.secretsDir, l.haproxyDir, l.etcdDir]) fs.mkdirSync(d, { recursive: true, mode: 0o700 });
  // A standby cluster is a copy of its source, roles included: the source's passwords.
  const superuser = o.standbyOf?.superuserPassword ?? randomPassword();
  fs.writeFileSync(l.superuserPasswordFile, superuser + "\n", { mode: 0o600 });
  fs.writeFileSync(l.replicationPasswordFile, (o.standbyOf?.replicationPassword ?? randomPassword()) + "\n", { mode: 0o600 });
  fs.writeFileSync(l.apiPasswordFile, randomPassword() + "\n", { mode: 0o600 });
  for (const n of l.nodes) {
    fs.mkdirSync(n.nodeDir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(n.configFile, agentConfigJson(l, n, o), { mode: 0o600 });
  }
  if (owner) {
    chownRecursive(l.secretsDir, owner.uid, owner.gid);
    for (const n of l.nodes) chownRecursive(n.nodeDir, owner.uid, owner.gid);
  }
  return superuser;
}

/** dist/sidecar/cli/main.js, the shipped CLI every agent runs. */
export function agentEntryPoint(): string {
  return path.resolve(__dirname, "..", "sidecar", "cli", "main.js");
}

/**
 * Starts `hapg agent --config FILE` detached (own process group: it outlives `hapg local up`),
 * stdout/stderr appended to the node's agent.log, inside the node's namespace with --netns. Returns the pid.
 */
export function spawnAgent(
  node: Pick<NodeSlot, "name" | "nodeDir" | "configFile" | "logFile" | "netns">,
  owner: Owner | undefined,
): number {
  const log = fs.openSync(node.logFile, "a", 0o600);
  if (owner) fs.fchownSync(log, owner.uid, owner.gid);
  try {
    // In a namespace, `ip netns exec` needs root: setpriv drops to the service user after it.
    const { cmd, args } = inNetns(node.netns, process.execPath, [agentEntryPoint(), "agent", "--config", node.configFile], owner);
    const child = spawn(cmd, args, {
      detached: true,
      stdio: ["ignore", log, log],
      cwd: node.nodeDir,
      // HOME is the node dir: tools the agent runs as the service user must not look into /root.
      env: { ...process.env, HOME: node.nodeDir },
      ...(owner && !node.netns ? { uid: owner.uid, gid: owner.gid } : {}),
    });
    if (child.pid === undefined) throw new Error(`${node.name}: the agent did not start: see ${node.logFile}`);
    child.on("error", () => undefined); // reported through the log and the health wait
    child.unref();
    return child.pid;
  } finally {
    fs.closeSync(log);
  }
}

/** Resident memory of a process in kB from /proc/<pid>/status, or undefined when it is gone. */
export function rssKb(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
