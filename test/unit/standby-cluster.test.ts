/**
 * A standby cluster's settings (etcd's standby_cluster, checked by the settings schema), its role in
 * the API (Patroni's /standby-leader, /leader, /cluster's standby_leader) and member key, its lag
 * behind the source, and its metrics.
 */
import assert from "node:assert/strict";
import { clusterBody, evaluateHealth, type HealthState } from "../../sidecar/api/health";
import { renderMetrics, type MetricsInput } from "../../sidecar/api/metrics";
import { effectiveSettings } from "../../sidecar/contract/settings/dynamic";
import { LIVE_SETTING_RULES } from "../../sidecar/contract/settings/live";
import { HA_DEFAULTS } from "../../sidecar/contract/settings/schema";
import { renderPostgresqlConf } from "../../sidecar/postgres/conf";
import { HaActivity } from "../../sidecar/ha/activity";
import { memberData, sourceLag } from "../../sidecar/ha/member";
import { RenewalStats } from "../../sidecar/ha/renewal-stats";
import type { PgStatus } from "../../sidecar/postgres/types";
import { member, NOW, selfOf, threeMembers } from "../helpers/ha-fixtures";
import { MemoryDcs, MemoryEtcd } from "../helpers/memory-dcs";
import { DynamicConfigApplier } from "../../sidecar/dynamic/apply";
import { bootstrapSchema } from "../../sidecar/contract/restore-config";
import { decide } from "../../sidecar/ha/decide";
import pino from "pino";
import { listJson, listText } from "../../sidecar/cli/ops-render";

describe("standby_cluster in the dynamic configuration", () => {
  it("Patroni's keys are accepted, with their defaults", () => {
    const r = effectiveSettings(HA_DEFAULTS, {
      standby_cluster: { host: "10.1.0.10", primary_slot_name: "dr", restore_command: 'get %f "%p"', recovery_min_apply_delay: "5min" },
    });
    assert.ok(r.ok);
    assert.deepEqual(r.settings.standbyCluster, {
      host: "10.1.0.10",
      port: 5432,
      primary_slot_name: "dr",
      restore_command: 'get %f "%p"',
      recovery_min_apply_delay: "5min",
      create_replica_methods: ["basebackup"],
    });
    const none = effectiveSettings(HA_DEFAULTS, {});
    assert.ok(none.ok && none.settings.standbyCluster === undefined);
  });

  const refused: [string, unknown, string, RegExp][] = [
    ["neither a host nor an archive", { port: 5432 }, "standby_cluster", /needs host .* or restore_command/],
    ["a port out of range", { host: "db", port: 70000 }, "standby_cluster.port", /between 1 and 65535/],
    ["a slot name PostgreSQL refuses", { host: "db", primary_slot_name: "DR-1" }, "standby_cluster.primary_slot_name", /lower-case/],
    ["a restore_command without %f/%p", { restore_command: "cp x y" }, "standby_cluster.restore_command", /%f/],
    [
      "a replica method we cannot run",
      { host: "db", create_replica_methods: ["wal_e"] },
      "standby_cluster.create_replica_methods.0",
      /basebackup/,
    ],
    ["an unknown key", { host: "db", hots: "x" }, "standby_cluster", /hots/],
    ["a host with a space", { host: "a b" }, "standby_cluster.host", /separated by commas/],
  ];
  for (const [what, value, field, message] of refused) {
    it(`refuses ${what}, naming the field`, () => {
      const r = effectiveSettings(HA_DEFAULTS, { standby_cluster: value });
      assert.ok(!r.ok);
      const p = r.problems.find((x) => x.field === field);
      assert.ok(p, JSON.stringify(r.problems));
      assert.match(p.message, message);
    });
  }

  it("applies at the next loop (the live-settings table)", () => {
    const rule = LIVE_SETTING_RULES.find((r) => r.key === "standby_cluster");
    assert.equal(rule?.appliesAt, "next-loop");
    assert.equal(rule?.live, "standbyCluster");
  });
});

const standbyLeaderPg: PgStatus = {
  running: true,
  inRecovery: true,
  lsn: 9000,
  receiveLsn: 9000,
  replayLsn: 8000,
  upstreamEndLsn: 9500,
  replayAgeS: 2.5,
  streaming: true,
};

