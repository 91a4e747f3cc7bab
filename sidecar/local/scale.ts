/**
 * `hapg local scale --nodes N` (a cluster started with --topology): adds or removes PostgreSQL nodes
 * the way `pulumi up` with a new nodeCount does on AWS. The topology changes first for a new node (so
 * the leader does not drop its member key), last for a removed one (its agent stops first: a leader
 * hands over by a switchover on SIGTERM); HAProxy is rewritten from the topology and reloaded.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { isRunning } from "../postgres/process";
import { serviceOwner, spawnAgent } from "./agents";
import { reportLocalBoot } from "./host-reports";
import { waitAgentGone, waitHealthy } from "./faults";
import { computeLayout, MAX_NODES, type Layout } from "./layout";
import { chownRecursive } from "./os-user";
import { readClusterFile, writeClusterFile, type ClusterFile } from "./state";
import { readLocalTopology, reloadLocalHaproxy, writeLocalTopology } from "./topology";

type Say = (line: string) => void;

/** The layout of a running local cluster with `nodes` nodes (the base port is the proxy's minus 20). */
export function runningLayout(dir: string, c: ClusterFile, nodes: number, etcd: number): Layout {
  return computeLayout({ dir, nodes, etcd, basePort: c.proxy.port - 20 });
}

export async function localScale(dir: string, target: number, say: Say = () => undefined, timeoutMs = 180_000): Promise<void> {
  const c = readClusterFile(dir);
  const t = readLocalTopology(dir);
  if (c.network) throw new Error("hapg local scale: not with --netns (the namespaces are made at up)");
  if (!Number.isInteger(target) || target < 1 || target > MAX_NODES) throw new Error(`--nodes: must be an integer from 1 to ${MAX_NODES}`);
  const l = runningLayout(dir, c, Math.max(target, c.nodes.length), t.etcd.length);
  const owner = serviceOwner();
  if (target > c.nodes.length) {
    const template = JSON.parse(fs.readFileSync(l.nodes[0].configFile, "utf8")) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    if (template.backup) throw new Error("hapg local scale: not with --backup (each node's pgBackRest server is set up at up)");
    const revision = t.nodes[t.nodes.length - 1].revision;
    for (const slot of l.nodes.slice(c.nodes.length, target)) {
      fs.mkdirSync(slot.nodeDir, { recursive: true, mode: 0o700 });
      const config = {
        ...template,
        name: slot.name,
        postgres: { ...template.postgres, dataDir: slot.dataDir, listen: { host: slot.host, port: slot.pgPort } },
        api: { ...template.api, listen: { host: slot.host, port: slot.apiPort } },
      };
      fs.writeFileSync(slot.configFile, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
      if (owner) chownRecursive(slot.nodeDir, owner.uid, owner.gid);
      t.nodes.push({ name: slot.name, ip: slot.host, revision, ports: { postgres: slot.pgPort, api: slot.apiPort } });
      writeLocalTopology(dir, t);
      const pid = spawnAgent(slot, owner);
      c.nodes.push({
        name: slot.name,
        host: slot.host,
        pgPort: slot.pgPort,
        apiUrl: `http://${slot.host}:${slot.apiPort}`,
        dataDir: slot.dataDir,
        agentPid: pid,
      });
      writeClusterFile(dir, c);
      await reportLocalBoot(c, slot.name, revision, `local-${slot.name}-${pid}`);
      say(`${slot.name}: agent started (pid ${pid}), PostgreSQL on ${slot.host}:${slot.pgPort}`);
    }
    await waitHealthy(dir, timeoutMs, say);
    if (await reloadLocalHaproxy(l, t)) say(`haproxy: reloaded with ${t.nodes.map((n) => n.name).join(", ")}`);
    return;
  }
  for (const gone of [...c.nodes.slice(target)].reverse()) {
    // One at a time; a leader hands over first (its agent's planned stop).
    if (isRunning(gone.agentPid)) process.kill(gone.agentPid, "SIGTERM");
    await waitAgentGone(dir, gone.name, timeoutMs);
    t.nodes = t.nodes.filter((n) => n.name !== gone.name);
    writeLocalTopology(dir, t);
    c.nodes = c.nodes.filter((n) => n.name !== gone.name);
    writeClusterFile(dir, c);
    if (await reloadLocalHaproxy(l, t)) say(`haproxy: reloaded with ${t.nodes.map((n) => n.name).join(", ")}`);
    const slot = l.nodes.find((s) => s.name === gone.name)!;
    // The data goes with the host (as a scaled-in host's volume); its log stays for reading.
    fs.copyFileSync(slot.logFile, path.join(dir, `${gone.name}.log.kept`));
    fs.rmSync(slot.nodeDir, { recursive: true, force: true });
    say(`${gone.name}: stopped and removed (its log: ${gone.name}.log.kept)`);
    await waitHealthy(dir, timeoutMs, say);
  }
}
