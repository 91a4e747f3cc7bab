/**
 * GET /metrics: the agent's state in Prometheus' text format, rendered by prom-client. Patroni's
 * metric names (and `scope`/`name` labels) where the meaning is the same, so dashboards and alerts
 * written for Patroni work unchanged; `hapg_*` for what only this agent knows (lease renewals,
 * fencing, leader changes, the HA loop). Every metric is documented in docs/agent.md.
 *
 * This module is loaded by the API on the first scrape, not at agent start: an agent nobody scrapes
 * does not carry prom-client. A scrape reads only what the agent already holds (the last HA loop's
 * view, the live PostgreSQL status the health endpoints share, the counters the driver and the
 * lease keeper keep); it sends nothing to etcd or to PostgreSQL beyond that shared status read.
 */
import { Counter, Gauge, Registry, type Metric } from "prom-client";
import type { ClusterSnapshot } from "../dcs/types";
import type { ActivitySummary, BucketCounts } from "../ha/activity";
import type { HaDriver } from "../ha/driver";
import type { PgStatus } from "../postgres/types";
import type { BackupView } from "../backup/service";
import { sourceLag } from "../ha/member";
import { isStandbyLeader } from "./health";

type Buckets = ReturnType<BucketCounts["snapshot"]>;

/** Everything one scrape renders; gathered by the API (server.ts) from the driver's view. */
export interface MetricsInput {
  scope: string;
  name: string;
  version: string;
  /** Monotonic clock now (ms), the clock the activity times are in. */
  now: number;
  /** Wall clock now (ms since the epoch), to turn monotonic times into epoch seconds. */
  wallNow: number;
  pg: PgStatus;
  holdsLeader: boolean;
  /** The last etcd read (undefined when the last read failed). */
  cluster?: ClusterSnapshot;
  activity: ActivitySummary;
  renewalLatency: Buckets;
  renewalFailures: number;
  /** Maintenance mode (the dynamic config's pause). */
  paused?: boolean;
  /** Archiving and backups (absent: no backup repository configured). */
  backup?: BackupView;
  /** This member leads a standby cluster (holds the key, in recovery, following another cluster). */
  standbyLeader?: boolean;
}

export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

/** The input of one scrape from the driver's view and the live PostgreSQL status. */
export function metricsInput(
  ids: { scope: string; name: string; version: string },
  v: ReturnType<HaDriver["view"]>,
  pg: PgStatus,
  now: number,
  backup?: BackupView,
): MetricsInput {
  return {
    ...ids,
    now,
    wallNow: Date.now(),
    pg,
    holdsLeader: v.holdsLeader,
    cluster: v.cluster,
    activity: v.activity.summary(),
    renewalLatency: v.renewals.latencySeconds(),
    renewalFailures: v.lease.failures,
    paused: v.paused,
    backup,
    standbyLeader: isStandbyLeader(v.holdsLeader, pg, v.standbyCluster !== undefined),
  };
}

/**
 * The registry and its metrics, made on the first scrape and kept: a scrape only sets values.
 * (A fresh registry per scrape allocates a few dozen metric objects every time, and V8 keeps the
 * heap it grew for them: RSS climbed by megabytes under frequent scrapes.)
 */
interface Exporter {
  registry: Registry;
  gauges: Map<string, Gauge>;
  counters: Map<string, Counter>;
  /** The histograms read the latest input through this. */
  current?: MetricsInput;
}

let exporter: Exporter | undefined;

function makeExporter(): Exporter {
  const e: Exporter = { registry: new Registry(), gauges: new Map(), counters: new Map() };
  const sample = SAMPLE_INPUT;
  for (const row of [...patroniRows(sample), ...ownRows(sample), ...backupRows(sample)]) {
    if (row.counter) e.counters.set(row.name, new Counter({ name: row.name, help: row.help, registers: [e.registry] }));
    else e.gauges.set(row.name, new Gauge({ name: row.name, help: row.help, registers: [e.registry] }));
  }
  e.registry.registerMetric(
    histogram("hapg_lease_renewal_seconds", "Round-trip time of successful etcd lease renewals.", () => e.current!.renewalLatency),
  );
  e.registry.registerMetric(
    histogram(
      "hapg_ha_loop_duration_seconds",
      "Duration of one HA loop (etcd read, status, decision, actions).",
      () => e.current!.activity.loops,
    ),
  );
  return e;
}

