/**
 * Read-only cluster routes an operator's tools use, with Patroni's paths: GET /history (the leader's
 * timeline history) and GET /config (the dynamic configuration in etcd). Pure: the last etcd
 * snapshot in, the body out. Every member answers the same, from its own last read of etcd.
 */
import type { ClusterSnapshot } from "../dcs/types";

/**
 * [[timeline, switch LSN], ...] for every timeline before the leader's current one, oldest first,
 * from the leader's member key (it publishes its timeline history file there). Patroni's rows also
 * carry a reason, a time and the new leader; PostgreSQL's history file has no time, so ours stop at
 * the LSN. Empty when there is no leader or it never changed timeline.
 */
export function historyBody(cluster: ClusterSnapshot | undefined): [number, number][] {
  const leader = cluster?.leader?.name;
  const history = cluster?.members.find((m) => m.name === leader)?.data.history ?? [];
  return [...history].sort((a, b) => a[0] - b[0]);
}

/** The dynamic configuration (etcd's `config` key); {} when none was written. */
export function configBody(cluster: ClusterSnapshot | undefined): Record<string, unknown> {
  return cluster?.config ?? {};
}
