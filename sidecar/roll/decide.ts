/**
 * The roll coordinator's decision (the leader's agent runs it; ./driver.ts executes). Pure: one
 * snapshot in (topology, etcd's cluster keys with the host reports and the roll key, etcd's member
 * list and health, the time), one action and the reason out. Rules (docs/day2.md "The roll"):
 *  - nothing starts while the cluster is paused, a step is in progress (the `roll` key), or any
 *    PostgreSQL member or etcd member is unhealthy: never more than one host down at a time;
 *  - a step ends when the host reports the topology's revision from a new instance and is healthy
 *    again; one that does not end within the limit stalls the roll (it never moves on);
 *  - stale replicas and dedicated etcd members first, by name; the leader last: it hands over by a
 *    switchover and the new leader's coordinator replaces the old leader's host;
 *  - membership: member keys and host reports of hosts no longer in the topology are dropped (their
 *    slots follow), etcd members no longer listed are removed one at a time while the rest are healthy.
 */
import type { ClusterSnapshot, Member } from "../dcs/types";
import type { EtcdMember } from "../membership/etcd-members";
import { isPausedConfig } from "../contract/settings/dynamic";
import { bestCandidate, type CandidateRules } from "../ha/switchover";
import type { Topology } from "../contract/topology";
import type { RollState } from "../dcs/roll-state";

export interface RollInput {
  /** Wall clock, ms. */
  now: number;
  /** This agent (the leader). */
  self: string;
  topology: Topology;
  cluster: ClusterSnapshot;
  /** etcd's member list and each member's health by id; undefined: it could not be read. */
  etcd?: { members: EtcdMember[]; health: Record<string, boolean> };
  rules: CandidateRules;
  /** How long a step may take before the roll stalls. */
  stepLimitMs: number;
  /** A replica lagging more than this (bytes) is not healthy yet. */
  healthyLagBytes: number;
  /** False: stale hosts are reported, never replaced (no replacer configured). */
  rollEnabled: boolean;
}

export type RollAction =
  | { type: "none"; reason: string }
  | { type: "dropHostKeys"; name: string; reason: string }
  | { type: "removeEtcdMember"; id: string; name: string; reason: string }
  | { type: "startStep"; step: RollState; reason: string }
  | { type: "endStep"; host: string; reason: string }
  | { type: "stall"; host: string; reason: string }
  | { type: "switchover"; candidate: string; reason: string };

const none = (reason: string): RollAction => ({ type: "none", reason });

/** Why a PostgreSQL member is not healthy, or undefined. */
export function memberProblem(c: ClusterSnapshot, name: string, healthyLagBytes: number): string | undefined {
  const m: Member | undefined = c.members.find((x) => x.name === name);
  if (!m) return `${name} has no member key (its agent is not running)`;
  if (m.data.state !== "running") return `${name} is ${m.data.state}`;
  if (c.leader?.name === name) return m.data.role === "primary" ? undefined : `${name} leads but is not primary yet`;
  if (m.data.replication_state !== "streaming") return `${name} is not streaming`;
  const leader = c.members.find((x) => x.name === c.leader?.name);
  const top = Math.max(c.leaderOptime ?? 0, leader?.data.xlog_location ?? 0);
  const lag = top - (m.data.xlog_location ?? 0);
  return lag > healthyLagBytes ? `${name} lags ${lag} bytes` : undefined;
}

function etcdProblem(i: RollInput, name: string): string | undefined {
  if (!i.etcd) return "etcd's member list cannot be read";
  const m = i.etcd.members.find((x) => x.name === name);
  if (!m) return `etcd member ${name} is not in etcd's member list (not joined yet)`;
  return i.etcd.health[m.id] ? undefined : `etcd member ${name} is not healthy`;
}

/** Hosts in the topology, each once (a colocated etcd member shares its node's name). */
function hosts(t: Topology): { name: string; revision: string; pg: boolean; etcd: boolean }[] {
  const byName = new Map<string, { name: string; revision: string; pg: boolean; etcd: boolean }>();
  for (const n of t.nodes) byName.set(n.name, { name: n.name, revision: n.revision, pg: true, etcd: false });
  for (const e of t.etcd) {
    const h = byName.get(e.name);
    if (h) h.etcd = true;
    else byName.set(e.name, { name: e.name, revision: e.revision, pg: false, etcd: true });
  }
  return [...byName.values()];
}

