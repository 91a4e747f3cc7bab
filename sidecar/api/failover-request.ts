/**
 * POST /switchover and POST /failover bodies (Patroni's: {"leader", "candidate", "scheduled_at"}),
 * checked against one cluster snapshot before anything is written. Pure. Status codes follow
 * Patroni's: 400 a malformed body, 412 a precondition the cluster does not meet, 422 a time in the
 * past. The key written is Patroni's {leader, member, scheduled_at}.
 */
import type { ClusterSnapshot, FailoverRequest } from "../dcs/types";
import { bestCandidate, candidateProblem, requestedCandidate, type CandidateRules } from "../ha/switchover";

export type RequestKind = "switchover" | "failover";

export type Checked =
  { ok: true; request: FailoverRequest; candidate: string; scheduledAt?: number } | { ok: false; status: 400 | 412 | 422; error: string };

const FIELDS = ["leader", "candidate", "scheduled_at"] as const;
/** ISO 8601 with a time zone, as Patroni requires: 2026-11-27T16:00:00Z or 2026-11-27T17:00:00+01:00. */
export const ISO_WITH_ZONE = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/;

function example(kind: RequestKind): string {
  return kind === "switchover" ? `{"leader":"node1","candidate":"node2"}` : `{"candidate":"node2"}`;
}

const bad = (error: string): Checked => ({ ok: false, status: 400, error });
const precondition = (error: string): Checked => ({ ok: false, status: 412, error });

export function checkFailoverRequest(
  kind: RequestKind,
  body: unknown,
  cluster: ClusterSnapshot,
  wallNow: number,
  rules: CandidateRules,
): Checked {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return bad(`body: must be a JSON object, e.g. ${example(kind)}`);
  }
  // A null field is an absent one, as Patroni reads them (patronictl sends "scheduled_at": null for "now").
  const raw = Object.fromEntries(Object.entries(body as Record<string, unknown>).filter(([, v]) => v !== null));
  const unknown = Object.keys(raw).filter((k) => !(FIELDS as readonly string[]).includes(k));
  if (unknown.length) return bad(`${unknown.join(", ")}: unknown field(s); send only ${FIELDS.join(", ")}`);
  for (const f of FIELDS) {
    if (raw[f] !== undefined && (typeof raw[f] !== "string" || raw[f] === ""))
      return bad(`${f}: must be a non-empty string (a member name or a time)`);
  }
  const leader = raw.leader as string | undefined;
  const named = raw.candidate as string | undefined;
  const scheduled = raw.scheduled_at as string | undefined;
  if (kind === "switchover" && leader === undefined) return bad(`leader: is required: name the current leader, e.g. ${example(kind)}`);
  if (kind === "failover" && named === undefined) return bad(`candidate: is required: name the member to promote, e.g. ${example(kind)}`);

  let scheduledAt: number | undefined;
  if (scheduled !== undefined) {
    if (kind === "failover") return bad("scheduled_at: a failover cannot be scheduled; use POST /switchover to schedule one");
    scheduledAt = ISO_WITH_ZONE.test(scheduled) ? Date.parse(scheduled) : NaN;
    if (Number.isNaN(scheduledAt)) {
      return bad(`scheduled_at: "${scheduled}" is not an ISO 8601 time with a time zone, e.g. 2026-11-27T16:00:00Z`);
    }
    if (scheduledAt <= wallNow) {
      return { ok: false, status: 422, error: `scheduled_at: ${scheduled} is in the past: give a future time, or none to switch over now` };
    }
  }

  const pending = cluster.failover;
  if (pending) {
    const what = [
      pending.leader && `from ${pending.leader}`,
      requestedCandidate(pending) && `to ${requestedCandidate(pending)}`,
      pending.scheduled_at && `at ${pending.scheduled_at}`,
    ]
      .filter(Boolean)
      .join(" ");
    return precondition(`another switchover is pending (${what || "any member"}): wait for it, or cancel it with DELETE /switchover`);
  }
  const current = cluster.leader?.name;
  if (kind === "switchover" && !current) return precondition("leader: the cluster has no leader now: use POST /failover with a candidate");
  if (leader !== undefined && leader !== current) {
    return precondition(`leader: "${leader}" is not the leader (the leader is ${current ?? "nobody"}): name the current leader`);
  }
  const candidate = named ?? bestCandidate(cluster, rules);
  if (!candidate)
    return precondition("candidate: no member may take over now (each is tagged nofailover, lagging, not synchronous or not running)");
  // Checked now and again by the leader when it is due (row SW2): the member's state then is what counts.
  const problem = candidateProblem(cluster, candidate, rules);
  if (problem) return precondition(`candidate: ${problem}`);
  const request: FailoverRequest = { ...(current ? { leader: current } : {}), ...(named ? { member: named } : {}) };
  if (scheduled !== undefined) request.scheduled_at = scheduled;
  return { ok: true, request, candidate, scheduledAt };
}
