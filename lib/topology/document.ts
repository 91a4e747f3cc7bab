/**
 * The topology document the component publishes (sidecar/topology/schema.ts: the contract with the
 * agents and node-init). Pure: hosts in, the validated document out.
 */
import { topologySchema, type Topology, type TopologyHost } from "../../sidecar/contract/topology";

/**
 * How many etcd members bootstrap the cluster (state `new`): always the first three (or all, with
 * fewer). A fixed rule rather than a recorded history: growing `etcd.members` from 3 to 5 (or creating
 * the cluster with 5) leaves the bootstrap set unchanged, the others join by `member add`, and the
 * component needs no state of its own to remember how the cluster began.
 */
export const ETCD_BOOTSTRAP_MEMBERS = 3;

/**
 * How many nodes a host's first-boot HAProxy config and CLI config name (the agent rewrites HAProxy's
 * backends from the topology): the first three, so scaling 3 → 5 → 3 changes no host's user-data.
 */
export const ROUTING_SEED_NODES = 3;

/** The etcd members that may bootstrap: the first `ETCD_BOOTSTRAP_MEMBERS` of the members in order. */
export function etcdInitialMembers(etcdMembers: Array<{ name: string }>): string[] {
  return etcdMembers.slice(0, ETCD_BOOTSTRAP_MEMBERS).map((m) => m.name);
}

/**
 * The topology: PostgreSQL nodes and etcd members (a colocated member is the node it runs on, with that
 * node's revision), each with its fixed address and revision. Throws if the result breaks the schema.
 */
export function topologyDocument(p: { nodes: TopologyHost[]; etcd: TopologyHost[] }): Topology {
  return topologySchema.parse({
    version: 1,
    nodes: p.nodes,
    etcd: p.etcd,
    etcdInitialMembers: etcdInitialMembers(p.etcd),
  });
}
