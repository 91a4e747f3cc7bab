/**
 * POST /restart, POST /reinitialize: Patroni's bodies, checked before anything changes, and the
 * rules deciding whether this member may restart or be rebuilt now. Pure.
 *
 * Status codes follow Patroni's: 400 a malformed body, 422 a schedule in the past (as for a
 * switchover), 503 conditions not met (role, restart_pending, the member's state, an operation in
 * progress, no leader to copy from).
 */
import type { ClusterSnapshot } from "../dcs/types";
import type { PgOperation } from "../postgres/types";
import { ISO_WITH_ZONE } from "./failover-request";

export interface RestartRequest {
  /** Only when PostgreSQL reports a pending restart (pg_settings.pending_restart). */
  restartPending?: boolean;
  /** Only when this member runs in that role. */
  role?: "primary" | "replica";
  /** A scheduled restart: the time as given, and parsed (ms since the epoch). */
  schedule?: string;
  scheduleAt?: number;
  /** Seconds the restarted server may take to accept connections. */
  timeoutS?: number;
}

export type CheckedRestart = { ok: true; request: RestartRequest } | { ok: false; status: 400 | 422; error: string };

export const RESTART_FIELDS = ["restart_pending", "role", "schedule", "timeout"] as const;
const EXAMPLE = `{"restart_pending":true,"role":"replica","schedule":"2026-11-27T16:00:00Z","timeout":60}`;

const bad = (error: string): CheckedRestart => ({ ok: false, status: 400, error });

/** "30", 30, "30s", "2min", "1h" → seconds; undefined when it is not a positive duration. */
export function parseSeconds(v: unknown): number | undefined {
  if (typeof v === "number") return Number.isFinite(v) && v > 0 ? v : undefined;
  if (typeof v !== "string") return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(s|min|h)?\s*$/.exec(v);
  if (!m) return undefined;
  const s = Number(m[1]) * { s: 1, min: 60, h: 3600 }[m[2] ?? "s"]!;
  return s > 0 ? s : undefined;
}

export function parseRestartRequest(body: unknown, wallNow: number): CheckedRestart {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return bad(`body: must be a JSON object, e.g. ${EXAMPLE}`);
  const raw = body as Record<string, unknown>;
  if ("postgres_version" in raw) {
    return bad("postgres_version: restarting by PostgreSQL version is not supported: drop the field (filters: restart_pending, role)");
  }
  const unknown = Object.keys(raw).filter((k) => !(RESTART_FIELDS as readonly string[]).includes(k));
  if (unknown.length) return bad(`${unknown.join(", ")}: unknown field(s) for a restart; send only ${RESTART_FIELDS.join(", ")}`);
  const request: RestartRequest = {};
  if (raw.restart_pending !== undefined) {
    if (typeof raw.restart_pending !== "boolean") return bad("restart_pending: must be true or false");
    request.restartPending = raw.restart_pending;
  }
  if (raw.role !== undefined) {
    // Patroni still accepts "master" for the primary.
    if (raw.role !== "primary" && raw.role !== "master" && raw.role !== "replica") {
      return bad(`role: "${String(raw.role)}" is not a role: give "primary" or "replica" (or leave it out for any)`);
    }
    request.role = raw.role === "replica" ? "replica" : "primary";
  }
  if (raw.timeout !== undefined) {
    const t = parseSeconds(raw.timeout);
    if (t === undefined) return bad(`timeout: "${String(raw.timeout)}" is not a positive number of seconds, e.g. 60 or "2min"`);
    request.timeoutS = t;
  }
  if (raw.schedule !== undefined) {
    const at = typeof raw.schedule === "string" && ISO_WITH_ZONE.test(raw.schedule) ? Date.parse(raw.schedule) : NaN;
    if (Number.isNaN(at)) {
      return bad(`schedule: "${String(raw.schedule)}" is not an ISO 8601 time with a time zone, e.g. 2026-11-27T16:00:00Z`);
    }
    if (at <= wallNow) {
      return {
        ok: false,
        status: 422,
        error: `schedule: ${String(raw.schedule)} is in the past: give a future time, or none to restart now`,
      };
    }
    request.schedule = raw.schedule as string;
    request.scheduleAt = at;
  }
  return { ok: true, request };
}

/** What the restart conditions are checked against: the live PostgreSQL status and the owner. */
export interface MemberNow {
  running: boolean;
  /** Undefined when PostgreSQL does not run. */
  role?: "primary" | "replica";
  pendingRestart?: boolean;
  operation?: PgOperation;
}

/** Why this member does not restart now (Patroni answers 503 "restart conditions are not satisfied"), or undefined. */
export function restartProblem(r: RestartRequest, m: MemberNow): string | undefined {
  if (m.operation) return `${m.operation} already in progress: wait for it to finish, then ask again`;
  if (!m.running) return "PostgreSQL is not running on this member: nothing to restart (the HA loop starts it)";
  if (r.role && r.role !== m.role) {
    return `restart conditions are not satisfied: role: this member runs as ${m.role}, the request restarts only a ${r.role}`;
  }
  if (r.restartPending && !m.pendingRestart) {
    return "restart conditions are not satisfied: restart_pending: PostgreSQL reports no change waiting for a restart here";
  }
  return undefined;
}

export type CheckedReinit = { ok: true; force: boolean } | { ok: false; status: 400; error: string };

export function parseReinitRequest(body: unknown): CheckedReinit {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return { ok: false, status: 400, error: `body: must be a JSON object, e.g. {"force":false}` };
  }
  const raw = body as Record<string, unknown>;
  const unknown = Object.keys(raw).filter((k) => k !== "force");
  if (unknown.length) return { ok: false, status: 400, error: `${unknown.join(", ")}: unknown field(s); send only force` };
  if (raw.force !== undefined && typeof raw.force !== "boolean") return { ok: false, status: 400, error: "force: must be true or false" };
  return { ok: true, force: raw.force === true };
}

/**
 * Why this member may not be rebuilt from the leader now, or undefined. Refused on the leader (its
 * data is the cluster's) and without a running leader (nothing to copy from, and the wipe would
 * leave this member with nothing); nothing is changed either way.
 */
export function reinitProblem(
  cluster: ClusterSnapshot | undefined,
  self: string,
  m: Pick<MemberNow, "running" | "role" | "operation">,
  force: boolean,
): string | undefined {
  if (!cluster) return "etcd cannot be read now: the leader to copy from is unknown; try again";
  const leader = cluster.leader?.name;
  if (!leader) return "the cluster has no leader: nothing to copy from; reinitialize once a leader runs (hapg list)";
  if (leader === self) return `${self} is the leader: only a replica is reinitialized; switch over first (hapg switchover) to rebuild it`;
  if (m.running && m.role === "primary") return `${self} runs as a primary without the leader key: the HA loop demotes it first; try again`;
  const lm = cluster.members.find((x) => x.name === leader);
  if (!lm || lm.data.state !== "running" || lm.data.role !== "primary") {
    return `leader ${leader} is not running as the primary now: nothing to copy from; try again when it is`;
  }
  if (m.operation && !force) {
    return `${m.operation} already in progress: wait for it, or send {"force": true} to reinitialize right after it`;
  }
  return undefined;
}
