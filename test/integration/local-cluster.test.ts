/**
 * The local cluster with real processes (etcd, PostgreSQL, agents, HAProxy) through `localUp`: one
 * cluster for the whole file, in the order of the issue, then the operator's cases that need nothing
 * but a healthy default cluster (agent-restart-cases.ts, patronictl-cases.ts, restart-cases.ts): one
 * cluster start, not four.
 * A test that leaves a node unable to rejoin fails, and afterEach re-initialises that node so the next
 * test starts from a healthy cluster. Timings are generous upper bounds only (the benchmark measures speed).
 * A kill -9 of the leader (agent and PostgreSQL) is the fault suite's crash-node (test/faults): the sync
 * standby takes over, writes go through the proxy again, the killed node streams again, nothing
 * acknowledged is lost.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { localDown, localUp } from "../../local/cluster";
import { tempClusterDir } from "../../local/demo";
import { reinitNode, restartNode, waitAgentGone, waitForPrimary, waitHealthy } from "../../local/faults";
import { crashPostgres, stopAgent } from "../helpers/faults";
import { waitProxyWritable } from "../../local/health";
import { ClusterFile, fetchCluster, readClusterFile } from "../../local/state";
import { dsnWithPort, eventually, query } from "../helpers/pg-client";
import { checkMetricsAgainstPatroni } from "./metrics-scrape";
import { agentRestartCases } from "./agent-restart-cases";
import { opsCliCases, opsHistoryCase } from "./ops-cli";
import { patronictlCases } from "./patronictl-cases";
import { restartCases } from "./restart-cases";

const BASE_PORT = 29000;
const log = (s: string) => console.log(`      ${s}`);

/** Inserts a marker row through the primary proxy and waits until every listed node has it. */
async function writeAndSeeEverywhere(c: ClusterFile, marker: string, nodes: readonly string[]): Promise<void> {
  await waitProxyWritable(c.dsn, 30_000);
  await query(c.dsn, "CREATE TABLE IF NOT EXISTS itest (marker text PRIMARY KEY)");
  await query(c.dsn, "INSERT INTO itest VALUES ($1)", [marker]);
  for (const n of c.nodes.filter((x) => nodes.includes(x.name))) {
    await eventually(`${marker} on ${n.name}`, 20_000, async () => {
      const rows = await query(dsnWithPort(c.dsn, n.pgPort), "SELECT 1 FROM itest WHERE marker = $1", [marker]);
      return rows.length === 1 ? true : undefined;
    });
  }
}

