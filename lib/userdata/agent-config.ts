/**
 * The agent config (`hapg agent --config FILE`) of one PostgreSQL host, rendered as the object the
 * agent's schema (sidecar/config/schema.ts) accepts. It holds file paths, never secret values:
 * node-init writes the password, key and certificate files from SSM before the agent starts.
 */
import type { AgentConfigInput } from "../../sidecar/config/schema";
import { NODE_PATHS } from "./paths";
import { HostSpec } from "./spec";
import { NODE_PORTS } from "../args/types";

export function renderAgentConfig(spec: HostSpec): AgentConfigInput {
  const pg = spec.postgres;
  if (!pg) throw new Error(`renderAgentConfig: host ${spec.hostName} runs no PostgreSQL`);
  const tls = NODE_PATHS.postgresTlsDir;
  return {
    cluster: spec.clusterName,
    namespace: "service",
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
      parameters: {
        ...pg.parameters,
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
    },
    ttl: pg.timing.ttl,
    loopWait: pg.timing.loopWait,
    retryTimeout: pg.timing.retryTimeout,
    maximumLagOnFailover: pg.maximumLagOnFailover,
    synchronousMode: pg.synchronousMode,
    synchronousModeStrict: pg.synchronousModeStrict,
    // The device is softdog's, loaded at boot with the timeout the agent plans (see ./watchdog.ts).
    watchdog: { mode: pg.watchdog },
    log: { level: "info" },
  };
}
