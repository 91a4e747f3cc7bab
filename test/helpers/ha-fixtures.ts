/** Builders shared by the table-driven tests of the pure HA decision (ha-decide, ha-switchover). */
import type { ClusterSnapshot, Member } from "../../sidecar/dcs/types";
import type { HaInput } from "../../sidecar/ha/types";

export const NOW = 100_000;

/** A member key on 127.0.0.1:`port` (its API on port + 1000), at LSN 1000 on timeline 1. */
export function member(name: string, role: Member["data"]["role"], port: number, extra: Partial<Member["data"]> = {}): Member {
  return {
    name,
    leaseId: `lease-${name}`,
    modRevision: 1,
    data: {
      conn_url: `postgres://127.0.0.1:${port}/postgres`,
      api_url: `http://127.0.0.1:${port + 1000}/patroni`,
      state: "running",
      role,
      xlog_location: 1000,
      timeline: 1,
      tags: { nofailover: false, noloadbalance: false, failover_priority: 1 },
      version: "test",
      ...extra,
    },
  };
}

/** a leads (lease-a), b and c replicate; everyone at LSN 1000. */
export function threeMembers(over: Partial<ClusterSnapshot> = {}): ClusterSnapshot {
  return {
    revision: 10,
    initialize: "7000",
    leader: { name: "a", leaseId: "lease-a", modRevision: 5 },
    leaderOptime: 1000,
    members: [member("a", "primary", 5432), member("b", "replica", 5433), member("c", "replica", 5434)],
    corrupt: [],
    ...over,
  };
}

/** This member's settings with the defaults the tables assume (asynchronous, ttl 4 s, margin 1 s). */
export function selfOf(name: string): HaInput["self"] {
  return {
    name,
    nofailover: false,
    failoverPriority: 1,
    maximumLagOnFailover: 1_048_576,
    ttlMs: 4000,
    fenceMarginMs: 1000,
    synchronousMode: "off",
    usePgRewind: true,
  };
}

/**
 * A running primary's local view at LSN 5000: PostgreSQL's synchronous_standby_names and the standbys
 * streaming from it with their replay positions (sync_state "sync"/"async", or `syncState` for all).
 */
export function primaryLocal(
  wait: string,
  streaming: { name: string; lsn: number; sync?: boolean }[],
  syncState?: "quorum",
): HaInput["local"] {
  return {
    dataDir: { initialized: true, standbySignal: false },
    pg: {
      running: true,
      inRecovery: false,
      lsn: 5000,
      synchronousStandbyNames: wait,
      replication: streaming.map((s) => ({
        application_name: s.name,
        client_addr: null,
        state: "streaming",
        sync_state: syncState ?? (s.sync ? "sync" : "async"),
        replay_lsn: s.lsn,
      })),
    },
    process: "running",
  };
}
