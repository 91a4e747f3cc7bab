/**
 * The agent process itself: a bad config is refused with the field named and nothing started. What
 * needs a live node (it refuses root; killed and restarted it adopts its postmaster and rebinds the
 * leader key) runs on local-cluster.test.ts's cluster: agent-restart-cases.ts.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const CLI = path.resolve(__dirname, "../../sidecar/cli/main.js");

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
});
