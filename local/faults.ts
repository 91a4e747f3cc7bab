/**
 * Faults and repairs on one node of a local cluster, for the demo (and the benchmark and the tests,
 * which keep their other faults in test/helpers/faults.ts).
 * Each returns the time the fault was injected (Date.now(), right after the signal was sent).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { isPostgresProcess, isRunning, readPostmasterPid } from "../sidecar/postgres/process";
import { serviceOwner, spawnAgent } from "./agents";
import { computeLayout, DEFAULT_BASE_PORT } from "./layout";
import { findNode, readClusterFile, writeClusterFile } from "./state";

export { waitForPrimary, waitHealthy } from "./health";

function kill(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/** The running postmaster of a node (from postmaster.pid, checked to be a postgres process). */
export function postmasterPid(dataDir: string): number | undefined {
  const pid = readPostmasterPid(dataDir)?.pid;
  return pid !== undefined && isRunning(pid) && isPostgresProcess(pid) ? pid : undefined;
}

export interface Fault {
  at: number;
  agentPid?: number;
  postmasterPid?: number;
}

/** kill -9 of the node's agent and then its postmaster: a machine crash as far as the cluster can tell. */
export function killNode(dir: string, name: string): Fault {
  const n = findNode(readClusterFile(dir), name);
  const pm = postmasterPid(n.dataDir);
  if (!isRunning(n.agentPid)) throw new Error(`${name}: the agent (pid ${n.agentPid}) is not running`);
  // Agent first: it would otherwise restart the postmaster in the moment between the two kills.
  kill(n.agentPid, "SIGKILL");
  if (pm !== undefined) kill(pm, "SIGKILL");
  return { at: Date.now(), agentPid: n.agentPid, postmasterPid: pm };
}

/** Waits until a stopped/killed agent is gone (a SIGTERMed agent takes a moment to stop PostgreSQL). */
export async function waitAgentGone(dir: string, name: string, timeoutMs: number): Promise<void> {
  const n = findNode(readClusterFile(dir), name);
  const deadline = Date.now() + timeoutMs;
  while (isRunning(n.agentPid)) {
    if (Date.now() > deadline) throw new Error(`${name}: the agent (pid ${n.agentPid}) still runs after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Starts the node's agent again on its existing data dir and config, records the new pid in
 * cluster.json and returns it. It adopts a postmaster that is still running (crash-pg leaves none).
 */
export function restartNode(dir: string, name: string): number {
  const c = readClusterFile(dir);
  const n = findNode(c, name);
  if (isRunning(n.agentPid)) throw new Error(`${name}: the agent (pid ${n.agentPid}) still runs: stop it first`);
  // Paths of the node come from the layout, which does not depend on ports or counts.
  const slot = computeLayout({ dir, nodes: c.nodes.length, etcd: 0, basePort: DEFAULT_BASE_PORT }).nodes.find((s) => s.name === name);
  if (!slot) throw new Error(`${name}: not a node of the layout in ${dir}`);
  const pid = spawnAgent({ ...slot, netns: n.netns }, serviceOwner());
  n.agentPid = pid;
  writeClusterFile(dir, c);
  return pid;
}

/**
 * Last resort when a restarted node cannot rejoin (like `patronictl reinit`): stop its agent and any
 * postmaster, delete its data dir and start the agent again, which takes a fresh base backup.
 */
export async function reinitNode(dir: string, name: string): Promise<number> {
  const n = findNode(readClusterFile(dir), name);
  if (isRunning(n.agentPid)) {
    kill(n.agentPid, "SIGTERM");
    await waitAgentGone(dir, name, 30_000).catch(() => kill(n.agentPid, "SIGKILL"));
    await waitAgentGone(dir, name, 5000);
  }
  const pm = postmasterPid(n.dataDir);
  if (pm !== undefined) kill(pm, "SIGKILL");
  fs.rmSync(n.dataDir, { recursive: true, force: true });
  return restartNode(dir, name);
}

/** Copies a node's logs (agent, PostgreSQL) out of DIR, which teardown removes; returns where. */
export function keepNodeLogs(dir: string, name: string, tag: string): string {
  const dest = path.join(os.tmpdir(), "hapg-failures", `${tag}-${name}-${Date.now()}`);
  fs.mkdirSync(dest, { recursive: true });
  const nodeDir = path.join(dir, name);
  for (const f of fs.readdirSync(nodeDir).filter((x) => x.endsWith(".log"))) fs.copyFileSync(path.join(nodeDir, f), path.join(dest, f));
  return dest;
}
