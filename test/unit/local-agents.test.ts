/** The local cluster's agent configs: `--sync` / `--sync-strict` reach every agent. Pure, no processes. */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { validateAgentConfig } from "../../sidecar/config/schema";
import { agentConfig, renderAgentConfig } from "../../sidecar/local/agents";
import { describeSyncMode, DEFAULTS, formatStatus, StatusReport } from "../../sidecar/local/cluster";
import { checkOptions, computeLayout, LocalOptions, SyncMode, syncModeFromFlags } from "../../sidecar/local/layout";
import { readClusterFile, writeClusterFile } from "../../sidecar/local/state";

const opts = (synchronousMode: SyncMode): LocalOptions => ({ ...DEFAULTS, dir: "/tmp/hapg-sync-x", synchronousMode });
const layout = computeLayout(opts("off"));

describe("local cluster agent config: synchronous mode", () => {
  it("is off by default: both switches false", () => {
    assert.equal(DEFAULTS.synchronousMode, "off");
    for (const n of layout.nodes) {
      const c = validateAgentConfig(agentConfig(layout, n, opts("off")));
      assert.deepEqual([c.synchronousMode, c.synchronousModeStrict], [false, false], n.name);
    }
  });

  it("never uses a watchdog: the agents share one kernel and the fault suite freezes leaders on purpose", () => {
    for (const n of layout.nodes) assert.equal(validateAgentConfig(agentConfig(layout, n, opts("on"))).watchdog.mode, "off", n.name);
  });

  it("--sync: synchronousMode on every node, not strict", () => {
    for (const n of layout.nodes) {
      const c = validateAgentConfig(agentConfig(layout, n, opts("on")));
      assert.deepEqual([c.synchronousMode, c.synchronousModeStrict], [true, false], n.name);
    }
  });

  it("--sync-strict: both switches on every node", () => {
    for (const n of layout.nodes) {
      const c = validateAgentConfig(agentConfig(layout, n, opts("strict")));
      assert.deepEqual([c.synchronousMode, c.synchronousModeStrict], [true, true], n.name);
    }
  });

  it("writes the switches into the JSON file the agent reads", () => {
    const parsed = JSON.parse(renderAgentConfig(layout, layout.nodes[0], opts("strict"))) as Record<string, unknown>;
    assert.equal(parsed.synchronousMode, true);
    assert.equal(parsed.synchronousModeStrict, true);
    const off = JSON.parse(renderAgentConfig(layout, layout.nodes[0], opts("off"))) as Record<string, unknown>;
    assert.deepEqual([off.synchronousMode, off.synchronousModeStrict], [false, false]);
  });

  it("maps the CLI flags to a mode: --sync-strict implies --sync", () => {
    assert.equal(syncModeFromFlags({}), "off");
    assert.equal(syncModeFromFlags({ sync: true }), "on");
    assert.equal(syncModeFromFlags({ syncStrict: true }), "strict");
    assert.equal(syncModeFromFlags({ sync: true, syncStrict: true }), "strict");
  });

  it("rejects an unknown mode from a programmatic caller, naming it", () => {
    const problems = checkOptions({ ...opts("off"), synchronousMode: "yes" as SyncMode });
    assert.ok(problems.some((p) => /^synchronousMode: "yes" must be one of off, on, strict/.test(p)), problems.join("; "));
  });
});

describe("local cluster state: synchronous mode", () => {
  const base = { proxy: { host: "127.0.0.1", port: 1 }, replicaProxy: { host: "127.0.0.1", port: 2 }, dsn: "postgresql://x", etcd: [], nodes: [] };

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
    const report: StatusReport = { synchronousMode: "on", proxy: base.proxy, replicaProxy: base.replicaProxy, nodes: [], etcd: [], haproxy: { running: false } };
    const text = formatStatus(report);
    assert.ok(text.includes(`synchronous    ${describeSyncMode("on")}`), text);
    assert.match(describeSyncMode("strict"), /^strict .*writes block/);
    assert.match(describeSyncMode("off"), /^off \(asynchronous/);
  });
});
