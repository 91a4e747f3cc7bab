/** GET /metrics: Patroni's metric names and meanings, our own counters, and the histograms the agent counted itself. */
import assert from "node:assert/strict";
import { renderMetrics, versionNumber, type MetricsInput } from "../../sidecar/api/metrics";
import { BucketCounts, HaActivity } from "../../sidecar/ha/activity";
import { RenewalStats } from "../../sidecar/ha/renewal-stats";
import type { ClusterSnapshot } from "../../sidecar/dcs/types";

const LABELS = '{scope="demo",name="node1"}';

function cluster(leader: string | undefined, syncStandbys: string[] = []): ClusterSnapshot {
  return {
    revision: 7,
    initialize: "7300000000000000001",
    leader: leader ? { name: leader, leaseId: "1", modRevision: 3 } : undefined,
    members: [],
    sync: leader ? { leader, standbys: syncStandbys, modRevision: 4 } : undefined,
    corrupt: [],
  };
}

function input(over: Partial<MetricsInput>): MetricsInput {
  const activity = new HaActivity();
  return {
    scope: "demo",
    name: "node1",
    version: "1.2.3",
    now: 50_000,
    wallNow: 1_800_000_000_000,
    pg: { running: false },
    holdsLeader: false,
    cluster: cluster("node2"),
    activity: activity.summary(),
    renewalLatency: new RenewalStats().latencySeconds(),
    renewalFailures: 0,
    ...over,
  };
}

/** The value of one sample line, e.g. value(text, "patroni_primary"). */
function value(text: string, metric: string, labels = LABELS): number {
  const line = text.split("\n").find((l) => l.startsWith(`${metric}${labels} `));
  assert.ok(line, `no sample ${metric}${labels} in:\n${text}`);
  return Number(line.slice(line.lastIndexOf(" ") + 1));
}