describe("the standby leader in the API, the member key and /metrics", () => {
  const sl: HealthState = {
    pg: standbyLeaderPg,
    holdsLeader: true,
    leaseValid: true,
    standbyLeader: true,
    noloadbalance: false,
    loopAgeMs: 100,
    ttlMs: 4000,
  };
  const replica: HealthState = { ...sl, holdsLeader: false, standbyLeader: false };
  const status = (path: string, s: HealthState) => evaluateHealth(path, new URLSearchParams(), s).status;

  it("answers as Patroni's: /standby-leader, /leader and /read-only 200; /primary and /replica 503", () => {
    assert.deepEqual(
      ["/standby-leader", "/standby_leader", "/leader", "/read-only", "/primary", "/replica", "/read-write"].map((p) => status(p, sl)),
      [200, 200, 200, 200, 503, 503, 503],
    );
    assert.deepEqual(
      ["/standby-leader", "/leader", "/replica"].map((p) => status(p, replica)),
      [503, 503, 200],
    );
    assert.equal(status("/standby-leader", { ...sl, leaseValid: false }), 503);
  });

  it("lag behind the source: bytes from the source's last message, seconds since the last replayed commit", () => {
    assert.deepEqual(sourceLag(standbyLeaderPg), { streaming: true, source_lsn: 9500, bytes: 1500, seconds: 2.5 });
    // Caught up with everything the source sent: 0 s, however old the last commit (an idle source).
    assert.deepEqual(sourceLag({ ...standbyLeaderPg, replayLsn: 9500, replayAgeS: 600 }), {
      streaming: true,
      source_lsn: 9500,
      bytes: 0,
      seconds: 0,
    });
    // Archive-only: no stream to say where the source is; seconds only.
    assert.deepEqual(sourceLag({ ...standbyLeaderPg, streaming: false }), { streaming: false, seconds: 2.5 });
  });

  it("the member key says standby_leader and carries the lag; /cluster shows it as Patroni's role", () => {
    const id = {
      pgConnect: { host: "10.0.0.1", port: 5432 },
      apiConnect: { host: "10.0.0.1", port: 8008 },
      tags: { nofailover: false, noloadbalance: false, failoverPriority: 1 },
    };
    const local = { dataDir: { initialized: true, standbySignal: true }, pg: standbyLeaderPg, process: "running" as const };
    const data = memberData(id, local, { standbyLeader: true });
    assert.equal(data.role, "standby_leader");
    assert.deepEqual(data.source_lag, { streaming: true, source_lsn: 9500, bytes: 1500, seconds: 2.5 });
    assert.equal(memberData(id, local).role, "replica");
    const body = clusterBody("dr", threeMembers({ members: [member("a", "standby_leader", 5432, { source_lag: data.source_lag })] }));
    assert.equal(body.members[0].role, "standby_leader");
    assert.deepEqual(body.members[0].source_lag, data.source_lag);
  });

  it("/metrics: patroni_standby_leader 1 (not a replica), hapg_source_lag_bytes and _seconds", async () => {
    const input: MetricsInput = {
      scope: "dr",
      name: "node1",
      version: "1.0.0",
      now: 1000,
      wallNow: 1_800_000_000_000,
      pg: standbyLeaderPg,
      holdsLeader: true,
      standbyLeader: true,
      activity: new HaActivity().summary(),
      renewalLatency: new RenewalStats().latencySeconds(),
      renewalFailures: 0,
    };
    const text = await renderMetrics(input);
    const value = (m: string) => Number(/ (\S+)$/.exec(text.split("\n").find((l) => l.startsWith(`${m}{`))!)![1]);
    assert.equal(value("patroni_standby_leader"), 1);
    assert.equal(value("patroni_replica"), 0);
    assert.equal(value("hapg_source_lag_bytes"), 1500);
    assert.equal(value("hapg_source_lag_seconds"), 2.5);
    const plain = await renderMetrics({ ...input, standbyLeader: false, holdsLeader: false });
    assert.match(plain, /hapg_source_lag_bytes\{[^}]*\} -1/);
  });
});

