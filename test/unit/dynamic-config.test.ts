/**
 * The dynamic configuration (etcd's config key): the settings it stands for (checked by the one
 * settings schema, over a member's agent file), Patroni's merge, the convergence to a desired
 * document, the agent's live application (over the in-memory etcd and the modelled PostgreSQL), and
 * the flags of `hapg edit-config`.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import pino from "pino";
import { configDiff, patchFromFlags } from "../../sidecar/cli/config-edit";
import { DynamicConfigApplier } from "../../sidecar/dynamic/apply";
import { converge } from "../../sidecar/dynamic/converge";
import { DYNAMIC_KEYS, effectiveSettings, mergePatch } from "../../sidecar/contract/settings/dynamic";
import { LIVE_SETTING_RULES, liveSettings, liveSettingsTable, waitingForAgentRestart } from "../../sidecar/contract/settings/live";
import { HA_DEFAULTS, type HaSettings } from "../../sidecar/contract/settings/schema";
import { MemoryDcs, MemoryEtcd } from "../helpers/memory-dcs";

const BASE: HaSettings = { ...HA_DEFAULTS, postgres: { ...HA_DEFAULTS.postgres, parameters: { shared_buffers: "32MB", work_mem: "4MB" } } };

describe("dynamic config: the settings it stands for", () => {
  it("dynamic values win over the agent file's; parameters merge name by name", () => {
    const r = effectiveSettings(BASE, {
      loop_wait: 0.5,
      maximum_lag_on_failover: 0,
      synchronous_mode: "strict",
      postgresql: { parameters: { work_mem: "16MB" } },
    });
    assert.ok(r.ok);
    assert.equal(r.settings.timing.loopWait, 0.5);
    assert.equal(r.settings.timing.ttl, 4, "not in the dynamic config: the file's");
    assert.equal(r.settings.maximumLagOnFailover, 0);
    assert.equal(r.settings.synchronousMode, "strict");
    assert.deepEqual(r.settings.postgres.parameters, { shared_buffers: "32MB", work_mem: "16MB" });
  });

  it("reads Patroni's boolean synchronous_mode and synchronous_mode_strict", () => {
    const mode = (c: Record<string, unknown>) => {
      const r = effectiveSettings(BASE, c);
      return r.ok ? r.settings.synchronousMode : r.problems;
    };
    assert.equal(mode({ synchronous_mode: true }), "on");
    assert.equal(mode({ synchronous_mode: true, synchronous_mode_strict: true }), "strict");
    assert.equal(mode({ synchronous_mode: false }), "off");
  });

  it("an empty or absent document is the agent file's settings", () => {
    const r = effectiveSettings(BASE, undefined);
    assert.ok(r.ok);
    assert.deepEqual(r.settings.postgres.parameters, BASE.postgres.parameters);
  });

  it("quorum size and failsafe mode: Patroni's synchronous_node_count and failsafe_mode; absent, the file's values stay", () => {
    const file: HaSettings = { ...BASE, synchronousMode: "quorum", synchronousQuorum: 2, failsafeMode: false };
    const kept = effectiveSettings(file, { loop_wait: 0.5 });
    assert.ok(kept.ok);
    assert.equal(kept.settings.synchronousQuorum, 2, "not in the dynamic config: the file's, not the schema's default");
    assert.equal(kept.settings.failsafeMode, false, "not in the dynamic config: the file's, not the schema's default");
    const set = effectiveSettings(file, { synchronous_node_count: 1, failsafe_mode: true });
    assert.ok(set.ok);
    assert.equal(set.settings.synchronousQuorum, 1);
    assert.equal(set.settings.failsafeMode, true);
    const bad = effectiveSettings(file, { synchronous_node_count: 0 });
    assert.ok(!bad.ok);
    assert.match(bad.problems[0].field, /^synchronous_node_count \(synchronousQuorum\)/);
  });

  it("merge: objects recursively, null deletes, other values replace (Patroni's PATCH)", () => {
    assert.deepEqual(mergePatch({ a: 1, p: { x: 1, y: 2 } }, { a: null, p: { y: null, z: 3 }, b: { c: null, d: 1 } }), {
      p: { x: 1, z: 3 },
      b: { d: 1 },
    });
  });
});

describe("dynamic config: convergence to a desired document", () => {
  it("desired keys win, keys the desired document does not name are left alone", () => {
    const r = converge(
      { loop_wait: 0.5, pause: true, postgresql: { parameters: { work_mem: "8MB", temp_buffers: "16MB" } } },
      { loop_wait: 1, postgresql: { parameters: { work_mem: "32MB" } } },
      BASE,
    );
    assert.deepEqual(r.next, { loop_wait: 1, pause: true, postgresql: { parameters: { work_mem: "32MB", temp_buffers: "16MB" } } });
    assert.deepEqual(r.applied.sort(), ["loop_wait", "postgresql.parameters.work_mem"]);
    assert.deepEqual(r.refused, []);
  });

  it("nothing to do when the key already holds the desired values", () => {
    const r = converge({ ttl: 6, x: undefined } as never, { ttl: 6 }, BASE);
    assert.equal(r.changed, false);
  });

  it("a value the schema refuses is reported and not written; the others are", () => {
    const r = converge(
      { postgresql: { parameters: { work_mem: "8MB" } } },
      { ttl: 1, postgresql: { parameters: { port: 6000, work_mem: "32MB" } }, pause: false },
      BASE,
    );
    assert.deepEqual(r.next, { postgresql: { parameters: { work_mem: "32MB" } } });
    assert.deepEqual(r.applied, ["postgresql.parameters.work_mem"]);
    const fields = r.refused.map((p) => p.field).sort();
    assert.deepEqual(fields, ["pause", "postgresql.parameters.port", "ttl"]);
    assert.match(r.refused.find((p) => p.field === "ttl")!.message, /smallest useful lease/);
    assert.match(r.refused.find((p) => p.field === "pause")!.message, /hapg pause/);
  });

  it("timing values that are valid only together are taken together", () => {
    const r = converge({}, { ttl: 10, loop_wait: 3, retry_timeout: 3 }, BASE);
    assert.deepEqual(r.refused, []);
    assert.deepEqual(r.next, { ttl: 10, loop_wait: 3, retry_timeout: 3 });
  });
});

describe("dynamic config: applied live by the agent", () => {
  const log = pino({ level: "silent" });

  function setup(desired?: Record<string, unknown>) {
    const dcs = new MemoryDcs(new MemoryEtcd(() => 0), "/service/t/");
    const calls: string[] = [];
    let pending: string[] = [];
    const pg = {
      setParameters: async (p: Readonly<Record<string, unknown>>) => {
        calls.push(JSON.stringify(p));
        if (p.shared_buffers !== "32MB") pending = ["shared_buffers"];
        return true;
      },
      pendingRestartParameters: async () => pending,
    };
    let loopWait = 0;
    let now = 0;
    const applier = new DynamicConfigApplier({
      name: "a",
      base: BASE,
      started: BASE,
      dcs,
      pg,
      log,
      now: () => now,
      wallNow: () => Date.parse("2026-11-27T16:00:00Z"),
      desired: desired && { where: "test", read: async () => desired },
      desiredIntervalMs: 60_000,
      onLoopWait: (ms) => (loopWait = ms),
    });
    return { dcs, applier, calls, loopWait: () => loopWait, tick: (ms: number) => (now += ms) };
  }

  it("lag limit and synchronous mode reach the next decision; loop_wait the next loop", async () => {
    const { dcs, applier, loopWait } = setup();
    await dcs.attemptWriteConfig({ maximum_lag_on_failover: 0, synchronous_mode: "off", loop_wait: 0.5 }, undefined);
    applier.observe(await dcs.load());
    const self = applier.self({ maximumLagOnFailover: 1, synchronousMode: "on" } as never);
    assert.equal(self.maximumLagOnFailover, 0);
    assert.equal(self.synchronousMode, "off");
    assert.equal(applier.loopWaitMs(), 500);
    assert.equal(loopWait(), 500, "the lease keeper is told");
  });

  it("parameters: reloaded, and a restart-only one reported pending (member key and /patroni)", async () => {
    const { dcs, applier, calls } = setup();
    await dcs.attemptWriteConfig({ postgresql: { parameters: { work_mem: "64MB", shared_buffers: "128MB" } } }, undefined);
    applier.observe(await dcs.load());
    await applier.afterLoop(false, true);
    assert.deepEqual(JSON.parse(calls[0]), { shared_buffers: "128MB", work_mem: "64MB" });
    assert.deepEqual(applier.pendingRestart, ["shared_buffers"]);
    assert.deepEqual(applier.status().pending_restart, ["shared_buffers"]);
    await applier.afterLoop(false, true);
    assert.equal(calls.length, 1, "applied once");
  });

  it("ttl and retry_timeout wait for an agent restart; a loop_wait the running ttl cannot take too", async () => {
    const { dcs, applier } = setup();
    await dcs.attemptWriteConfig({ ttl: 10, retry_timeout: 3, loop_wait: 3 }, undefined);
    applier.observe(await dcs.load());
    assert.deepEqual(applier.pendingAgentRestart(), ["ttl", "retry_timeout", "loop_wait"]);
    assert.equal(applier.loopWaitMs(), 1000, "the running profile (ttl 4) cannot take loop_wait 3");
  });

  it("failsafe_mode changed in etcd waits for the agent's restart, and /patroni says so", async () => {
    const { dcs, applier } = setup();
    await dcs.attemptWriteConfig({ failsafe_mode: !BASE.failsafeMode }, undefined);
    applier.observe(await dcs.load());
    assert.deepEqual(applier.pendingAgentRestart(), ["failsafe_mode"]);
    assert.deepEqual(applier.status().pending_agent_restart, ["failsafe_mode"]);
  });

  it("a config key the schema refuses changes nothing: the last accepted settings stay, and it says why", async () => {
    const { dcs, applier } = setup();
    await dcs.attemptWriteConfig({ maximum_lag_on_failover: 5 }, undefined);
    applier.observe(await dcs.load());
    await dcs.attemptWriteConfig({ maximum_lag_on_failover: -5 }, (await dcs.load()).configModRevision);
    applier.observe(await dcs.load());
    assert.equal(applier.effective.maximumLagOnFailover, 5);
    assert.match(String(applier.status().refused), /maximum_lag_on_failover/);
  });

  it("pause: true in the key is maintenance mode", async () => {
    const { dcs, applier } = setup();
    await dcs.attemptWriteConfig({ pause: true }, undefined);
    applier.observe(await dcs.load());
    assert.equal(applier.isPaused, true);
  });

  it("the leader converges the key to the desired document at once, then every interval; a replica never", async () => {
    const { dcs, applier, tick } = setup({ postgresql: { parameters: { work_mem: "32MB", port: 1 } } });
    const lease = await dcs.grantLease(30);
    await dcs.attemptAcquireLeader("b", lease);
    await applier.afterLoop(false, true);
    await new Promise((r) => setImmediate(r));
    assert.equal((await dcs.load()).config, undefined, "not the leader: not read, not written");
    await dcs.releaseLeader("b");
    await dcs.attemptAcquireLeader("a", lease);
    await applier.afterLoop(true, true);
    await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual((await dcs.load()).config, { postgresql: { parameters: { work_mem: "32MB" } } });
    const s = applier.status().desired!;
    assert.deepEqual(s.applied, ["postgresql.parameters.work_mem"]);
    assert.deepEqual(
      s.refused.map((p) => p.field),
      ["postgresql.parameters.port"],
    );
    // An operator changes a desired key: the next convergence (after the interval) puts it back.
    await dcs.attemptWriteConfig({ postgresql: { parameters: { work_mem: "1MB" } }, pause: true }, (await dcs.load()).configModRevision);
    await applier.afterLoop(true, true);
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(((await dcs.load()).config!.postgresql as { parameters: { work_mem: string } }).parameters.work_mem, "1MB", "not due yet");
    tick(60_000);
    await applier.afterLoop(true, true);
    await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual((await dcs.load()).config, { postgresql: { parameters: { work_mem: "32MB" } }, pause: true });
  });

  it("an unreadable desired source leaves the key alone and says so", async () => {
    const { dcs, applier } = setup();
    const failing = new DynamicConfigApplier({
      ...(applier as unknown as { d: ConstructorParameters<typeof DynamicConfigApplier>[0] }).d,
      desired: { where: "ssm:/x", read: async () => Promise.reject(new Error("AccessDenied")) },
    });
    const lease = await dcs.grantLease(30);
    await dcs.attemptAcquireLeader("a", lease);
    await failing.afterLoop(true, true);
    await new Promise((r) => setTimeout(r, 10));
    assert.equal((await dcs.load()).config, undefined);
    assert.match(failing.status().desired!.error!, /AccessDenied/);
  });
});

describe("hapg edit-config: flags and diff", () => {
  it("--set and --pg build one PATCH body; values are YAML scalars; null deletes", () => {
    assert.deepEqual(patchFromFlags(["loop_wait=2", "pause=null", "synchronous_mode=on"], ["work_mem=8MB", "max_connections=200"]), {
      loop_wait: 2,
      pause: null,
      synchronous_mode: "on",
      postgresql: { parameters: { work_mem: "8MB", max_connections: 200 } },
    });
    assert.deepEqual(patchFromFlags(["postgresql.parameters.auto_explain.log_min_duration=250ms"], []), {
      postgresql: { parameters: { "auto_explain.log_min_duration": "250ms" } },
    });
  });

  const bad: [string[], string[], RegExp][] = [
    [["loop_wait"], [], /--set "loop_wait": write NAME=VALUE/],
    [["=2"], [], /--set "=2": write NAME=VALUE/],
    [["loop wait=2"], [], /"loop wait" is not a key name/],
    [[], ["work_mem"], /--pg "work_mem": write NAME=VALUE, e\.g\. --pg work_mem=8MB/],
    [["ttl=[1,2]"], [], /a single value, not a list or map/],
  ];
  for (const [sets, pgs, message] of bad) {
    it(`refuses ${[...sets, ...pgs].join(" ")}, naming the flag`, () => {
      assert.throws(
        () => patchFromFlags(sets, pgs),
        (e: Error) => e.name === "FlagError" && message.test(e.message),
      );
    });
  }

  it("shows the change as a line diff of the YAML", () => {
    const diff = configDiff({ loop_wait: 1, ttl: 4 }, { loop_wait: 2, ttl: 4 });
    assert.deepEqual(diff, ["-loop_wait: 1", "+loop_wait: 2", " ttl: 4"]);
    assert.ok(configDiff({ ttl: 4 }, { ttl: 4 }).every((l) => l.startsWith(" ")));
  });
});

describe("dynamic config: one table says when each setting applies", () => {
  it("has a row for every dynamic key, and the docs print it as it is", () => {
    assert.deepEqual(LIVE_SETTING_RULES.map((r) => r.key).sort(), [...DYNAMIC_KEYS].sort());
    const docs = readFileSync(resolve(__dirname, "../../../docs/operations.md"), "utf8");
    assert.ok(
      docs.includes(liveSettingsTable()),
      "docs/operations.md: paste liveSettingsTable() (sidecar/contract/settings/live.ts) as printed",
    );
  });

  it("the next-loop settings are the decision's overlay; the agent-restart ones are what /patroni lists as pending", () => {
    const changed = { ...BASE, maximumLagOnFailover: 7, synchronousMode: "off" as const, failsafeMode: !BASE.failsafeMode };
    assert.deepEqual(liveSettings(changed), { maximumLagOnFailover: 7, synchronousMode: "off", synchronousQuorum: BASE.synchronousQuorum });
    assert.deepEqual(waitingForAgentRestart(changed, BASE), ["failsafe_mode"]);
    assert.deepEqual(waitingForAgentRestart({ ...BASE, timing: { ...BASE.timing, ttl: 9 } }, BASE), ["ttl"]);
  });
});