/** One Prometheus text exposition of the input. */
export async function renderMetrics(m: MetricsInput): Promise<string> {
  const e = (exporter ??= makeExporter());
  e.current = m;
  e.registry.setDefaultLabels({ scope: m.scope, name: m.name });
  for (const row of [...patroniRows(m), ...ownRows(m), ...backupRows(m)]) {
    if (row.counter) {
      const c = e.counters.get(row.name)!;
      c.reset();
      if (row.value > 0) c.inc(row.value);
    } else e.gauges.get(row.name)!.set(row.value);
  }
  return e.registry.metrics();
}

/** Any input: the exporter makes its metrics from the rows' names and help texts. */
const SAMPLE_INPUT: MetricsInput = {
  scope: "",
  name: "",
  version: "0.0.0",
  now: 0,
  wallNow: 0,
  pg: { running: false },
  holdsLeader: false,
  activity: { loops: { buckets: [], sum: 0, count: 0 }, fences: 0, leaderChanges: 0 },
  renewalLatency: { buckets: [], sum: 0, count: 0 },
  renewalFailures: 0,
};

interface Row {
  name: string;
  help: string;
  value: number;
  counter?: boolean;
}

/** Patroni's metrics (Patroni 3's /metrics names and meanings). Pure. */
export function patroniRows(m: MetricsInput): Row[] {
  const pg = m.pg;
  const running = pg.running;
  const primary = running && pg.inRecovery === false;
  const replica = running && pg.inRecovery === true;
  const started = pg.postmasterStartTime ? Date.parse(pg.postmasterStartTime) : NaN;
  const syncStandby = replica && (m.cluster?.sync?.standbys.includes(m.name) ?? false);
  const standbyLeader = m.standbyLeader === true;
  return [
    {
      name: "patroni_version",
      help: "Agent version as Patroni encodes its own: major*10000 + minor*100 + patch.",
      value: versionNumber(m.version),
    },
    { name: "patroni_postgres_running", help: "Value is 1 if Postgres is running, 0 otherwise.", value: bit(running) },
    {
      name: "patroni_postmaster_start_time",
      help: "Epoch seconds since Postgres started.",
      value: running && Number.isFinite(started) ? started / 1000 : 0,
    },
    { name: "patroni_primary", help: "Value is 1 if this node is the leader, 0 otherwise.", value: bit(primary && m.holdsLeader) },
    { name: "patroni_replica", help: "Value is 1 if this node is a replica, 0 otherwise.", value: bit(replica && !standbyLeader) },
    { name: "patroni_standby_leader", help: "Value is 1 if this node is the standby_leader, 0 otherwise.", value: bit(standbyLeader) },
    { name: "patroni_sync_standby", help: "Value is 1 if this node is a sync standby replica, 0 otherwise.", value: bit(syncStandby) },
    {
      name: "patroni_xlog_location",
      help: "Current location of the Postgres transaction log, 0 if this node is not the leader.",
      value: primary ? (pg.lsn ?? 0) : 0,
    },
    {
      name: "patroni_xlog_received_location",
      help: "Current location of the received Postgres transaction log, 0 if this node is not a replica.",
      value: replica ? (pg.receiveLsn ?? 0) : 0,
    },
    {
      name: "patroni_xlog_replayed_location",
      help: "Current location of the replayed Postgres transaction log, 0 if this node is not a replica.",
      value: replica ? (pg.replayLsn ?? 0) : 0,
    },
    {
      name: "patroni_postgres_server_version",
      help: "Version of Postgres (if running), 0 otherwise.",
      value: running ? (pg.serverVersion ?? 0) : 0,
    },
    {
      name: "patroni_postgres_timeline",
      help: "Postgres timeline of this node (if running), 0 otherwise.",
      value: running ? (pg.timeline ?? 0) : 0,
    },
    { name: "patroni_timeline", help: "Same as patroni_postgres_timeline.", value: running ? (pg.timeline ?? 0) : 0 },
    {
      name: "patroni_cluster_unlocked",
      help: "Value is 1 if the cluster is unlocked (no leader key in the last etcd read, or etcd not read), 0 if locked.",
      value: bit(!m.cluster?.leader),
    },
    {
      name: "patroni_dcs_last_seen",
      help: "Epoch seconds when etcd was last read successfully.",
      value: m.activity.dcsSeenAt === undefined ? 0 : Math.floor((m.wallNow - (m.now - m.activity.dcsSeenAt)) / 1000),
    },
    // PostgreSQL's own view (pg_settings.pending_restart), as in the member key.
    {
      name: "patroni_pending_restart",
      help: "Value is 1 if the node needs a restart, 0 otherwise.",
      value: bit(running && pg.pendingRestart === true),
    },
    { name: "patroni_is_paused", help: "Value is 1 if auto failover is disabled, 0 otherwise.", value: bit(m.paused === true) },
  ];
}

