/**
 * Where a topology host is reached: its fixed address and the standard ports (the same on every AWS
 * host; lib/args/types.ts NODE_PORTS agrees, test/unit/topology-addresses.test.ts proves it), or the
 * ports the local cluster writes for hosts that share 127.0.0.1. Pure.
 */
import type { Topology, TopologyHost } from "./schema";

export const STANDARD_PORTS = { postgres: 5432, api: 8008, etcdClient: 2379, etcdPeer: 2380 } as const;

export type Scheme = "http" | "https";

export function pgAddress(h: TopologyHost): { host: string; port: number } {
  return { host: h.ip, port: h.ports?.postgres ?? STANDARD_PORTS.postgres };
}

export function apiAddress(h: TopologyHost): { host: string; port: number } {
  return { host: h.ip, port: h.ports?.api ?? STANDARD_PORTS.api };
}

export function etcdClientUrl(h: TopologyHost, scheme: Scheme): string {
  return `${scheme}://${h.ip}:${h.ports?.etcdClient ?? STANDARD_PORTS.etcdClient}`;
}

export function etcdPeerUrl(h: TopologyHost, scheme: Scheme): string {
  return `${scheme}://${h.ip}:${h.ports?.etcdPeer ?? STANDARD_PORTS.etcdPeer}`;
}

/** The etcd client URLs of every member the topology lists, in its order. */
export function etcdEndpoints(t: Topology, scheme: Scheme): string[] {
  return t.etcd.map((h) => etcdClientUrl(h, scheme));
}
