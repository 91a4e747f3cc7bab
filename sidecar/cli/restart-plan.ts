/**
 * Which members `hapg restart` restarts, and in which order. Pure: the cluster as GET /cluster shows
 * it and the flags in, the steps out.
 *
 * One member: that member, in place (also the leader, as patronictl does: its writes wait for it).
 * Several: a rolling restart in a safe order: the replicas one at a time (each must stream again
 * before the next), then a switchover from the leader to a healthy replica, then the old leader,
 * now a replica. Writes then stop only for the switchover's hand-over.
 */
import type { ClusterView } from "./ops-source";

export type RoleFlag = "replica" | "primary" | "any";

export interface RestartSelection {
  /** One member by name. */
  member?: string;
  role?: RoleFlag;
  /** Only members whose PostgreSQL reports a pending restart. */
  pending?: boolean;
  /** A scheduled restart (only for one named member: a rolling order cannot be scheduled on the agents). */
  scheduled?: string;
}

export type RestartStep =
  { kind: "restart"; member: string; /** its role when planned */ role: "leader" | "replica" } | { kind: "switchover"; from: string };

export type RestartPlan = { ok: true; steps: RestartStep[]; skipped: string[] } | { ok: false; error: string };

export const ROLE_FLAGS: readonly RoleFlag[] = ["replica", "primary", "any"];
/** States in which a member's PostgreSQL runs (GET /cluster shows a streaming replica as "streaming"). */
const RUNNING = new Set(["running", "streaming"]);

export function planRestart(view: ClusterView, sel: RestartSelection): RestartPlan {
  if (sel.role !== undefined && !ROLE_FLAGS.includes(sel.role)) {
    return { ok: false, error: `--role "${String(sel.role)}": give replica, primary or any` };
  }
  const names = view.members.map((m) => m.name);
  const leader = view.members.find((m) => m.role === "leader")?.name;
  if (sel.member !== undefined) {
    const m = view.members.find((x) => x.name === sel.member);
    if (!m) return { ok: false, error: `MEMBER: no member named "${sel.member}" (members: ${names.join(", ") || "none"})` };
    return { ok: true, steps: [{ kind: "restart", member: m.name, role: m.name === leader ? "leader" : "replica" }], skipped: [] };
  }
  if (sel.scheduled !== undefined) {
    return { ok: false, error: "--scheduled: name one MEMBER; a restart of several members runs now, in a safe order" };
  }
  if (!leader) {
    return {
      ok: false,
      error: "the cluster has no leader now: a rolling restart needs one; restart one MEMBER at a time, or wait for a leader",
    };
  }
  const role = sel.role ?? "any";
  const skipped: string[] = [];
  const wanted = view.members.filter((m) => {
    const isLeader = m.name === leader;
    if ((role === "replica" && isLeader) || (role === "primary" && !isLeader)) return false;
    if (sel.pending && !m.pending_restart) return false;
    if (!RUNNING.has(m.state)) {
      skipped.push(`${m.name}: PostgreSQL is not running (${m.state}); nothing to restart`);
      return false;
    }
    return true;
  });
  const replicas = wanted.filter((m) => m.name !== leader).sort((a, b) => a.name.localeCompare(b.name));
  const steps: RestartStep[] = replicas.map((m) => ({ kind: "restart", member: m.name, role: "replica" }));
  if (wanted.some((m) => m.name === leader)) {
    // A switchover needs a replica to hand over to; a cluster of one restarts its leader in place. A
    // running replica counts although it is not streaming this moment (its member key lags a restart
    // or a reconnect by a loop): the switchover step waits for one that streams, and fails, leaving
    // the leader untouched, if none does.
    const canHandOver = view.members.some((m) => m.name !== leader && m.role !== "leader" && RUNNING.has(m.state));
    if (canHandOver) steps.push({ kind: "switchover", from: leader }, { kind: "restart", member: leader, role: "replica" });
    else steps.push({ kind: "restart", member: leader, role: "leader" });
  }
  return { ok: true, steps, skipped };
}

/** One line saying what the plan does, for the confirmation question. */
export function describePlan(steps: readonly RestartStep[]): string {
  return steps
    .map((s) =>
      s.kind === "switchover"
        ? `switch over from ${s.from}`
        : `restart ${s.member}${s.role === "leader" ? " (the leader, in place: writes wait for it)" : ""}`,
    )
    .join(", then ");
}
