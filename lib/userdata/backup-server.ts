/**
 * The agent config's `backup.server` on AWS: pgBackRest's TLS server on every PostgreSQL node, run by
 * the agent, with the host certificate node-init already writes for PostgreSQL and the agent API
 * (signed by the cluster CA, named after the host, its private IP also a DNS name because pgBackRest
 * 2.45 checks DNS names only). Clients are admitted by certificate common name: the PostgreSQL nodes'
 * host names, not the etcd hosts, whose certificates chain to the same CA. The security group opens
 * the port between the nodes only (lib/security/rules.ts).
 */
import type { AgentConfigInput } from "../../sidecar/contract/agent-config";
import { NODE_PORTS } from "../args/types";
import { MAX_NODE_COUNT, nodeHostName } from "../naming/names";
import { NODE_PATHS } from "./paths";
import type { HostSpec } from "./spec";

export function backupServerSection(spec: HostSpec): NonNullable<NonNullable<AgentConfigInput["backup"]>["server"]> {
  const tls = NODE_PATHS.postgresTlsDir;
  return {
    listen: { host: "0.0.0.0", port: NODE_PORTS.pgbackrestServer },
    connectAddress: { host: spec.privateIp, port: NODE_PORTS.pgbackrestServer },
    certFile: `${tls}/host.crt`,
    keyFile: `${tls}/host.key`,
    caFile: `${tls}/ca.crt`,
    // Every node name the cluster may ever have (not only today's): scaling changes no user-data.
    clients: Array.from({ length: MAX_NODE_COUNT }, (_, i) => nodeHostName(i)),
  };
}