describe("GET /metrics rendering", () => {
  it("a running leader: patroni_primary 1, its WAL position and timeline, the cluster locked", async () => {
    const text = await renderMetrics(
      input({
        holdsLeader: true,
        cluster: cluster("node1"),
        pg: {
          running: true,
          inRecovery: false,
          lsn: 0x3000060,
          timeline: 3,
          serverVersion: 170002,
          postmasterStartTime: "2026-11-27 14:00:00.5+00",
        },
      }),
    );
    assert.equal(value(text, "patroni_primary"), 1);
    assert.equal(value(text, "patroni_replica"), 0);
    assert.equal(value(text, "patroni_postgres_running"), 1);
    assert.equal(value(text, "patroni_xlog_location"), 0x3000060);
    assert.equal(value(text, "patroni_xlog_received_location"), 0);
    assert.equal(value(text, "patroni_postgres_timeline"), 3);
    assert.equal(value(text, "patroni_timeline"), 3);
    assert.equal(value(text, "patroni_postgres_server_version"), 170002);
    assert.equal(value(text, "patroni_postmaster_start_time"), Date.parse("2026-11-27T14:00:00.5Z") / 1000);
    assert.equal(value(text, "patroni_cluster_unlocked"), 0);
    assert.equal(value(text, "patroni_version"), 10203);
    assert.match(text, /# TYPE patroni_primary gauge/);
    assert.match(text, /# HELP patroni_primary Value is 1 if this node is the leader, 0 otherwise\./);
  });

  it("a streaming replica: patroni_replica 1, received and replayed positions, sync standby when the sync key names it", async () => {
    const pg = { running: true, inRecovery: true, lsn: 200, receiveLsn: 200, replayLsn: 150, timeline: 3 };
    const text = await renderMetrics(input({ pg, cluster: cluster("node2", ["node1"]) }));
    assert.equal(value(text, "patroni_primary"), 0);
    assert.equal(value(text, "patroni_replica"), 1);
    assert.equal(value(text, "patroni_xlog_location"), 0);
    assert.equal(value(text, "patroni_xlog_received_location"), 200);
    assert.equal(value(text, "patroni_xlog_replayed_location"), 150);
    assert.equal(value(text, "patroni_sync_standby"), 1);
    const notSync = await renderMetrics(input({ pg, cluster: cluster("node2", ["node3"]) }));
    assert.equal(value(notSync, "patroni_sync_standby"), 0);
  });

  it("a primary that does not hold the leader key is not patroni_primary; no leader key means unlocked", async () => {
    const text = await renderMetrics(
      input({ pg: { running: true, inRecovery: false, lsn: 10 }, holdsLeader: false, cluster: cluster(undefined) }),
    );
    assert.equal(value(text, "patroni_primary"), 0);
    assert.equal(value(text, "patroni_cluster_unlocked"), 1);
    assert.equal(value(await renderMetrics(input({ cluster: undefined })), "patroni_cluster_unlocked"), 1);
  });

  it("PostgreSQL stopped: running 0 and every position, timeline and start time 0; not paused, no restart pending", async () => {
    const text = await renderMetrics(input({ pg: { running: false } }));
    for (const m of ["patroni_postgres_running", "patroni_xlog_location", "patroni_postgres_timeline", "patroni_postmaster_start_time"]) {
      assert.equal(value(text, m), 0, m);
    }
    assert.equal(value(text, "patroni_pending_restart"), 0);
    assert.equal(value(text, "patroni_is_paused"), 0);
    assert.equal(value(text, "patroni_standby_leader"), 0);
  });

  it("a changed parameter waiting for a restart: patroni_pending_restart 1, as PostgreSQL reports it", async () => {
    const text = await renderMetrics(input({ pg: { running: true, inRecovery: true, pendingRestart: true } }));
    assert.equal(value(text, "patroni_pending_restart"), 1);
    assert.equal(
      value(await renderMetrics(input({ pg: { running: true, inRecovery: true, pendingRestart: false } })), "patroni_pending_restart"),
      0,
    );
  });

  it("our counters: renewal failures, fences, leader changes, seconds since the last decision, etcd last seen", async () => {
    const a = new HaActivity();
    a.clusterSeen(1_000, "node2");
    a.clusterSeen(2_000, undefined); // a vacancy is not a change
    a.clusterSeen(3_000, "node2");
    a.clusterSeen(4_000, "node3");
    a.clusterSeen(45_000, "node1");
    a.fenced();
    a.decided(48_500);
    const text = await renderMetrics(input({ activity: a.summary(), renewalFailures: 4, now: 50_000, wallNow: 1_800_000_000_000 }));
    assert.equal(value(text, "hapg_leader_changes_total"), 2);
    assert.equal(value(text, "hapg_fence_events_total"), 1);
    assert.equal(value(text, "hapg_lease_renewal_failures_total"), 4);
    assert.equal(value(text, "hapg_seconds_since_last_decision"), 1.5);
    assert.equal(value(text, "patroni_dcs_last_seen"), 1_799_999_995);
    assert.match(text, /# TYPE hapg_fence_events_total counter/);
    const fresh = await renderMetrics(input({}));
    assert.equal(value(fresh, "hapg_fence_events_total"), 0);
    assert.equal(value(fresh, "hapg_seconds_since_last_decision"), -1);
  });

  it("renewal latency and HA loop duration are Prometheus histograms: cumulative buckets, +Inf, sum and count", async () => {
    const stats = new RenewalStats();
    stats.renewed(0, 2); // 2 ms
    stats.renewed(1000, 30); // 30 ms
    stats.renewed(2000, 9000); // 9 s: past every bound
    const a = new HaActivity();
    a.loopFinished(20);
    const text = await renderMetrics(input({ renewalLatency: stats.latencySeconds(), activity: a.summary() }));
    assert.match(text, /# TYPE hapg_lease_renewal_seconds histogram/);
    assert.equal(value(text, "hapg_lease_renewal_seconds_bucket", '{le="0.001",scope="demo",name="node1"}'), 0);
    assert.equal(value(text, "hapg_lease_renewal_seconds_bucket", '{le="0.0025",scope="demo",name="node1"}'), 1);
    assert.equal(value(text, "hapg_lease_renewal_seconds_bucket", '{le="0.05",scope="demo",name="node1"}'), 2);
    assert.equal(value(text, "hapg_lease_renewal_seconds_bucket", '{le="5",scope="demo",name="node1"}'), 2);
    assert.equal(value(text, "hapg_lease_renewal_seconds_bucket", '{le="+Inf",scope="demo",name="node1"}'), 3);
    assert.equal(value(text, "hapg_lease_renewal_seconds_count"), 3);
    assert.ok(Math.abs(value(text, "hapg_lease_renewal_seconds_sum") - 9.032) < 1e-9);
    assert.equal(value(text, "hapg_ha_loop_duration_seconds_bucket", '{le="0.025",scope="demo",name="node1"}'), 1);
    assert.equal(value(text, "hapg_ha_loop_duration_seconds_count"), 1);
  });

  it("BucketCounts: a value on a bound falls in that bound's bucket", () => {
    const b = new BucketCounts([1, 2]);
    for (const v of [1, 1.5, 2, 3]) b.observe(v);
    assert.deepEqual(b.snapshot().buckets, [
      { le: 1, count: 1 },
      { le: 2, count: 3 },
      { le: Infinity, count: 4 },
    ]);
  });

  it("versionNumber encodes like Patroni's patroni_version", () => {
    assert.equal(versionNumber("3.2.1"), 30201);
    assert.equal(versionNumber("0.1.0"), 100);
    assert.equal(versionNumber("dev"), 0);
  });
});
