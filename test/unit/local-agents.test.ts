/** The local cluster's agent configs: `--synchronous-mode` (or `--sync` / `--sync-strict`) reaches every agent. Pure, no processes. */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { validateAgentConfig } from "../../sidecar/contract/agent-config";
import { agentConfig, agentConfigJson } from "../../local/agents";
import { describeSyncMode, DEFAULTS, formatStatus, StatusReport } from "../../local/cluster";
import { checkOptions, computeLayout, LocalOptions, syncModeFromFlags } from "../../local/layout";
import { HA_DEFAULTS, type SynchronousMode } from "../../sidecar/contract/settings/schema";
import { readClusterFile, writeClusterFile } from "../../local/state";

const opts = (synchronousMode: SynchronousMode): LocalOptions => ({ ...DEFAULTS, dir: "/tmp/hapg-sync-x", synchronousMode });
const layout = computeLayout(opts("off"));

describe("local cluster agent config: synchronous mode", () => {
  it("is the settings schema's default (off), and the timing defaults are the schema's too", () => {
    assert.equal(DEFAULTS.synchronousMode, HA_DEFAULTS.synchronousMode);
    assert.deepEqual(
      [DEFAULTS.ttl, DEFAULTS.loopWait, DEFAULTS.retryTimeout],
      [HA_DEFAULTS.timing.ttl, HA_DEFAULTS.timing.loopWait, HA_DEFAULTS.timing.retryTimeout],
    );
    for (const n of layout.nodes) assert.equal(validateAgentConfig(agentConfig(layout, n, opts("off"))).synchronousMode, "off", n.name);
  });

  it("never uses a watchdog: the agents share one kernel and the fault suite freezes leaders on purpose", () => {
    for (const n of layout.nodes) assert.equal(validateAgentConfig(agentConfig(layout, n, opts("on"))).watchdog.mode, "off", n.name);
  });

  for (const mode of ["on", "strict"] as const) {
    it(`synchronous mode ${mode} reaches every node, in the JSON file the agent reads`, () => {
      for (const n of layout.nodes) assert.equal(validateAgentConfig(agentConfig(layout, n, opts(mode))).synchronousMode, mode, n.name);
      const parsed = JSON.parse(agentConfigJson(layout, layout.nodes[0], opts(mode))) as Record<string, unknown>;
      assert.equal(parsed.synchronousMode, mode);
      assert.ok(!("synchronousModeStrict" in parsed));
    });
  }

  it("maps the CLI flags to a mode: --synchronous-mode, or the shorthands --sync and --sync-strict", () => {
    assert.equal(syncModeFromFlags({}), "quorum", "synchronous (quorum commit, any 1 standby) by default");
    assert.equal(syncModeFromFlags({ async: true }), "off");
    assert.throws(() => syncModeFromFlags({ async: true, sync: true }), /--async contradicts --sync/);
    assert.equal(syncModeFromFlags({ sync: true }), "on");
    assert.equal(syncModeFromFlags({ syncStrict: true }), "strict");
    assert.equal(syncModeFromFlags({ sync: true, syncStrict: true }), "strict");
    for (const m of ["off", "on", "strict"]) assert.equal(syncModeFromFlags({ synchronousMode: m }), m);
    assert.equal(syncModeFromFlags({ synchronousMode: "on", sync: true }), "on");
    assert.throws(
      () => syncModeFromFlags({ synchronousMode: "true" }),
      /^Error: --synchronous-mode: "true" must be one of off, on, strict, quorum$/,
    );
    assert.throws(() => syncModeFromFlags({ synchronousMode: "off", sync: true }), /--synchronous-mode off contradicts --sync/);
  });

  it("refuses timing the agents would refuse, naming the flag", () => {
    const problems = checkOptions({ ...opts("off"), ttl: 3, loopWait: 2.5, retryTimeout: 0.25 });
    assert.ok(
      problems.some((p) => /^--ttl: 3 s leaves the leader less than one loopWait/.test(p)),
      problems.join("; "),
    );
    assert.ok(checkOptions({ ...opts("off"), loopWait: 0 }).some((p) => /^--loop-wait: must be above 0 seconds/.test(p)));
  });

  it("rejects an unknown mode from a programmatic caller, naming it", () => {
    const problems = checkOptions({ ...opts("off"), synchronousMode: "yes" as SynchronousMode });
    assert.ok(
      problems.some((p) => /^--synchronous-mode: must be "off", "on", "strict" or "quorum" \(default\), not "yes"/.test(p)),
      problems.join("; "),
    );
  });

  it("quorum mode: --synchronous-quorum must be between 1 and the replicas, and reaches every agent", () => {
    const quorum = { ...opts("off"), synchronousMode: "quorum" as const };
    assert.deepEqual(checkOptions({ ...quorum, nodes: 3, synchronousQuorum: 2 }), []);
    assert.ok(
      checkOptions({ ...quorum, nodes: 3, synchronousQuorum: 3 }).some((p) =>
        /^--synchronous-quorum: 3 is more than the 2 replica\(s\)/.test(p),
      ),
    );
    assert.ok(checkOptions({ ...quorum, synchronousQuorum: 0 }).some((p) => /^--synchronous-quorum: must be at least 1/.test(p)));
    for (const n of layout.nodes) {
      const config = validateAgentConfig(agentConfig(layout, n, { ...quorum, synchronousQuorum: 2 }));
      assert.deepEqual([config.synchronousMode, config.synchronousQuorum], ["quorum", 2], n.name);
    }
  });
});

describe("local cluster state: synchronous mode", () => {
  const base = {
    proxy: { host: "127.0.0.1", port: 1 },
    replicaProxy: { host: "127.0.0.1", port: 2 },
    dsn: "postgresql://x",
    etcd: [],
    nodes: [],
  };

  it("cluster.json records the mode; one written before --sync existed reads as off", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hapg-syncstate-"));
    try {
      writeClusterFile(dir, { ...base, synchronousMode: "strict" });
      assert.equal(JSON.parse(fs.readFileSync(path.join(dir, "cluster.json"), "utf8")).synchronousMode, "strict");
      assert.equal(readClusterFile(dir).synchronousMode, "strict");
      fs.writeFileSync(path.join(dir, "cluster.json"), JSON.stringify(base));
      assert.equal(readClusterFile(dir).synchronousMode, "off");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the status output shows the mode", () => {
    const report: StatusReport = {
      synchronousMode: "on",
      proxy: base.proxy,
      replicaProxy: base.replicaProxy,
      nodes: [],
      etcd: [],
      haproxy: { running: false },
    };
    const text = formatStatus(report);
    assert.ok(text.includes(`synchronous    ${describeSyncMode("on")}`), text);
    assert.match(describeSyncMode("strict"), /^strict .*writes block/);
    assert.match(describeSyncMode("off"), /^off \(asynchronous/);
  });
});
