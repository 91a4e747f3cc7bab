/**
 * A planned stop of the leader's node (SIGTERM to the agent: a shutdown, an instance terminated by a
 * roll) is a switchover first: the write pause of a hand-over, not of a failover. `plannedStopStep`
 * (pure) says whether to hand over and to whom; `handOverBeforeStop` asks for it through the same
 * `failover` key an operator's switchover uses (rows SW1–SW6), waits a bounded time for another
 * member to hold the leader key, and otherwise withdraws the request: the stop then goes on as
 * before (a clean stop that releases the key).
 */
import type { ClusterSnapshot, Dcs } from "../dcs/types";
import type { Logger } from "../log";
import { isPausedConfig } from "../contract/settings/dynamic";
import { bestCandidate, type CandidateRules } from "./switchover";

export type PlannedStopStep = { handOver: true; candidate: string; reason: string } | { handOver: false; reason: string; retry?: boolean };

export function plannedStopStep(cluster: ClusterSnapshot | undefined, self: string, rules: CandidateRules): PlannedStopStep {
  if (!cluster) return { handOver: false, reason: "etcd cannot be read: stopping without a hand-over" };
  if (cluster.leader?.name !== self) return { handOver: false, reason: "not the leader: stopping" };
  if (isPausedConfig(cluster.config))
    return { handOver: false, reason: "the cluster is paused (maintenance mode): stopping without a hand-over" };
  if (cluster.failover) return { handOver: false, reason: "a switchover is already requested: stopping without another" };
  // Only a replica streaming from us now can receive the shutdown checkpoint (one that still follows a
  // former leader, right after a switchover, says "running" with a position close to ours).
  const streaming = { ...cluster, members: cluster.members.filter((m) => m.name === self || m.data.replication_state === "streaming") };
  const candidate = bestCandidate(streaming, rules);
  if (!candidate && bestCandidate(cluster, rules)) {
    return { handOver: false, retry: true, reason: "an eligible replica is not streaming from us yet: waiting for it" };
  }
  if (!candidate) {
    const which = rules.synchronousMode === "off" ? "running replica within the lag limit" : "synchronous standby";
    return { handOver: false, reason: `no ${which} may take over: stopping without a hand-over (a replica takes over after the stop)` };
  }
  return { handOver: true, candidate, reason: `planned stop of the leader: switching over to ${candidate} first` };
}

export interface HandOverDeps {
  name: string;
  dcs: Dcs;
  rules: () => CandidateRules;
  log: Logger;
  /** How long the hand-over may take before the stop goes on without it. */
  timeoutMs: number;
}

/** True when another member holds the leader key afterwards. Never throws. */
export async function handOverBeforeStop(d: HandOverDeps): Promise<boolean> {
  const t0 = Date.now();
  try {
    let step = plannedStopStep(await d.dcs.load(), d.name, d.rules());
    // Wait (within half the bound) for an eligible replica to stream from us.
    while (!step.handOver && step.retry && Date.now() - t0 < d.timeoutMs / 2) {
      await new Promise((r) => setTimeout(r, 200));
      step = plannedStopStep(await d.dcs.load(), d.name, d.rules());
    }
    d.log.info({ ...("candidate" in step ? { candidate: step.candidate } : {}) }, step.reason);
    if (!step.handOver) return false;
    if (!(await d.dcs.attemptCreateFailover({ leader: d.name, member: step.candidate }))) {
      d.log.warn("another switchover request appeared: stopping without a hand-over of our own");
      return false;
    }
    for (;;) {
      await new Promise((r) => setTimeout(r, 100));
      const c = await d.dcs.load().catch(() => undefined);
      if (c?.leader && c.leader.name !== d.name) {
        d.log.info({ leader: c.leader.name, ms: Date.now() - t0 }, "handed over before stopping");
        return true;
      }
      // The leader row dropped the request (the candidate was refused when it was due).
      if (c && !c.failover && c.leader?.name === d.name) {
        d.log.warn("the switchover was refused when it was due: stopping without a hand-over");
        return false;
      }
      if (Date.now() - t0 > d.timeoutMs) {
        const now = await d.dcs.load().catch(() => undefined);
        if (now?.failover?.leader === d.name) await d.dcs.putFailover(undefined).catch(() => undefined);
        d.log.warn({ ms: Date.now() - t0 }, "the hand-over did not finish in time: stopping without it");
        return false;
      }
    }
  } catch (e) {
    d.log.warn({ err: String(e) }, "hand-over before stopping failed: stopping without it");
    return false;
  }
}
