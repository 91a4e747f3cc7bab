/**
 * HAProxy's config from the topology's nodes: the one renderer (../haproxy/config.ts) fed with each
 * node's address and ports. The agent writes it on a node when the nodes change (./keeper.ts); the
 * local cluster writes its shared HAProxy's the same way when it scales. Pure.
 */
import { renderRoutingConfig } from "../haproxy/config";
import { apiAddress, pgAddress } from "./addresses";
import type { Topology } from "./schema";

export interface TopologyRouting {
  header: string;
  bindHost: string;
  primaryPort: number;
  replicaPort: number;
  /** Checks over TLS against this CA, verifying each host's name. Absent: plain HTTP checks. */
  checkCaFile?: string;
  stats?: { host: string; port: number };
}

export function routingFromTopology(t: Topology, r: TopologyRouting): string {
  return renderRoutingConfig({
    header: r.header,
    bindHost: r.bindHost,
    primaryPort: r.primaryPort,
    replicaPort: r.replicaPort,
    stats: r.stats,
    servers: t.nodes.map((n) => ({
      name: n.name,
      host: pgAddress(n).host,
      pgPort: pgAddress(n).port,
      apiPort: apiAddress(n).port,
      ...(r.checkCaFile ? { apiTls: { caFile: r.checkCaFile, verifyHost: n.name } } : {}),
    })),
  });
}
