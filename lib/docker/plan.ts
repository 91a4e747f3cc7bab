/**
 * What `HaPostgresDockerCluster` runs, as plain data (pure): the network and its fixed addresses, the
 * image's build arguments, each etcd member's environment, each node's agent config and CLI config,
 * and HAProxy's config. The component turns it into @pulumi/docker resources; the real test runs the
 * containers the component declared (test/docker/). Everything a node shares with the AWS nodes is
 * imported: paths (lib/userdata/paths.ts), ports (NODE_PORTS), the agent's schema and namespace,
 * the routing config (sidecar/contract/haproxy-config.ts) and the desired dynamic config.
 */
import { DEFAULT_API_USER, type AgentConfigInput } from "../../sidecar/contract/agent-config";
import type { CliConfigInput } from "../../sidecar/contract/cli-config";
import { renderRoutingConfig } from "../../sidecar/contract/haproxy-config";
import { NODE_PORTS } from "../args/types";
import { desiredConfigValue } from "../dynamic/desired-config";
import { etcdHostName, nodeHostName } from "../naming/names";
import { AGENT_NAMESPACE } from "../userdata/agent-config";
import { NODE_PATHS } from "../userdata/paths";
import type { ResolvedDockerArgs } from "./args";

/** Host offsets in the subnet: HAProxy, the config writer, the first etcd member, the first PostgreSQL node (docs/docker.md). */
export const ADDRESS_OFFSETS = { haproxy: 2, config: 3, etcd: 11, node: 21 } as const;

/**
 * The desired dynamic config (the AWS nodes read an SSM parameter): a file on a volume of its own,
 * mounted read-only in every node and written by a one-shot container that carries it. A changed
 * setting replaces only that container, which rewrites the file (write, then rename); the agents read
 * it again every DESIRED_CONFIG_INTERVAL_S and the leader applies it live, no node replaced.
 */
export const DESIRED_CONFIG_DIR = `${NODE_PATHS.configDir}/dynamic`;
export const DESIRED_CONFIG_FILE = `${DESIRED_CONFIG_DIR}/desired-config.json`;
export const DESIRED_CONFIG_INTERVAL_S = 10;
/** Where the one-shot container gets the document uploaded. */
export const DESIRED_CONFIG_UPLOAD = `${NODE_PATHS.configDir}/desired-config.upload.json`;

/** HAProxy's config inside its container. */
export const HAPROXY_CONFIG_FILE = "/etc/haproxy/haproxy.cfg";

/** Where the image keeps START_AGENT_SCRIPT: a node container's command. */
export const START_AGENT = "/usr/local/sbin/hapg-start-agent";

/**
 * A node container's command (run as root under Docker's init). The component uploads the secret
 * files as root; the agent runs as postgres (PostgreSQL refuses root), so they become postgres's
 * (0600) before it drops to that user, as node-init leaves them on an AWS node.
 */
export const START_AGENT_SCRIPT = [
  "#!/bin/sh",
  "set -eu",
  `chown postgres:postgres ${NODE_PATHS.configDir}/secrets/* ${dirOf(NODE_PATHS.pgData)}`,
  `chmod 600 ${NODE_PATHS.configDir}/secrets/*`,
  `exec setpriv --reuid=postgres --regid=postgres --init-groups ${NODE_PATHS.cliWrapper} agent --config ${NODE_PATHS.agentConfig}`,
  "",
].join("\n");

function dirOf(path: string): string {
  return path.slice(0, path.lastIndexOf("/"));
}

/** Debian packages the image needs (the Dockerfile installs those its base lacks). */
export function imagePackages(postgresVersion: number): string[] {
  return ["nodejs", `postgresql-${postgresVersion}`, "haproxy", "etcd-server"];
}

/** A file the component uploads into a container before it starts. */
export interface PlannedFile {
  path: string;
  content: string;
}

export interface PlannedEtcd {
  member: string;
  container: string;
  volume: string;
  address: string;
  /** etcd reads ETCD_* itself. */
  env: Record<string, string>;
}

