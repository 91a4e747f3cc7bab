/**
 * Every fault kind a chaos run draws from: the fault suite's scenarios (test/faults/scenarios.ts, run
 * as they are, on whoever leads at that moment) and the faults on standbys and the operator's
 * commands (./replica-faults.ts). Each kind carries the outage median it is judged against: a fault
 * whose longest write pause exceeds twice that (at least LONG_FLOOR_MS) is a long outage, and its
 * evidence is kept.
 */
import type { SynchronousMode } from "../../sidecar/contract/settings/schema";
import { INJECT, ScenarioName } from "../faults/scenarios";
import {
  ChaosCtx,
  ChaosInjected,
  crashNodeNow,
  crashStandby,
  cutStandby,
  freezeStandby,
  reinitReplica,
  restartLeader,
  restartLeaderAgent,
  restartStandby,
  slowStandby,
  stopLeaderAgent,
  stopReplicaAgent,
} from "./replica-faults";
import { backupsWorkAgain, crashDuringBackup } from "./backup-fault";

export interface FaultKind {
  name: string;
  /** Who it hits, in words (the line per fault names the member). */
  hits: "leader" | "synchronous standby" | "replica" | "etcd" | "every node";
  /**
   * The outage median (longest write pause) it is judged against, ms: the fault suite's figure
   * (README, "Fault suite", 5 runs per scenario) where the suite has the scenario; for a kind the
   * suite lacks, `reference` says where the figure comes from.
   */
  medianMs: number;
  reference?: string;
  /** Needs every member in a network namespace (--netns), or one synchronous mode. */
  netns?: boolean;
  /**
   * Only on loopback: the fault suite restarts a stopped etcd member from its /proc cmdline, outside
   * any namespace, so with --netns the member cannot bind its address and stays down (seen in a run).
   */
  loopbackOnly?: boolean;
  mode?: SynchronousMode;
  /** Needs the cluster started with the backup repository (`--backup`: pgBackRest, a local S3 server). */
  backup?: boolean;
  inject: (ctx: ChaosCtx) => Promise<ChaosInjected>;
  /** The kind's own checks once the cluster is fully healthy again (pushed to ctx.checks; ctx.leader is the leader now). */
  verify?: (ctx: ChaosCtx) => Promise<void>;
}

/** Outages under this are never "long", whatever the kind's median: a shared 2-core machine pauses a writer a few hundred ms without any fault. */
export const LONG_FLOOR_MS = 1000;

/** The longest write pause above which a fault of this kind counts as a long outage. */
export const longOutageMs = (k: FaultKind): number => Math.max(2 * k.medianMs, LONG_FLOOR_MS);

const onLeader = (s: ScenarioName) => async (ctx: ChaosCtx) => ({ ...(await INJECT[s](ctx)), target: ctx.leader });
const onEtcd = (s: ScenarioName) => async (ctx: ChaosCtx) => ({ ...(await INJECT[s](ctx)), target: "etcd" });

const STANDBY_TARGET = "issue 17's target for a stalled synchronous standby (at most 1 s)";

