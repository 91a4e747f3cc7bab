/** What this member publishes in its member key, derived (purely) from its local state. */
import type { MemberData, SourceLag } from "../dcs/types";
import type { PgStatus } from "../postgres/types";
import type { HostPort } from "../postgres/types";
import type { LocalState } from "./types";
import { AGENT_VERSION } from "../contract/version";

export interface MemberIdentity {
  pgConnect: HostPort;
  apiConnect: HostPort;
  /** "https" when the API serves TLS (api.tls): the URL other members, HAProxy and patronictl call. Default "http". */
  apiScheme?: "http" | "https";
  tags: { nofailover: boolean; noloadbalance: boolean; failoverPriority: number };
}

/** What the member key says beyond PostgreSQL's state (Patroni's fields, present only when true). */
export interface MemberFlags {
  paused?: boolean;
  pendingRestart?: boolean;
  /** This member's pgBackRest TLS server, while it runs. */
  pgbackrest?: MemberData["pgbackrest"];
  /** This member holds the leader key of a standby cluster (Patroni's role standby_leader). */
  standbyLeader?: boolean;
}

/**
 * A standby leader's lag behind its source: bytes from what the source's WAL sender last said its
 * end of WAL was (streaming only); seconds since the last replayed commit, 0 once everything the
 * source sent is replayed (an idle source commits nothing, and is not behind). Pure.
 */
export function sourceLag(pg: PgStatus): SourceLag | undefined {
  if (!pg.running || !pg.inRecovery) return undefined;
  const streaming = pg.streaming === true;
  const end = streaming ? pg.upstreamEndLsn : undefined;
  const replayed = pg.replayLsn;
  const bytes = end !== undefined && replayed !== undefined ? Math.max(0, end - replayed) : undefined;
  const seconds = bytes === 0 ? 0 : pg.replayAgeS === undefined ? undefined : Math.round(pg.replayAgeS * 1000) / 1000;
  return {
    streaming,
    ...(end !== undefined ? { source_lsn: end } : {}),
    ...(bytes !== undefined ? { bytes } : {}),
    ...(seconds !== undefined ? { seconds } : {}),
  };
}

export function memberData(id: MemberIdentity, local: LocalState, flags: MemberFlags = {}): MemberData {
  const pg = local.pg;
  const role: MemberData["role"] = !local.dataDir.initialized
    ? "uninitialized"
    : pg.running && pg.inRecovery === false
      ? "primary"
      : local.process === "fenced"
        ? "demoted"
        : flags.standbyLeader
          ? "standby_leader"
          : "replica";
  const data: MemberData = {
    conn_url: `postgres://${hostForUrl(id.pgConnect.host)}:${id.pgConnect.port}/postgres`,
    api_url: `${id.apiScheme ?? "http"}://${hostForUrl(id.apiConnect.host)}:${id.apiConnect.port}/patroni`,
    state: pg.running ? "running" : local.process,
    role,
    tags: { nofailover: id.tags.nofailover, noloadbalance: id.tags.noloadbalance, failover_priority: id.tags.failoverPriority },
    version: AGENT_VERSION,
  };
  if (pg.lsn !== undefined) data.xlog_location = pg.lsn;
  if (pg.timeline !== undefined) data.timeline = pg.timeline;
  if (pg.inRecovery) data.replication_state = pg.streaming ? "streaming" : "stopped";
  // Patroni's field: a changed parameter waits for a restart (hapg list's "Pending restart" column).
  if (pg.running && pg.pendingRestart) data.pending_restart = true;
  if (role === "primary" && pg.history?.length) data.history = pg.history.map((f) => [f.timeline, f.switchLsn]);
  if (flags.paused) data.pause = true;
  if (flags.pendingRestart) data.pending_restart = true;
  if (flags.pgbackrest) data.pgbackrest = flags.pgbackrest;
  if (role === "standby_leader") {
    const lag = sourceLag(pg);
    if (lag) data.source_lag = lag;
  }
  return data;
}

function hostForUrl(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}