export interface PlannedNode {
  member: string;
  container: string;
  volume: string;
  address: string;
  agentConfig: AgentConfigInput;
  /** Files without secrets (the passwords are added by the component). */
  files: PlannedFile[];
}

export interface DockerPlan {
  network: { name: string; subnet: string; gateway: string };
  /** The one-shot container that writes the desired config onto its volume. */
  config: { container: string; volume: string; address: string; files: PlannedFile[]; command: string[] };
  image: { name: string; buildArgs: Record<string, string> };
  etcd: PlannedEtcd[];
  nodes: PlannedNode[];
  haproxy: { container: string; address: string; files: PlannedFile[]; ports: { internal: number; external: number; ip: string }[] };
}

/** The address `offset` hosts into `subnet` (a.b.c.d/n). */
export function addressIn(subnet: string, offset: number): string {
  const base =
    subnet
      .split("/")[0]
      .split(".")
      .reduce((acc, o) => acc * 256 + Number(o), 0) + offset;
  return [24, 16, 8, 0].map((s) => Math.floor(base / 2 ** s) % 256).join(".");
}

function etcdEnv(a: ResolvedDockerArgs, member: string, ip: string, all: { member: string; address: string }[]): Record<string, string> {
  const client = NODE_PORTS.etcdClient;
  const peer = NODE_PORTS.etcdPeer;
  return {
    ETCD_NAME: member,
    ETCD_DATA_DIR: NODE_PATHS.etcdData,
    ETCD_LISTEN_PEER_URLS: `http://0.0.0.0:${peer}`,
    ETCD_LISTEN_CLIENT_URLS: `http://0.0.0.0:${client}`,
    ETCD_ADVERTISE_CLIENT_URLS: `http://${ip}:${client}`,
    ETCD_INITIAL_ADVERTISE_PEER_URLS: `http://${ip}:${peer}`,
    ETCD_INITIAL_CLUSTER: all.map((m) => `${m.member}=http://${m.address}:${peer}`).join(","),
    // Only an empty data directory reads these: a replaced container finds its data on the kept volume.
    ETCD_INITIAL_CLUSTER_STATE: "new",
    ETCD_INITIAL_CLUSTER_TOKEN: `hapg-${a.clusterName}`,
  };
}

/**
 * One node's agent config: the AWS node's (lib/userdata/agent-config.ts) without what Docker has no
 * use for (TLS, SSM, S3 backups, the roll's EC2 replacer), on the network's fixed addresses.
 */
function agentConfig(a: ResolvedDockerArgs, member: string, ip: string, etcd: PlannedEtcd[]): AgentConfigInput {
  return {
    cluster: a.clusterName,
    namespace: AGENT_NAMESPACE,
    name: member,
    etcd: { endpoints: etcd.map((e) => `http://${e.address}:${NODE_PORTS.etcdClient}`) },
    postgres: {
      binDir: `/usr/lib/postgresql/${a.postgresVersion}/bin`,
      dataDir: NODE_PATHS.pgData,
      listen: { host: "0.0.0.0", port: NODE_PORTS.postgres },
      connectAddress: { host: ip, port: NODE_PORTS.postgres },
      usePgRewind: a.settings.postgres.usePgRewind,
      superuser: { username: "postgres", passwordFile: NODE_PATHS.superuserPasswordFile },
      replication: { username: "replicator", passwordFile: NODE_PATHS.replicationPasswordFile },
      // The other members and HAProxy: clients come in through HAProxy, on this network.
      allowedCidrs: [a.subnet],
    },
    api: {
      listen: { host: "0.0.0.0", port: NODE_PORTS.agentApi },
      connectAddress: { host: ip, port: NODE_PORTS.agentApi },
      authentication: { username: DEFAULT_API_USER, passwordFile: NODE_PATHS.apiPasswordFile },
    },
    watchdog: a.settings.watchdog,
    // The HA settings a running cluster changes come from here, as on AWS from the SSM parameter.
    desiredConfig: { file: DESIRED_CONFIG_FILE, intervalSeconds: DESIRED_CONFIG_INTERVAL_S },
    backupPolicy: a.settings.backupPolicy,
    log: { level: "info" },
  };
}