describe("PostgreSQL's config towards the source", () => {
  it("several hosts: connect to the writable one; no slot unless named", () => {
    const text = renderPostgresqlConf({
      dataDir: "/d",
      socketDir: "/s",
      listen: { host: "127.0.0.1", port: 5432 },
      parameters: {},
      timing: { replicationTimeoutMs: 5000 } as never,
      memberName: "node1",
      standby: {
        upstream: { host: "a,b", port: 5432 },
        replicationUser: "replicator",
        passfile: "/p",
        slotName: undefined,
        readWrite: true,
        applicationName: "standby-cluster/node1",
      },
      standbyCluster: { restore_command: 'get %f "%p"', recovery_min_apply_delay: "5min" },
    });
    assert.match(text, /primary_conninfo = '.*host=''a,b'' .*target_session_attrs=''read-write''/);
    assert.doesNotMatch(text, /primary_slot_name/);
    // Not the member's name: the source's synchronous_standby_names must never count this server as its own member.
    assert.match(text, /application_name=''standby-cluster\/node1''/);
    assert.match(text, /restore_command = 'get %f "%p"'/);
    assert.match(text, /recovery_min_apply_delay = '5min'/);
  });
});

describe("bootstrap.standbyCluster (Patroni's bootstrap.dcs.standby_cluster)", () => {
  const SB = { host: "10.9.0.1", port: 5432, create_replica_methods: ["basebackup" as const] };

  function applier(dcs: MemoryDcs) {
    return new DynamicConfigApplier({
      name: "a",
      base: HA_DEFAULTS,
      started: HA_DEFAULTS,
      dcs,
      pg: { setParameters: async () => false, pendingRestartParameters: async () => [] },
      log: pino({ level: "silent" }),
      now: () => 0,
      wallNow: () => 0,
      desiredIntervalMs: 60_000,
      standbyAtBootstrap: SB,
    });
  }

  it("goes into etcd's config key before the cluster exists, and never again once it does (promotion is final)", async () => {
    const dcs = new MemoryDcs(new MemoryEtcd(() => 0), "/service/t/");
    await dcs.attemptWriteConfig({ loop_wait: 1 }, undefined);
    const a = applier(dcs);
    a.observe(await dcs.load());
    assert.equal(a.self(selfOf("a")).bootstrapStandby, SB);
    await a.afterLoop(false, false);
    assert.deepEqual((await dcs.load()).config, { loop_wait: 1, standby_cluster: SB });
    // The cluster exists and was promoted (the key removed): nothing puts it back.
    await dcs.attemptInitialize("7000");
    const promoted = await dcs.load();
    await dcs.attemptWriteConfig({ loop_wait: 1 }, promoted.configModRevision);
    a.observe(await dcs.load());
    await a.afterLoop(true, true);
    assert.deepEqual((await dcs.load()).config, { loop_wait: 1 });
  });

  it("row SB0: no initdb while the key is not in etcd yet", () => {
    const d = decide({
      now: NOW,
      self: { ...selfOf("a"), bootstrapStandby: SB },
      cluster: threeMembers({ initialize: undefined, leader: undefined, members: [] }),
      local: { dataDir: { initialized: false, standbySignal: false }, pg: { running: false }, process: "stopped" },
      memory: {},
      peers: [],
    });
    assert.deepEqual(d.actions, []);
    assert.match(d.reason, /waiting until standby_cluster is in etcd's config key/);
  });

  it("the agent config refuses it together with fromBackup, naming the field", () => {
    const r = bootstrapSchema.safeParse({
      standbyCluster: { host: "db" },
      fromBackup: { repo: { bucket: "dr-backups" }, stanza: "main" },
    });
    assert.ok(!r.success);
    assert.deepEqual(r.error.issues[0].path, ["standbyCluster"]);
    assert.match(r.error.issues[0].message, /not both/);
    assert.ok(bootstrapSchema.safeParse({ standbyCluster: { host: "db", port: 6432 } }).success);
  });
});

describe("hapg list of a standby cluster", () => {
  it("shows the standby leader as Patroni does and a line with the lag behind the source", () => {
    const view = {
      scope: "dr",
      members: [
        {
          name: "a",
          role: "standby_leader",
          state: "running",
          host: "10.0.0.1",
          port: 5432,
          source_lag: { streaming: true, bytes: 1500, seconds: 2.5 },
        },
        { name: "b", role: "replica", state: "streaming", host: "10.0.0.2", port: 5432, lag: 0 },
      ],
    };
    const j = listJson(view, { standby_cluster: { host: "10.9.0.1", port: 6432, restore_command: "get %f %p" } });
    assert.equal(j.leader, "a");
    assert.equal(j.members[0].role, "Standby Leader");
    assert.equal(j.members[0].lag, null);
    assert.deepEqual(j.standby, { source: "10.9.0.1:6432 + archive", lag_bytes: 1500, lag_seconds: 2.5, streaming: true });
    assert.match(listText(j), /Standby cluster of 10\.9\.0\.1:6432 \+ archive: 1500 bytes, 2\.5 s behind the source \(streaming\)/);
    assert.equal(listJson(view, {}).standby, undefined);
  });
});
