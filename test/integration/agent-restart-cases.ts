/**
 * The agent process on a live node (local-cluster.test.ts's cluster): it refuses root; killed and
 * restarted within ttl it adopts its running postmaster (no second start, no failover) and rebinds the
 * leader key to its new lease, so the key outlives the killed agent's lease, and keeps the synchronous wait.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { postmasterPid, restartNode, waitAgentGone } from "../../local/faults";
import { waitProxyWritable } from "../../local/health";
import { ClusterFile, fetchCluster, findNode, readClusterFile } from "../../local/state";
import { nodeDsn } from "../helpers/node-dsn";
import { eventually, query } from "../helpers/pg-client";

const CLI = path.resolve(__dirname, "../../sidecar/cli/main.js");
const LEADER_KEY = Buffer.from("/service/local/leader").toString("base64");

/** A call to etcd's JSON gateway on any member that answers. */
async function etcdCall<T>(c: ClusterFile, api: string, body: object): Promise<T> {
  let last: unknown;
  for (const e of c.etcd) {
    try {
      const res = await fetch(`${e.clientUrl}${api}`, { method: "POST", body: JSON.stringify(body), signal: AbortSignal.timeout(2000) });
      return (await res.json()) as T;
    } catch (err) {
      last = err;
    }
  }
  throw new Error(`no etcd member answered ${api}: ${(last as Error)?.message}`);
}

/** Who holds the leader key, and on which lease. */
async function leaderKey(c: ClusterFile): Promise<{ holder?: string; lease?: string }> {
  const r = await etcdCall<{ kvs?: { value: string; lease?: string }[] }>(c, "/v3/kv/range", { key: LEADER_KEY });
  const kv = r.kvs?.[0];
  return { holder: kv && Buffer.from(kv.value, "base64").toString(), lease: kv?.lease };
}

export function agentRestartCases(clusterDir: () => string): void {
  describe("hapg agent (process): restart of a live node's agent", function () {
    this.timeout(180_000);

    it("refuses to run as root, naming the fix", function () {
      if (process.getuid?.() !== 0) this.skip();
      const r = spawnSync(process.execPath, [CLI, "agent", "--config", path.join(clusterDir(), "node1", "agent.json")], {
        encoding: "utf8",
        timeout: 20_000,
      });
      assert.equal(r.status, 1);
      assert.match(r.stderr, /must not run as root.*run it as the postgres OS user/);
    });

    it("kill -9 of the leader's agent alone, restarted within ttl: adopts the postmaster and keeps leading", async () => {
      const dir = clusterDir();
      let c = readClusterFile(dir);
      const before = await fetchCluster(c);
      const leader = before!.members.find((m) => m.role === "leader")!.name;
      const key = await leaderKey(c);
      assert.equal(key.holder, leader);
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
      // Once the killed agent's lease has expired (within ttl), the key must still be ours: rebound to the new lease.
      await eventually("the killed agent's lease expired", 20_000, async () => {
        const r = await etcdCall<{ TTL?: string }>(c, "/v3/lease/timetolive", { ID: key.lease });
        return Number(r.TTL) === -1 ? true : undefined;
      });
      const now = await leaderKey(c);
      assert.equal(now.holder, leader, "the leader key outlived the old lease");
      assert.notEqual(now.lease, key.lease, "on a new lease");
      const after = await fetchCluster(c);
      assert.equal(after!.members.find((m) => m.role === "leader")?.name, leader);
      const log = fs.readFileSync(path.join(dir, leader, "agent.log"), "utf8");
      assert.match(log, /adopted the running postmaster instead of starting another/);
      assert.match(log, /rebinding/);
    });

    it("the restarted leader's agent keeps PostgreSQL's synchronous wait through a reload", async () => {
      const dir = clusterDir();
      const c = readClusterFile(dir);
      const leader = (await fetchCluster(c))!.members.find((m) => m.role === "leader")!.name;
      const ssn = async () =>
        (await query<{ v: string }>(nodeDsn(c, findNode(c, leader)), "SELECT current_setting('synchronous_standby_names') AS v"))[0].v;
      const waitsForStandby = /^FIRST 1 \("/;
      assert.match(await ssn(), waitsForStandby, "sync mode (the default) waits for a standby");
      // The adopted postmaster's wait was set by the previous agent: a config rewrite must keep one (the
      // HA loop may pick another standby meanwhile, never none).
      const r = spawnSync(process.execPath, [CLI, "reload", leader, "--dir", dir, "--force"], { encoding: "utf8", timeout: 20_000 });
      assert.equal(r.status, 0, r.stderr);
      assert.match(await ssn(), waitsForStandby, "a reload after the agent's restart must not stop commits waiting for a standby");
    });
  });
}