/** `hapg list` and friends inside a node container with no flag (`docker exec <node> hapg list`). */
function cliConfig(a: ResolvedDockerArgs, self: { address: string }, nodes: { address: string }[]): CliConfigInput {
  const ordered = [self, ...nodes.filter((n) => n.address !== self.address)];
  return {
    cluster: a.clusterName,
    api: {
      urls: ordered.map((n) => `http://${n.address}:${NODE_PORTS.agentApi}`),
      username: DEFAULT_API_USER,
      passwordFile: NODE_PATHS.apiPasswordFile,
    },
  };
}

export function dockerPlan(a: ResolvedDockerArgs): DockerPlan {
  const c = a.clusterName;
  const members = Array.from({ length: a.etcdMembers }, (_, i) => ({
    member: etcdHostName(i),
    address: addressIn(a.subnet, ADDRESS_OFFSETS.etcd + i),
  }));
  const etcd = members.map((m) => ({
    ...m,
    container: `${c}-${m.member}`,
    volume: `${c}-${m.member}-data`,
    env: etcdEnv(a, m.member, m.address, members),
  }));
  const slots = Array.from({ length: a.nodeCount }, (_, i) => ({
    member: nodeHostName(i),
    address: addressIn(a.subnet, ADDRESS_OFFSETS.node + i),
  }));
  const nodes = slots.map((s) => {
    const agent = agentConfig(a, s.member, s.address, etcd);
    return {
      ...s,
      container: `${c}-${s.member}`,
      volume: `${c}-${s.member}-data`,
      agentConfig: agent,
      files: [
        { path: NODE_PATHS.agentConfig, content: JSON.stringify(agent, null, 2) },
        { path: NODE_PATHS.cliConfig, content: JSON.stringify(cliConfig(a, s, slots), null, 2) },
      ],
    };
  });
  const haproxy = renderRoutingConfig({
    header: `Written by HaPostgresDockerCluster ${c}.`,
    bindHost: "*",
    primaryPort: NODE_PORTS.haproxyPrimary,
    replicaPort: NODE_PORTS.haproxyReplica,
    servers: nodes.map((n) => ({ name: n.member, host: n.address, pgPort: NODE_PORTS.postgres, apiPort: NODE_PORTS.agentApi })),
  });
  return {
    network: { name: c, subnet: a.subnet, gateway: addressIn(a.subnet, 1) },
    config: {
      container: `${c}-config`,
      volume: `${c}-config`,
      address: addressIn(a.subnet, ADDRESS_OFFSETS.config),
      files: [{ path: DESIRED_CONFIG_UPLOAD, content: desiredConfigValue(a.settings) }],
      command: [
        "/bin/sh",
        "-c",
        `cp ${DESIRED_CONFIG_UPLOAD} ${DESIRED_CONFIG_FILE}.tmp && chmod 644 ${DESIRED_CONFIG_FILE}.tmp && mv ${DESIRED_CONFIG_FILE}.tmp ${DESIRED_CONFIG_FILE}`,
      ],
    },
    image: {
      name: a.imageName,
      buildArgs: { BASE_IMAGE: a.baseImage, PACKAGES: imagePackages(a.postgresVersion).join(" "), START_AGENT },
    },
    etcd,
    nodes,
    haproxy: {
      container: `${c}-haproxy`,
      address: addressIn(a.subnet, ADDRESS_OFFSETS.haproxy),
      files: [{ path: HAPROXY_CONFIG_FILE, content: haproxy }],
      ports: [
        { internal: NODE_PORTS.haproxyPrimary, external: a.listenerPorts.primary, ip: a.hostAddress },
        { internal: NODE_PORTS.haproxyReplica, external: a.listenerPorts.replica, ip: a.hostAddress },
      ],
    },
  };
}