/** What only this agent knows. Pure. */
export function ownRows(m: MetricsInput): Row[] {
  const a = m.activity;
  const lag = m.standbyLeader ? sourceLag(m.pg) : undefined;
  return [
    {
      name: "hapg_source_lag_bytes",
      help: "Standby leader: bytes of the source cluster's WAL not replayed yet, as of the source's last message (-1: unknown, archive-only, or not a standby leader).",
      value: lag?.bytes ?? -1,
    },
    {
      name: "hapg_source_lag_seconds",
      help: "Standby leader: seconds since the last replayed commit, 0 once everything the source sent is replayed (-1: unknown, or not a standby leader).",
      value: lag?.seconds ?? -1,
    },
    {
      name: "hapg_lease_renewal_failures_total",
      help: "etcd lease renewals that failed (unreachable, timed out, lease lost) since the agent started.",
      value: m.renewalFailures,
      counter: true,
    },
    {
      name: "hapg_fence_events_total",
      help: "Times this agent stopped PostgreSQL because its lease could expire before a renewal.",
      value: a.fences,
      counter: true,
    },
    {
      name: "hapg_leader_changes_total",
      help: "Times the leader key's holder differed from the one this agent saw before, since it started.",
      value: a.leaderChanges,
      counter: true,
    },
    {
      name: "hapg_seconds_since_last_decision",
      help: "Seconds since the HA decision last ran (-1 before the first).",
      value: a.lastDecisionAt === undefined ? -1 : Math.max(0, (m.now - a.lastDecisionAt) / 1000),
    },
  ];
}

/** Archiving (on the leader, from pg_stat_archiver; on a replica, what it keeps for the leader) and backups; zeros without a repository. Pure. */
export function backupRows(m: MetricsInput): Row[] {
  const a = m.backup?.archive;
  const claim = m.backup?.claim;
  const lastDone = claim?.state === "done" && claim.finished ? Date.parse(claim.finished) / 1000 : 0;
  return [
    {
      name: "hapg_archive_archived_total",
      help: "WAL files archived since statistics were reset (pg_stat_archiver, leader only).",
      value: a?.archived_count ?? 0,
      counter: true,
    },
    {
      name: "hapg_archive_failed_total",
      help: "Failed WAL archiving attempts (pg_stat_archiver, leader only).",
      value: a?.failed_count ?? 0,
      counter: true,
    },
    {
      name: "hapg_archive_last_archived_age_seconds",
      help: "Seconds since the last WAL file was archived (-1: none, or not the leader).",
      value: a?.age_seconds ?? -1,
    },
    {
      name: "hapg_archive_ready_segments",
      help: "WAL files kept in pg_wal until they are archived (a replica: until the leader has archived them).",
      value: a?.ready_count ?? 0,
    },
    {
      name: "hapg_archive_kept_for_leader_segments",
      help: "Replica: WAL files kept because the leader has not archived them yet (pushed by this member if promoted).",
      value: a?.kept_for_leader ?? 0,
    },
    {
      name: "hapg_archive_failing",
      help: "Value is 1 if the last archiving attempt failed, 0 otherwise.",
      value: bit(a?.problem !== undefined),
    },
    {
      name: "hapg_backup_running",
      help: "Value is 1 while this member takes a backup, 0 otherwise.",
      value: bit(m.backup?.running !== undefined),
    },
    {
      name: "hapg_backup_last_success_timestamp_seconds",
      help: "Epoch seconds when the cluster's last claimed backup finished successfully (0: unknown).",
      value: lastDone,
    },
  ];
}

/**
 * A histogram whose buckets the agent already counted (ha/activity.ts): prom-client's own Histogram
 * only counts what is observed through it, which would put the library on the renewal path.
 * Same shape as prom-client's metric objects, so the registry renders it like its own.
 */
function histogram(name: string, help: string, read: () => Buckets): Metric {
  const get = () => {
    const h = read();
    const values = [
      ...h.buckets.map((b) => ({ labels: { le: b.le === Infinity ? "+Inf" : b.le }, value: b.count, metricName: `${name}_bucket` })),
      { labels: {}, value: h.sum, metricName: `${name}_sum` },
      { labels: {}, value: h.count, metricName: `${name}_count` },
    ];
    return Promise.resolve({ name, help, type: "histogram", values, aggregator: "sum" });
  };
  return { name, help, type: "histogram", aggregator: "sum", get } as unknown as Metric;
}

function bit(b: boolean): number {
  return b ? 1 : 0;
}

/** "3.2.1" → 30201 (Patroni's patroni_version encoding); 0 when it is not a version. */
export function versionNumber(v: string): number {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(v);
  return m ? Number(m[1]) * 10000 + Number(m[2]) * 100 + Number(m[3]) : 0;
}