export const FAULT_KINDS: readonly FaultKind[] = [
  { name: "crash-node", hits: "leader", medianMs: 3700, inject: onLeader("crash-node") },
  { name: "crash-pg", hits: "leader", medianMs: 1000, inject: onLeader("crash-pg") },
  { name: "freeze-node", hits: "leader", medianMs: 3800, inject: onLeader("freeze-node") },
  { name: "switchover", hits: "leader", medianMs: 310, inject: onLeader("switchover") },
  {
    name: "whole-cluster-restart",
    hits: "every node",
    medianMs: 5800,
    inject: async (ctx) => ({ ...(await INJECT["whole-cluster-restart"](ctx)), target: "cluster" }),
  },
  { name: "lagging-replica", hits: "leader", medianMs: 4600, mode: "on", inject: onLeader("lagging-replica") },
  { name: "fault-after-join", hits: "leader", medianMs: 13_500, inject: onLeader("fault-after-join") },
  { name: "etcd-member-lost", hits: "etcd", medianMs: 10, loopbackOnly: true, inject: onEtcd("etcd-member-lost") },
  { name: "etcd-quorum-lost", hits: "etcd", medianMs: 30, loopbackOnly: true, inject: onEtcd("etcd-quorum-lost") },
  { name: "partition-from-etcd", hits: "leader", medianMs: 40, netns: true, inject: onLeader("partition-from-etcd") },
  { name: "partition-from-replicas", hits: "leader", medianMs: 5500, netns: true, inject: onLeader("partition-from-replicas") },
  { name: "etcd-quorum-lost-cut-replica", hits: "leader", medianMs: 8600, netns: true, inject: onLeader("etcd-quorum-lost-cut-replica") },
  {
    name: "crash-node-with-one-replica-stopped",
    hits: "leader",
    medianMs: 4000,
    mode: "quorum",
    inject: onLeader("crash-node-with-one-replica-stopped"),
  },
  {
    name: "crash-node-before-stopped-replica-left",
    hits: "leader",
    medianMs: 10_600,
    mode: "quorum",
    inject: onLeader("crash-node-before-stopped-replica-left"),
  },
  {
    name: "stop-agent",
    hits: "leader",
    medianMs: 3700,
    reference: "crash-node's median: a graceful stop releases the key, so it is at most a crash",
    inject: stopLeaderAgent,
  },
  {
    name: "restart-agent",
    hits: "leader",
    medianMs: 1000,
    reference: "crash-pg's median: no failover, the restarted agent adopts the running PostgreSQL",
    inject: restartLeaderAgent,
  },
  {
    name: "crash-node-now",
    hits: "leader",
    medianMs: 3700,
    reference: "crash-node's median (the same crash, without waiting for the sync key to settle first)",
    inject: crashNodeNow,
  },
  {
    name: "restart-leader",
    hits: "leader",
    medianMs: 1000,
    reference: "crash-pg's median: PostgreSQL restarts in place under the key",
    inject: restartLeader,
  },
  { name: "freeze-standby", hits: "synchronous standby", medianMs: 1000, reference: STANDBY_TARGET, inject: freezeStandby },
  { name: "slow-standby", hits: "synchronous standby", medianMs: 1000, reference: STANDBY_TARGET, inject: slowStandby },
  { name: "cut-standby", hits: "synchronous standby", medianMs: 1000, reference: STANDBY_TARGET, netns: true, inject: cutStandby },
  { name: "crash-standby", hits: "synchronous standby", medianMs: 1000, reference: STANDBY_TARGET, inject: crashStandby },
  { name: "restart-standby", hits: "synchronous standby", medianMs: 1000, reference: STANDBY_TARGET, inject: restartStandby },
  { name: "stop-replica-agent", hits: "replica", medianMs: 1000, reference: STANDBY_TARGET, inject: stopReplicaAgent },
  { name: "reinit-replica", hits: "replica", medianMs: 1000, reference: STANDBY_TARGET, inject: reinitReplica },
  {
    name: "crash-during-backup",
    hits: "leader",
    medianMs: 3700,
    reference: "crash-node's median: the same crash, with a full backup running (a backup must not slow the failover)",
    backup: true,
    inject: crashDuringBackup,
    verify: backupsWorkAgain,
  },
];

/** The kinds a run may draw: those whose needs the cluster meets. */
export function availableKinds(o: { netns: boolean; mode: SynchronousMode; backup?: boolean; only?: readonly string[] }): FaultKind[] {
  const ks = FAULT_KINDS.filter(
    (k) => (!k.netns || o.netns) && !(k.loopbackOnly && o.netns) && (!k.mode || k.mode === o.mode) && (!k.backup || o.backup === true),
  );
  if (!o.only) return ks;
  for (const n of o.only)
    if (!FAULT_KINDS.some((k) => k.name === n))
      throw new Error(`--kinds: unknown kind "${n}" (use ${FAULT_KINDS.map((k) => k.name).join(", ")})`);
  const chosen = ks.filter((k) => o.only!.includes(k.name));
  if (chosen.length === 0)
    throw new Error(
      `--kinds: none of ${o.only.join(", ")} can run on this cluster (netns ${o.netns}, synchronous mode ${o.mode}, backup ${o.backup === true})`,
    );
  return chosen;
}

/**
 * The run's faults in order, drawn from the seed: `count` kinds, uniformly, never the same kind twice
 * in a row (so every fault follows a different one: rejoin after rejoin comes from the mix). Pure.
 */
export function drawFaults(kinds: readonly FaultKind[], count: number, random: () => number): FaultKind[] {
  const out: FaultKind[] = [];
  for (let i = 0; i < count; i++) {
    const prev = out[out.length - 1];
    const choices = kinds.length > 1 ? kinds.filter((k) => k !== prev) : kinds;
    out.push(choices[Math.floor(random() * choices.length)]);
  }
  return out;
}
