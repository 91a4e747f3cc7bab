/**
 * The agent config (`hapg agent --config FILE`) of one PostgreSQL host, as the object the agent's
 * schema (sidecar/contract/agent-config.ts) accepts. It holds file paths, never secret values: node-init
 * writes the password, key and certificate files from SSM before the agent starts. Of the HA
 * settings, only the ones a node keeps for its life go in (watchdog, usePgRewind); the ones a running
 * cluster changes (timing, lag limit, synchronous mode, PostgreSQL parameters) are read from the
 * desired-config SSM parameter (lib/dynamic/desired-config.ts), so changing them changes no user-data.
 */
import { DEFAULT_API_USER, type AgentConfigInput } from "../../sidecar/contract/agent-config";
import type { CliConfigInput } from "../../sidecar/contract/cli-config";
import { CLUSTER_TAG, HOST_TAG } from "../naming/names";
import { NODE_PATHS } from "./paths";
import { s3RepoSection } from "./repo";
import { restoreBootstrapSection } from "./restore";
import { BackupHostSpec, HostSpec } from "./spec";
import { NODE_PORTS } from "../args/types";
import { backupServerSection } from "./backup-server";

/** Seconds between two reads of the topology parameter by each agent and node-init (SSM's API is rate-limited). */
export const TOPOLOGY_INTERVAL_S = 30;

/** The agents' etcd namespace (keys under /<namespace>/<cluster>/), as Patroni's default. */
export const AGENT_NAMESPACE = "service";

/** Seconds between two reads of the desired-config parameter by the leader (SSM's API is rate-limited). */
export const DESIRED_CONFIG_INTERVAL_S = 60;

/** PostgreSQL parameters the component sets on every node (TLS), so a user may not. */
export const COMPONENT_PARAMETERS: ReadonlySet<string> = new Set(["ssl", "ssl_cert_file", "ssl_key_file", "ssl_ca_file"]);

/**
 * The agent's `backup` section on AWS: the cluster's own repository (./repo.ts: the instance role's
 * credentials, no key anywhere), encrypted with the passphrase node-init wrote from SSM.
 */
export function backupSection(b: BackupHostSpec): NonNullable<AgentConfigInput["backup"]> {
  return { repo: s3RepoSection(b), cipherPassphraseFile: NODE_PATHS.backupCipherPassFile };
}

/** The agent config of the PostgreSQL node `spec` (throws for a host without PostgreSQL). */
export function agentConfigForNode(spec: HostSpec): AgentConfigInput {
  const pg = spec.postgres;
  if (!pg) throw new Error(`agentConfigForNode: host ${spec.hostName} runs no PostgreSQL`);
  const tls = NODE_PATHS.postgresTlsDir;
  const { watchdog } = pg.settings;
  return {
    cluster: spec.clusterName,
    namespace: AGENT_NAMESPACE,
    name: spec.hostName,
    etcd: {
      endpoints: spec.etcdEndpoints,
      // etcd authenticates clients by certificate (client-cert-auth): only holders of a cert signed
      // by the cluster CA can read or write keys.
      caFile: `${tls}/ca.crt`,
      certFile: `${tls}/host.crt`,
      keyFile: `${tls}/host.key`,
    },
    postgres: {
      binDir: `/usr/lib/postgresql/${pg.version}/bin`,
      dataDir: NODE_PATHS.pgData,
      listen: { host: "0.0.0.0", port: NODE_PORTS.postgres },
      connectAddress: { host: spec.privateIp, port: NODE_PORTS.postgres },
      usePgRewind: pg.settings.postgres.usePgRewind,
      // The component's own parameters (TLS); the user's come with the desired dynamic config.
      parameters: {
        ssl: "on",
        ssl_cert_file: `${tls}/host.crt`,
        ssl_key_file: `${tls}/host.key`,
        ssl_ca_file: `${tls}/ca.crt`,
      },
      superuser: { username: "postgres", passwordFile: NODE_PATHS.superuserPasswordFile },
      replication: { username: "replicator", passwordFile: NODE_PATHS.replicationPasswordFile },
      allowedCidrs: pg.allowedCidrs,
    },
    api: {
      // HAProxy on every node and (direct routing) the NLB check this API, so it listens on all
      // interfaces; the security group limits who reaches it.
      listen: { host: "0.0.0.0", port: NODE_PORTS.agentApi },
      connectAddress: { host: spec.privateIp, port: NODE_PORTS.agentApi },
      // Switchover and failover calls need the password node-init wrote from SSM; health checks stay open.
      authentication: { username: DEFAULT_API_USER, passwordFile: NODE_PATHS.apiPasswordFile },
      // HTTPS with the host certificate; the CA verifies the other members' APIs. HAProxy checks with the same CA.
      tls: { certFile: `${tls}/host.crt`, keyFile: `${tls}/host.key`, caFile: `${tls}/ca.crt` },
    },
    // The watchdog device is softdog's, loaded at boot (./watchdog.ts).
    watchdog,
    desiredConfig: { ssmParameter: pg.desiredConfigParameter, intervalSeconds: DESIRED_CONFIG_INTERVAL_S },
    // Day 2 (docs/day2.md): membership from the topology; HAProxy's backends rewritten from it (a path unit
    // reloads HAProxy); the leader rolls stale hosts by terminating their instance in their group.
    topology: { ssmParameter: spec.topologyParameter, intervalSeconds: TOPOLOGY_INTERVAL_S },
    haproxy: {
      configFile: NODE_PATHS.haproxyConfig,
      bindHost: "*",
      primaryPort: NODE_PORTS.haproxyPrimary,
      replicaPort: NODE_PORTS.haproxyReplica,
      checkCaFile: `${tls}/ca.crt`,
    },
    roll: { replacer: { aws: { clusterTags: { [CLUSTER_TAG]: spec.clusterName }, hostTagKey: HOST_TAG } } },
    // Read at the agent's start only (not part of the dynamic config): archive_timeout, schedule, retention.
    backupPolicy: pg.settings.backupPolicy,
    ...(pg.backup ? { backup: { ...backupSection(pg.backup), server: backupServerSection(spec) } } : {}),
    // Read only while the cluster has no data: the first member restores the source to the target, the others a backup of it.
    ...(pg.restore ? { bootstrap: restoreBootstrapSection(pg.restore) } : {}),
    log: { level: "info" },
  };
}

/**
 * The operator CLI's config on a PostgreSQL node (/etc/hapg/cli.json, world-readable: no secret), so
 * `hapg list` needs no flag: every member's API (this node's first), the CA and the API password's
 * file (0600, so the commands that change something run as root).
 */
export function cliConfigForNode(spec: HostSpec): CliConfigInput {
  const pg = spec.postgres;
  if (!pg) throw new Error(`cliConfigForNode: host ${spec.hostName} runs no PostgreSQL`);
  // This node's API first, then the seed members (a node beyond the seeds is not among them).
  const members = [{ name: spec.hostName, privateIp: spec.privateIp }, ...pg.members.filter((m) => m.name !== spec.hostName)];
  return {
    cluster: spec.clusterName,
    api: {
      urls: members.map((m) => `https://${m.privateIp}:${NODE_PORTS.agentApi}`),
      caFile: `${NODE_PATHS.postgresTlsDir}/ca.crt`,
      username: DEFAULT_API_USER,
      passwordFile: NODE_PATHS.apiPasswordFile,
    },
  };
}
