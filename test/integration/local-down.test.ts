/**
 * `hapg local down` leaves nothing running, even when an agent cannot cooperate: a real cluster
 * (etcd, PostgreSQL, agents, HAProxy) comes up, the leader's agent is frozen with SIGSTOP (it can
 * neither stop its PostgreSQL nor release its key), and the CLI's `down` must still stop every
 * process the cluster started and free every port. `up` into a running cluster's dir is refused,
 * naming what runs. Without cluster.json and the pid files, `down` still finds every process by its
 * command line. Base ports 24600 and 24900 (24600-25199: no other test uses that block).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { localUp } from "../../local/cluster";
import { tempClusterDir } from "../../local/demo";
import { computeLayout, portsOf } from "../../local/layout";
import { childPids, isRunning, processState, readPostmasterPid } from "../../sidecar/postgres/process";
import { clusterJsonPath, fetchCluster, findNode, type ClusterFile } from "../../local/state";

const BASE_PORTS = [24600, 24900];
const CLI = path.resolve(__dirname, "../../local/main.js");
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

/** Every pid of a running local cluster (agents, postmasters and their children, HAProxy, etcd): name → pid. */
function clusterPids(dir: string, c: ClusterFile, basePort: number): Map<string, number> {
  const pids = new Map<string, number>();
  for (const n of c.nodes) {
    pids.set(`${n.name} agent`, n.agentPid);
    const pm = readPostmasterPid(n.dataDir)?.pid;
    assert.ok(pm !== undefined && isRunning(pm), `${n.name}: postmaster runs`);
    pids.set(`${n.name} postmaster`, pm);
  }
  for (const e of c.etcd) pids.set(e.name, e.pid);
  pids.set("haproxy", Number(fs.readFileSync(haproxyPidFile(dir, basePort), "utf8").trim()));
  for (const [what, pid] of pids) assert.ok(isRunning(pid), `${what} (pid ${pid}) runs before down`);
  // A postmaster's children come and go (a backend per health check), so they are recorded but not
  // required to still run: down must leave none of those that did.
  for (const n of c.nodes) {
    const pm = pids.get(`${n.name} postmaster`) as number;
    for (const child of childPids(pm)) pids.set(`${n.name} postgres child ${child}`, child);
  }
  return pids;
}

function haproxyPidFile(dir: string, basePort: number): string {
  return computeLayout({ dir, nodes: 0, etcd: 0, basePort }).haproxyPidFile;
}

/** Nothing of the cluster runs and every port it used can be bound again. */
async function assertAllGone(pids: Map<string, number>, dir: string, c: ClusterFile, basePort: number): Promise<void> {
  const alive = [...pids].filter(([, pid]) => isRunning(pid)).map(([what, pid]) => `${what} (pid ${pid})`);
  assert.deepEqual(alive, [], "nothing of the cluster runs after down");
  const layout = computeLayout({ dir, nodes: c.nodes.length, etcd: c.etcd.length, basePort });
  const taken: string[] = [];
  for (const p of portsOf(layout)) if (!(await portFree(p.port))) taken.push(`${p.port} (${p.use})`);
  assert.deepEqual(taken, [], "every port of the cluster is free");
}

describe("hapg local down (real clusters)", function () {
  this.timeout(240_000);
  const dirs: string[] = [];
  /** Every pid any cluster of this file ran, killed in after() if a test left one behind. */
  const all = new Map<string, number>();

  async function up(basePort: number): Promise<{ dir: string; c: ClusterFile; pids: Map<string, number> }> {
    const dir = tempClusterDir("hapg-itest-down-");
    dirs.push(dir);
    const c = await localUp({ dir, nodes: 2, etcd: 1, basePort, timeoutMs: 150_000, progress: log });
    const pids = clusterPids(dir, c, basePort);
    for (const [what, pid] of pids) all.set(`${basePort} ${what}`, pid);
    return { dir, c, pids };
  }

  after(function () {
    // Whatever a test left behind (it should be nothing), by pid only.
    for (const pid of all.values()) {
      try {
        if (isRunning(pid)) process.kill(pid, "SIGKILL");
      } catch {
        /* gone */
      }
    }
    for (const dir of dirs) fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  });

  it("with the leader's agent frozen: up refuses the running cluster's dir; down stops everything and frees every port", async () => {
    const basePort = BASE_PORTS[0];
    const { dir, c, pids } = await up(basePort);
    await assert.rejects(localUp({ dir, nodes: 2, etcd: 1, basePort: basePort + 300 }), (e: Error) =>
      /holds a local cluster that is still running: .*node1 agent \(pid \d+\).*etcd-1 \(pid \d+\).*hapg local down --dir/.test(e.message),
    );

    const leader = (await fetchCluster(c))?.members.find((m) => m.role === "leader")?.name;
    assert.ok(leader, "the cluster has a leader");
    const frozen = findNode(c, leader).agentPid;
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
    await assertAllGone(pids, dir, c, basePort);
    assert.equal(fs.existsSync(dir), false, "down removed the cluster's dir");
  });

  it("without cluster.json and pid files: up refuses, naming the processes; down finds them by their command lines", async () => {
    const basePort = BASE_PORTS[1];
    const { dir, c, pids } = await up(basePort);
    fs.rmSync(clusterJsonPath(dir));
    fs.rmSync(haproxyPidFile(dir, basePort));
    for (const f of fs.readdirSync(path.join(dir, "etcd")).filter((x) => x.endsWith(".pid"))) fs.rmSync(path.join(dir, "etcd", f));

    await assert.rejects(localUp({ dir, nodes: 2, etcd: 1, basePort: basePort + 300 }), (e: Error) => {
      assert.match(e.message, /holds a local cluster that is still running: .*hapg local down --dir/);
      for (const what of ["node1 agent", "node2 agent", "node1 postmaster", "haproxy", "etcd-1"]) {
        assert.match(e.message, new RegExp(`${what} \\(pid \\d+\\)`));
      }
      return true;
    });

    const r = await runCli(["local", "down", "--dir", dir]);
    log(`down exited ${r.code}:\n${(r.stdout + r.stderr).trimEnd().replace(/^/gm, "        ")}`);
    assert.equal(r.code, 0, r.stderr);
    await assertAllGone(pids, dir, c, basePort);
  });
});
