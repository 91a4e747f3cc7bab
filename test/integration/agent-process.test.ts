/**
 * The agent process itself: a bad config is refused with the field named and nothing started; the
 * agent refuses root; an agent killed and restarted adopts its running postmaster (no second
 * start, no failover) and rebinds the leader key to its new lease.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { localDown, localUp } from "../../sidecar/local/cluster";
import { tempClusterDir } from "../../sidecar/local/demo";
import { postmasterPid, restartNode, waitAgentGone } from "../../sidecar/local/faults";
import { waitProxyWritable } from "../../sidecar/local/health";
import { ClusterFile, fetchCluster, findNode, readClusterFile } from "../../sidecar/local/state";
import { nodeDsn } from "../helpers/node-dsn";
import { eventually, query } from "../helpers/pg-client";

const CLI = path.resolve(__dirname, "../../sidecar/cli/main.js");
const BASE_PORT = 30000;

function runCli(args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 20_000 });
}

describe("hapg agent (process)", function () {
  this.timeout(180_000);

  it("refuses a bad config with the field and the fix, and starts nothing", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hapg-badcfg-"));
    try {
      const file = path.join(dir, "agent.yaml");
      fs.writeFileSync(
        file,
        [
          "cluster: main",
          "name: node1",
          "etcd: { endpoints: ['127.0.0.1:2379'] }",
          "postgres: { dataDir: data }",
          "timing: { ttl: 1 }",
          "synchronousModeStrict: true",
        ].join("\n"),
      );
      const r = runCli(["agent", "--config", file]);
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, /etcd\.endpoints\.0: must be an http:\/\/ or https:\/\/ URL such as http:\/\/127\.0\.0\.1:2379/);
      assert.match(r.stderr, /timing\.ttl: etcd's smallest useful lease is about 2 s: use at least 2/);
      assert.match(
        r.stderr,
        /synchronousModeStrict: unknown field: strict is now a synchronous mode: remove it and set synchronousMode: "strict"/,
      );
      assert.match(r.stderr, /postgres\.superuser: is required/);
      assert.match(r.stderr, /api: is required/);
      assert.deepEqual(fs.readdirSync(dir), ["agent.yaml"], "nothing was created");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  describe("restart of a live node's agent", () => {
    let dir: string;
    let c: ClusterFile;
    before(async function () {
      dir = tempClusterDir("hapg-itest-agent-");
      c = await localUp({ dir, nodes: 2, etcd: 1, basePort: BASE_PORT, timeoutMs: 150_000 });
    });
    after(async function () {
      await localDown(dir).catch((e) => console.error(`localDown: ${(e as Error).message}`));
      fs.rmSync(path.dirname(dir), { recursive: true, force: true });
    });

    it("refuses to run as root, naming the fix", function () {
      if (process.getuid?.() !== 0) this.skip();
      const r = runCli(["agent", "--config", path.join(dir, "node1", "agent.json")]);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /must not run as root.*run it as the postgres OS user/);
    });

    it("kill -9 of the leader's agent alone, restarted within ttl: adopts the postmaster and keeps leading", async () => {
      const before = await fetchCluster(c);
      const leader = before!.members.find((m) => m.role === "leader")!.name;
      const node = findNode(c, leader);
      const pm = postmasterPid(node.dataDir);
      process.kill(node.agentPid, "SIGKILL");
      await waitAgentGone(dir, leader, 5000);
      restartNode(dir, leader);
      c = readClusterFile(dir);
      await eventually("the restarted agent reports the cluster", 20_000, async () => {
        const now = await fetchCluster(c);
        const m = now?.members.find((x) => x.name === leader);
        return m?.role === "leader" && now!.members.every((x) => x.role === "leader" || x.state === "streaming") ? true : undefined;
      });
      assert.equal(postmasterPid(node.dataDir), pm, "the same postmaster kept running: adopted, not restarted");
      await waitProxyWritable(c.dsn, 20_000);
      await query(c.dsn, "CREATE TABLE IF NOT EXISTS adopt_test (x int)");
      // Past the old lease's ttl the key must still be ours: it was rebound to the new lease.
      await new Promise((r) => setTimeout(r, 6000));
      const after = await fetchCluster(c);
      assert.equal(after!.members.find((m) => m.role === "leader")?.name, leader);
      const log = fs.readFileSync(path.join(dir, leader, "agent.log"), "utf8");
      assert.match(log, /adopted the running postmaster instead of starting another/);
      assert.match(log, /rebinding/);
    });

    it("the restarted leader's agent keeps PostgreSQL's synchronous wait through a reload", async () => {
      const now = await fetchCluster(c);
      const leader = now!.members.find((m) => m.role === "leader")!.name;
      const ssn = async () =>
        (await query<{ v: string }>(nodeDsn(c, findNode(c, leader)), "SELECT current_setting('synchronous_standby_names') AS v"))[0].v;
      const before = await ssn();
      assert.match(before, /^FIRST 1 \(/, "sync mode (the default) waits for a standby");
      // The adopted postmaster's wait was set by the previous agent: a config rewrite must keep it.
      const r = runCli(["reload", leader, "--dir", dir, "--force"]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(await ssn(), before, "a reload after the agent's restart must not stop commits waiting for the standby");
    });
  });
});