describe("local cluster (real etcd, PostgreSQL, agents, HAProxy)", function () {
  this.timeout(180_000);
  let dir = "";
  let c: ClusterFile;

  before(async function () {
    dir = tempClusterDir("hapg-itest-"); // here, not at load time: a --dry-run must leave nothing behind
    // Mode "on" by name: its cases read the one synchronous standby (patronictl's "Sync Standby").
    c = await localUp({ dir, basePort: BASE_PORT, synchronousMode: "on", timeoutMs: 150_000, progress: log });
  });

  afterEach(async function () {
    this.timeout(180_000);
    if (!c) return;
    try {
      await waitHealthy(dir, 20_000);
    } catch (e) {
      const view = await fetchCluster(readClusterFile(dir));
      const leader = view?.members.find((m) => m.role === "leader")?.name;
      const broken = c.nodes
        .map((n) => n.name)
        .filter((n) => n !== leader && view?.members.find((m) => m.name === n)?.state !== "streaming");
      log(`cluster not healthy after the test (${(e as Error).message}): re-initialising ${broken.join(", ")}`);
      for (const n of broken) await reinitNode(dir, n);
      await waitHealthy(dir, 120_000, log);
    }
  });

  after(async function () {
    this.timeout(120_000);
    if (!dir) return;
    if (fs.existsSync(dir)) await localDown(dir);
    fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  });

  it("bootstraps 3 nodes, writes cluster.json as documented, replicates a row to every node and serves reads on the replica port", async () => {
    const file = `${dir}/cluster.json`;
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    const j = JSON.parse(fs.readFileSync(file, "utf8")) as ClusterFile;
    assert.deepEqual(Object.keys(j).sort(), ["api", "dsn", "etcd", "nodes", "proxy", "replicaProxy", "synchronousMode"]);
    assert.equal(j.synchronousMode, "on", "the synchronous mode it was started with");
    assert.deepEqual(j.proxy, { host: "127.0.0.1", port: BASE_PORT + 20 });
    assert.deepEqual(j.replicaProxy, { host: "127.0.0.1", port: BASE_PORT + 21 });
    assert.match(j.dsn, new RegExp(`^postgresql://postgres:[^@]+@127\\.0\\.0\\.1:${BASE_PORT + 20}/postgres$`));
    assert.equal(j.etcd.length, 3);
    for (const e of j.etcd) {
      assert.deepEqual(Object.keys(e).sort(), ["clientUrl", "name", "pid"]);
      assert.ok(e.pid > 1);
    }
    assert.deepEqual(
      j.nodes.map((n) => n.name),
      ["node1", "node2", "node3"],
    );
    for (const n of j.nodes) {
      assert.deepEqual(Object.keys(n).sort(), ["agentPid", "apiUrl", "dataDir", "host", "name", "pgPort"]);
      const pm = Number(fs.readFileSync(`${n.dataDir}/postmaster.pid`, "utf8").split("\n")[0]);
      assert.ok(pm > 1, `${n.name}: postmaster.pid names a pid`);
    }

    await writeAndSeeEverywhere(c, "bootstrap", ["node1", "node2", "node3"]);
    const replicaDsn = dsnWithPort(c.dsn, c.replicaProxy.port);
    const rows = await query<{ r: boolean; m: string }>(
      replicaDsn,
      "SELECT pg_is_in_recovery() AS r, (SELECT marker FROM itest WHERE marker = 'bootstrap') AS m",
    );
    assert.deepEqual(rows[0], { r: true, m: "bootstrap" });
  });

  it("answers the health endpoints by role, for GET, HEAD and OPTIONS", async () => {
    const leader = await waitForPrimary(dir, { timeoutMs: 10_000 });
    const nodes = readClusterFile(dir).nodes;
    const expected: Record<string, [number, number]> = {
      // path: [leader, replica]
      "/primary": [200, 503],
      "/": [200, 503],
      "/replica": [503, 200],
      "/read-only": [200, 200],
      "/health": [200, 200],
      "/liveness": [200, 200],
      "/readiness": [200, 200],
    };
    const replica = nodes.find((n) => n.name !== leader)!;
    const leaderNode = nodes.find((n) => n.name === leader)!;
    for (const [path, [onLeader, onReplica]] of Object.entries(expected)) {
      for (const method of ["GET", "HEAD", "OPTIONS"]) {
        for (const [node, want] of [
          [leaderNode, onLeader],
          [replica, onReplica],
        ] as const) {
          const res = await fetch(node.apiUrl + path, { method, signal: AbortSignal.timeout(2000) });
          await res.arrayBuffer();
          assert.equal(res.status, want, `${method} ${path} on ${node.name} (${node === leaderNode ? "leader" : "replica"})`);
        }
      }
    }
    const patroni = (await (await fetch(`${leaderNode.apiUrl}/patroni`)).json()) as { role: string; patroni: { name: string } };
    assert.equal(patroni.role, "primary");
    assert.equal(patroni.patroni.name, leader);
  });

  it("serves Prometheus metrics that agree with /patroni (primary, replicas, timeline, WAL positions)", async () => {
    const leader = await waitForPrimary(dir, { timeoutMs: 10_000 });
    await checkMetricsAgainstPatroni(readClusterFile(dir), leader, log);
  });

  opsCliCases(() => dir);

  it("hands over quickly when the leader's agent is stopped gracefully (SIGTERM), and the node rejoins", async () => {
    const old = await waitForPrimary(dir, { timeoutMs: 10_000 });
    const fault = stopAgent(dir, old);
    const next = await waitForPrimary(dir, { exclude: [old], timeoutMs: 30_000 });
    await waitProxyWritable(c.dsn, 30_000);
    log(`graceful stop of ${old}: ${next} writable through the proxy after ${Date.now() - fault.at} ms`);
    assert.notEqual(next, old);
    await waitAgentGone(dir, old, 30_000);
    restartNode(dir, old);
    await waitHealthy(dir, 90_000, log);
    await writeAndSeeEverywhere(c, "after-graceful-stop", ["node1", "node2", "node3"]);
  });

  it("is writable again after the leader's PostgreSQL is killed (kill -9 postmaster)", async () => {
    const leader = await waitForPrimary(dir, { timeoutMs: 10_000 });
    const fault = crashPostgres(dir, leader);
    await waitProxyWritable(c.dsn, 30_000);
    log(`kill -9 of ${leader}'s postmaster: writable through the proxy after ${Date.now() - fault.at} ms`);
    await waitHealthy(dir, 90_000, log);
    await writeAndSeeEverywhere(c, "after-crash-pg", ["node1", "node2", "node3"]);
  });

  opsHistoryCase(() => dir);

  agentRestartCases(() => dir);
  patronictlCases(() => dir);
  restartCases(() => dir);
});