function hostProblem(i: RollInput, h: { name: string; pg: boolean; etcd: boolean }): string | undefined {
  return (h.pg ? memberProblem(i.cluster, h.name, i.healthyLagBytes) : undefined) ?? (h.etcd ? etcdProblem(i, h.name) : undefined);
}

export function decideRoll(i: RollInput): RollAction {
  const { cluster: c, topology: t } = i;
  if (isPausedConfig(c.config)) return none("the cluster is paused (maintenance mode): no roll step and no membership change");
  const all = hosts(t);
  const step = c.roll?.state;
  if (step) {
    if (step.stalled) return none(`the roll stopped at ${step.host}: ${step.stalled}; clear the roll key to go on`);
    const h = all.find((x) => x.name === step.host);
    const report = c.hosts?.[step.host];
    const since = Date.parse(step.since);
    const replaced = report !== undefined && report.revision === step.revision && report.instanceId !== step.fromInstance;
    const problem = !h
      ? undefined
      : !replaced
        ? `${step.host} has not reported revision ${step.revision} from a new instance yet`
        : hostProblem(i, h);
    if (!h || !problem)
      return { type: "endStep", host: step.host, reason: `${step.host} runs revision ${step.revision} and is healthy: step done` };
    if (!(i.now - since <= i.stepLimitMs)) {
      return {
        type: "stall",
        host: step.host,
        reason: `${step.host} not replaced within ${Math.round(i.stepLimitMs / 1000)} s (${problem}): the roll stops here`,
      };
    }
    return none(`replacing ${step.host}: ${problem}`);
  }
  // Membership first: what the topology no longer lists.
  const names = new Set(all.map((h) => h.name));
  const goneMember = c.members.find((m) => !t.nodes.some((n) => n.name === m.name) && m.name !== i.self);
  if (goneMember)
    return {
      type: "dropHostKeys",
      name: goneMember.name,
      reason: `${goneMember.name} is no longer a node of the topology: dropping its member key (its slot follows)`,
    };
  const goneReport = Object.keys(c.hosts ?? {}).find((n) => !names.has(n));
  if (goneReport)
    return { type: "dropHostKeys", name: goneReport, reason: `${goneReport} is no longer a host of the topology: dropping its report` };
  if (i.etcd) {
    const extra = i.etcd.members.find((m) => m.name !== "" && !t.etcd.some((e) => e.name === m.name));
    if (extra) {
      const sick = i.etcd.members.filter((m) => m !== extra && !i.etcd!.health[m.id]).map((m) => m.name || m.id);
      if (sick.length)
        return none(`etcd member ${extra.name} is no longer in the topology, but ${sick.join(", ")} not healthy: not removing it now`);
      return {
        type: "removeEtcdMember",
        id: extra.id,
        name: extra.name,
        reason: `etcd member ${extra.name} is no longer in the topology: removing it`,
      };
    }
  }
  // Health gate: every host of the topology up and healthy.
  for (const h of all) {
    const problem = hostProblem(i, h);
    if (problem) return none(`waiting before any roll step: ${problem}`);
  }
  const stale = all.filter((h) => c.hosts?.[h.name] !== undefined && c.hosts[h.name].revision !== h.revision);
  if (stale.length === 0) return none("every host runs its topology revision");
  if (!i.rollEnabled) return none(`stale host(s) ${stale.map((h) => h.name).join(", ")}: no replacer configured (roll off)`);
  const next = stale.filter((h) => h.name !== i.self).sort((a, b) => Number(a.pg) - Number(b.pg) || a.name.localeCompare(b.name))[0];
  if (next) {
    const st: RollState = {
      host: next.name,
      revision: next.revision,
      fromInstance: c.hosts![next.name].instanceId,
      since: new Date(i.now).toISOString(),
      by: i.self,
    };
    return {
      type: "startStep",
      step: st,
      reason: `${next.name} runs revision ${c.hosts![next.name].revision}, the topology says ${next.revision}: replacing it`,
    };
  }
  const candidate = bestCandidate(c, i.rules);
  if (!candidate) return none("only the leader is stale and no member may take over now: waiting");
  return {
    type: "switchover",
    candidate,
    reason: `only the leader (${i.self}) is stale: handing over to ${candidate}, whose coordinator replaces this host`,
  };
}
