/**
 * Faults only the tests and the benchmark inject (the demo's kill -9 and repairs stay in
 * local/faults.ts, which ships). Each returns the time the fault was injected.
 */
import { isRunning } from "../../sidecar/postgres/process";
import { Fault, postmasterPid } from "../../local/faults";
import { findNode, readClusterFile } from "../../local/state";

function kill(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

/** kill -9 of the node's postmaster only; its agent lives on and must react. */
export function crashPostgres(dir: string, name: string): Fault {
  const n = findNode(readClusterFile(dir), name);
  const pm = postmasterPid(n.dataDir);
  if (pm === undefined) throw new Error(`${name}: no running postmaster in ${n.dataDir}/postmaster.pid`);
  kill(pm, "SIGKILL");
  return { at: Date.now(), postmasterPid: pm };
}

/** SIGTERM to the node's agent: a graceful stop (it stops PostgreSQL and releases the leader key). */
export function stopAgent(dir: string, name: string): Fault {
  const n = findNode(readClusterFile(dir), name);
  if (!isRunning(n.agentPid)) throw new Error(`${name}: the agent (pid ${n.agentPid}) is not running`);
  kill(n.agentPid, "SIGTERM");
  return { at: Date.now(), agentPid: n.agentPid };
}
