/**
 * Patroni-compatible health endpoints as a pure function: state in, HTTP status out (200 when the
 * condition holds, 503 otherwise; 400 for a bad query). HAProxy configs written for Patroni work
 * unchanged. Unlike Patroni 3, /primary is 200 only while PostgreSQL actually runs writable on the
 * holder of a *valid* lease — never on a leader that is about to fence itself.
 */
import type { ClusterSnapshot } from "../dcs/types";
import type { PgStatus } from "../postgres/types";

export interface HealthState {
  pg: PgStatus;
  holdsLeader: boolean;
  leaseValid: boolean;
  noloadbalance: boolean;
  /** A former primary not yet rewound: its data may have diverged, so it serves no reads. */
  formerPrimary?: boolean;
  /** Holds the leader key of a standby cluster while in recovery (Patroni's standby_leader). */
  standbyLeader?: boolean;
  /** Leader's last published WAL position (for replica lag). */
  leaderOptime?: number;
  /** ms since the HA loop last completed; undefined if it never ran. */
  loopAgeMs?: number;
  ttlMs: number;
}

export type HealthResult = { status: number; error?: string };

export const PRIMARY_PATHS = ["/", "/primary", "/master", "/read-write"];
export const STANDBY_LEADER_PATHS = ["/standby-leader", "/standby_leader"];
export const HEALTH_PATHS = [
  ...PRIMARY_PATHS,
  "/leader",
  ...STANDBY_LEADER_PATHS,
  "/replica",
  "/read-only",
  "/health",
  "/liveness",
  "/readiness",
];

/** The leader of a standby cluster: holds the key and runs in recovery, following another cluster (Patroni's role). */
export function isStandbyLeader(holdsLeader: boolean, pg: PgStatus, standbyCluster: boolean): boolean {
  return standbyCluster && holdsLeader && pg.running && pg.inRecovery === true;
}

export function evaluateHealth(path: string, query: URLSearchParams, s: HealthState): HealthResult {
  const ok = (cond: boolean): HealthResult => ({ status: cond ? 200 : 503 });
  const isPrimary = s.pg.running && s.pg.inRecovery === false;
  // Patroni's: a standby leader answers /standby-leader, /leader and /read-only, never /primary nor /replica.
  const standbyLeader = s.standbyLeader === true && s.holdsLeader && s.leaseValid;
  const isReplica = s.pg.running && s.pg.inRecovery === true && !s.formerPrimary && s.standbyLeader !== true;
  if (PRIMARY_PATHS.includes(path)) return ok(isPrimary && s.holdsLeader && s.leaseValid);
  if (STANDBY_LEADER_PATHS.includes(path)) return ok(standbyLeader);
  switch (path) {
    case "/leader":
      return ok((isPrimary && s.holdsLeader && s.leaseValid) || standbyLeader);
    case "/replica": {
      const maxLag = parseLag(query.get("lag"));
      if (maxLag === "invalid") return { status: 400, error: "query parameter lag: use bytes or a size like 16MB (units: B, kB, MB, GB)" };
      return ok(isReplica && !s.noloadbalance && withinLag(s, maxLag));
    }
    case "/read-only": {
      const maxLag = parseLag(query.get("lag"));
      if (maxLag === "invalid") return { status: 400, error: "query parameter lag: use bytes or a size like 16MB (units: B, kB, MB, GB)" };
      return ok((isPrimary && s.holdsLeader && s.leaseValid) || standbyLeader || (isReplica && withinLag(s, maxLag)));
    }
    case "/health":
      return ok(s.pg.running);
    case "/liveness":
      return ok(s.loopAgeMs !== undefined && s.loopAgeMs < s.ttlMs);
    case "/readiness":
      return ok((isPrimary && s.holdsLeader && s.leaseValid) || standbyLeader || (isReplica && s.pg.streaming === true));
  }
  return { status: 404, error: `unknown path ${path}` };
}

export function replicaLag(s: Pick<HealthState, "pg" | "leaderOptime">): number | undefined {
  if (s.leaderOptime === undefined || s.pg.lsn === undefined) return undefined;
  return Math.max(0, s.leaderOptime - s.pg.lsn);
}

function withinLag(s: HealthState, maxLag: number | undefined): boolean {
  if (maxLag === undefined) return true;
  const lag = replicaLag(s);
  return lag !== undefined && lag <= maxLag;
}

const UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/** "16MB" → bytes; undefined when absent; "invalid" when it cannot be read. */
export function parseLag(v: string | null): number | undefined | "invalid" {
  if (v === null) return undefined;
  const m = /^\s*(\d+)\s*([kmg]?b)?\s*$/i.exec(v);
  if (!m) return "invalid";
  return Number(m[1]) * UNITS[(m[2] ?? "b").toLowerCase()];
}

/** GET /cluster, with Patroni's field names. */
export function clusterBody(scope: string, cluster: ClusterSnapshot | undefined) {
  const leader = cluster?.leader?.name;
  const leaderLsn = cluster?.members.find((m) => m.name === leader)?.data.xlog_location ?? cluster?.leaderOptime;
  return {
    scope,
    members: (cluster?.members ?? [])
      .map((m) => {
        let host = "";
        let port = 0;
        try {
          const u = new URL(m.data.conn_url);
          host = u.hostname;
          port = Number(u.port || 5432);
        } catch {
          /* an unparsable conn_url leaves host empty */
        }
        const isLeader = m.name === leader;
        const state = !isLeader && m.data.replication_state === "streaming" ? "streaming" : m.data.state;
        const lag =
          !isLeader && leaderLsn !== undefined && m.data.xlog_location !== undefined
            ? Math.max(0, leaderLsn - m.data.xlog_location)
            : undefined;
        // Patroni's cluster_as_json: the leader of a standby cluster is "standby_leader".
        const leaderRole = m.data.role === "standby_leader" || cluster?.config?.standby_cluster !== undefined ? "standby_leader" : "leader";
        return {
          name: m.name,
          role: isLeader ? leaderRole : m.data.role === "uninitialized" ? "uninitialized" : "replica",
          state,
          api_url: m.data.api_url,
          host,
          port,
          timeline: m.data.timeline,
          ...(lag !== undefined ? { lag } : {}),
          // Ours: how far the standby leader is behind the source cluster (bytes, seconds).
          ...(isLeader && m.data.source_lag ? { source_lag: m.data.source_lag } : {}),
          // Patroni's: present only when a changed parameter waits for a restart.
          ...(m.data.pending_restart ? { pending_restart: true } : {}),
          tags: m.data.tags,
        };
      })
      .sort((a, b) => a.name.localeCompare(b.name)),
    // The roll step in progress (or stalled), so `hapg list` and an operator see it (docs/day2.md).
    ...(cluster?.roll ? { roll: cluster.roll.state } : {}),
  };
}
