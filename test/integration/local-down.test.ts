/**
 * `hapg local down` leaves nothing running, even when an agent cannot cooperate: a real cluster
 * (etcd, PostgreSQL, agents, HAProxy) comes up, the leader's agent is frozen with SIGSTOP (it can
 * neither stop its PostgreSQL nor release its key), and the CLI's `down` must still stop every
 * process the cluster started and free every port. `up` into a running cluster's dir is refused,
 * naming what runs. Base port 24600 (24600-24899: no other test uses that block).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { localUp } from "../../sidecar/local/cluster";
import { tempClusterDir } from "../../sidecar/local/demo";
import { computeLayout, portsOf } from "../../sidecar/local/layout";
import { childPids, isRunning, processState, readPostmasterPid } from "../../sidecar/postgres/process";
import { fetchCluster, findNode, type ClusterFile } from "../../sidecar/local/state";

const BASE_PORT = 24600;
const CLI = path.resolve(__dirname, "../../sidecar/cli/main.js");
const log = (s: string) => console.log(`      ${s}`);

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // Asynchronous, so this process keeps reaping the agents it started (they are its children).
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once("error", () => resolve(false));
    srv.listen({ host: "127.0.0.1", port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

describe("hapg local down (real cluster, one agent frozen)", function () {
  this.timeout(240_000);
  let dir = "";
  let c: ClusterFile | undefined;
  /** Every pid of the cluster seen while it ran: name → pid. */
  const pids = new Map<string, number>();

  before(async function () {
    dir = tempClusterDir("hapg-itest-down-");
    c = await localUp({ dir, nodes: 2, etcd: 1, basePort: BASE_PORT, timeoutMs: 150_000, progress: log });
  });

  after(function () {
    // Whatever the test left behind (it should be nothing), by pid only.
    for (const pid of pids.values()) {
      try {
        if (isRunning(pid)) process.kill(pid, "SIGKILL");
      } catch {
        /* gone */
      }
    }
    if (dir) fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  });

  it("up refuses the dir of a cluster that still runs, naming its processes", async () => {
    await assert.rejects(
      localUp({ dir, nodes: 2, etcd: 1, basePort: BASE_PORT + 300 }),
      (e: Error) =>
        /holds a local cluster that is still running: .*node1 agent \(pid \d+\).*etcd-1 \(pid \d+\).*hapg local down --dir/.test(e.message),
    );
  });

  it("stops every process even with the leader's agent frozen, and frees every port", async () => {
    const cluster = c!;
    for (const n of cluster.nodes) {
      pids.set(`${n.name} agent`, n.agentPid);
      const pm = readPostmasterPid(n.dataDir)?.pid;
      assert.ok(pm !== undefined && isRunning(pm), `${n.name}: postmaster runs`);
      pids.set(`${n.name} postmaster`, pm);
      for (const child of childPids(pm)) pids.set(`${n.name} postgres child ${child}`, child);
    }
    for (const e of cluster.etcd) pids.set(e.name, e.pid);
    const haproxy = Number(fs.readFileSync(computeLayout({ dir, nodes: 0, etcd: 0, basePort: BASE_PORT }).haproxyPidFile, "utf8").trim());
    pids.set("haproxy", haproxy);
    for (const [what, pid] of pids) assert.ok(isRunning(pid), `${what} (pid ${pid}) runs before down`);

    const leader = (await fetchCluster(cluster))?.members.find((m) => m.role === "leader")?.name;
    assert.ok(leader, "the cluster has a leader");
    const frozen = findNode(cluster, leader).agentPid;
    process.kill(frozen, "SIGSTOP");
    for (let i = 0; processState(frozen) !== "T"; i++) {
      assert.ok(i < 100, `${leader} agent (pid ${frozen}) did not stop after SIGSTOP`);
      await new Promise((r) => setTimeout(r, 20));
    }

    const r = await runCli(["local", "down", "--dir", dir]);
    log(`down exited ${r.code}:\n${(r.stdout + r.stderr).trimEnd().replace(/^/gm, "        ")}`);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`stopped ${leader} agent \\(pid ${frozen}\\)`));
    assert.match(r.stdout, new RegExp(`stopped ${leader} postmaster`), "down stopped the postmaster its frozen agent left running");

    const alive = [...pids].filter(([, pid]) => isRunning(pid)).map(([what, pid]) => `${what} (pid ${pid})`);
    assert.deepEqual(alive, [], "nothing of the cluster runs after down");
    const layout = computeLayout({ dir, nodes: cluster.nodes.length, etcd: cluster.etcd.length, basePort: BASE_PORT });
    const taken: string[] = [];
    for (const p of portsOf(layout)) if (!(await portFree(p.port))) taken.push(`${p.port} (${p.use})`);
    assert.deepEqual(taken, [], "every port of the cluster is free");
    assert.equal(fs.existsSync(dir), false, "down removed the cluster's dir");
  });
});
