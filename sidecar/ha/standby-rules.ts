/**
 * Rows SB0–SB6 of docs/ha-states.md: a standby cluster (`standby_cluster` in etcd's config key,
 * Patroni's). Pure. The leader of such a cluster is a *standby leader*: it holds the leader key like
 * any leader, but runs PostgreSQL in recovery, following the source (its primary endpoint, and its
 * WAL archive through `restore_command`), and the other members cascade from it with the usual rows
 * (R1/R2, S2, U3). The rows replace those that would make this cluster writable:
 * - SB1 (for U1): the member that wins the initialize race copies the source (pg_basebackup from
 *   its endpoint) instead of running initdb, and takes the key;
 * - SB2 (for S1): the key is ours and PostgreSQL is stopped: start it following the source;
 * - SB3 (for R3): the key is ours and PostgreSQL runs in recovery: point it at the source (a
 *   reload), publish the position the others measure their lag against; never promote;
 * - SB4 (for R4): no leader: the healthiest replica takes the key and follows the source, not
 *   promoting (a failover inside the standby cluster is a new standby leader);
 * - SB5 (for P1–P4): PostgreSQL runs writable: stop it (Patroni's "cannot be a real primary in a
 *   standby cluster"); SB2 starts it following the source when the key is ours, S3 otherwise;
 * - SB6: archive-only (no host) and no data directory: nothing to copy from.
 * Promotion needs no row: once `standby_cluster` is removed, the standby leader is a running
 * replica holding the key, row R3 promotes it, and the others already follow it.
 */
import type { StandbyCluster } from "../contract/settings/standby";
import { standbySource } from "../contract/settings/standby";
import type { HostPort } from "../postgres/types";
import { electionVerdict } from "./election";
import { isPaused } from "./pause";
import type { Action, Decision, HaInput } from "./types";

/** The name the source goes by in actions and reasons (it is no member of this cluster). */
export const SOURCE = "the source cluster";

/** This member's standby cluster settings, when the cluster is one. */
export function standbyOf(input: HaInput): StandbyCluster | undefined {
  return input.self.standbyCluster;
}

function describe(s: StandbyCluster): string {
  const src = standbySource(s);
  const stream = src ? `${src.host}:${src.port}` : undefined;
  if (stream && s.restore_command) return `${stream} (and its archive)`;
  return stream ?? "its archive (restore_command)";
}

/** SB0/SB1/SB6: no data directory and no initialize key. */
export function standbyBootstrapRow(input: HaInput): Decision | undefined {
  if (input.self.bootstrapStandby && !input.self.standbyCluster && input.cluster?.initialize === undefined) {
    // SB0: never initdb a cluster that is meant to follow another; the agent writes the key first.
    return {
      actions: [],
      reason: "bootstrap.standbyCluster: waiting until standby_cluster is in etcd's config key before creating the cluster",
      role: "uninitialized",
    };
  }
  const s = standbyOf(input);
  if (!s || input.local.dataDir.initialized || input.cluster?.initialize !== undefined) return undefined;
  const source = standbySource(s);
  if (!source) {
    return {
      actions: [],
      reason:
        "standby cluster without standby_cluster.host: a first member needs a copy of the source; set host (the source's primary endpoint) to bootstrap, then it may be removed",
      role: "uninitialized",
    };
  }
  return {
    actions: [{ type: "claimInitialize" }, { type: "bootstrap", standby: source }, { type: "acquireLeader" }],
    reason: `standby cluster is not initialized: racing for the initialize key to copy the source at ${source.host}:${source.port} and become the standby leader`,
    role: "uninitialized",
  };
}

/** SB2: stopped with the key. */
export function standbyStoppedRow(input: HaInput): Decision | undefined {
  const s = standbyOf(input);
  if (!s || input.cluster?.leader?.name !== input.self.name) return undefined;
  const upstream = standbySource(s) ?? null;
  return {
    actions: [{ type: "startReplica", leader: SOURCE, ...(upstream ? { upstream } : {}) }],
    reason: `standby leader: PostgreSQL is not running; starting it in recovery, following ${describe(s)}`,
    role: "standby_leader",
  };
}

/** SB3/SB4: running in recovery, with the key or without any leader. */
export function standbyReplicaRow(input: HaInput): Decision | undefined {
  const s = standbyOf(input);
  const cluster = input.cluster;
  if (!s || !cluster) return undefined;
  const { self, local, memory } = input;
  const ours = cluster.leader?.name === self.name;
  if (cluster.leader && !ours) return undefined; // R1/R2: follow the standby leader
  if (!ours) {
    if (isPaused(input)) return { actions: [], reason: "standby cluster without a leader, maintenance mode: no election", role: "replica" };
    // Nobody writes in a standby cluster: the synchronous rules guard commits it never acknowledged.
    const verdict = electionVerdict({ ...input, self: { ...self, synchronousMode: "off" } });
    if (!verdict.ok) return { actions: [], reason: `no standby leader; ${verdict.reason}`, role: "replica" };
    return {
      actions: [{ type: "acquireLeader" }, ...follow(s, local.pg.upstream)],
      reason: `no standby leader; ${verdict.reason}: taking the leader key and following ${describe(s)} (no promotion in a standby cluster)`,
      role: "standby_leader",
    };
  }
  const actions: Action[] = [];
  if (cluster.leader!.leaseId !== memory.leaseId) actions.push({ type: "updateLeader" });
  actions.push(...follow(s, local.pg.upstream));
  if (local.pg.lsn !== undefined) actions.push({ type: "publishOptime", lsn: local.pg.lsn });
  const others = cluster.members.map((m) => m.name).filter((n) => n !== self.name);
  actions.push({ type: "syncSlots", members: others });
  const streaming = local.pg.streaming ? "streaming from" : "following (not streaming yet)";
  return { actions, reason: `standby leader: ${streaming} ${describe(s)}`, role: "standby_leader" };
}

/**
 * SB5: PostgreSQL runs writable in a standby cluster. The leader (a cluster turned into a standby
 * cluster: the planned switchover between clusters) stops cleanly, so the WAL up to its shutdown
 * checkpoint reaches the other cluster before it is promoted, and it follows without a rewind.
 */
export function standbyPrimaryRow(input: HaInput): Decision | undefined {
  const s = standbyOf(input);
  if (!s) return undefined;
  const ours = input.cluster?.leader?.name === input.self.name;
  return {
    actions: [{ type: ours ? "stopForStandby" : "demote" }],
    reason: ours
      ? `this cluster became a standby cluster: stopping the primary cleanly (its WAL reaches the standbys) to follow ${describe(s)}`
      : `standby cluster: no member may run writable; stopping this primary to follow ${describe(s)}`,
    role: ours ? "standby_leader" : "replica",
  };
}

/** A followLeader towards the source when PostgreSQL is not already pointed there (archive-only: no upstream). */
function follow(s: StandbyCluster, current: HostPort | undefined): Action[] {
  const source = standbySource(s);
  if (!source) return current ? [{ type: "followLeader", leader: SOURCE, upstream: null }] : [];
  if (current && source.host.split(",").includes(current.host) && current.port === source.port) return [];
  return [{ type: "followLeader", leader: SOURCE, upstream: source }];
}
