/**
 * `hapg local scale --etcd N` (a cluster started with --topology): etcd members come and go by
 * runtime reconfiguration, never by a new bootstrap. A new member is listed in the topology, then
 * joins as node-init's `hapg etcd-join` does on AWS (member add, state `existing`: ../boot/etcd-join.ts);
 * a removed one leaves the topology and the leader's coordinator removes it from etcd (one at a time,
 * while the rest are healthy); its process stops once etcd no longer lists it. The agents take
 * their etcd endpoints from the topology meanwhile.
 */
import * as path from "node:path";
import { etcdJoin } from "../sidecar/boot/etcd-join";
import { EtcdMembers } from "../sidecar/membership/etcd-members";
import { etcdArgs, findEtcdBinary, spawnEtcd, stopProcess, waitMemberHealthy, type EtcdMemberInfo } from "./etcd";
import { reportLocalBoot } from "./host-reports";
import { MAX_ETCD } from "./layout";
import { runningLayout } from "./scale";
import { readClusterFile, writeClusterFile } from "./state";
import { readLocalTopology, writeLocalTopology } from "./topology";

type Say = (line: string) => void;

export async function localScaleEtcd(dir: string, target: number, say: Say = () => undefined, timeoutMs = 120_000): Promise<void> {
  const c = readClusterFile(dir);
  const t = readLocalTopology(dir);
  if (c.network) throw new Error("hapg local scale --etcd: not with --netns");
  if (!Number.isInteger(target) || target < 1 || target > MAX_ETCD) throw new Error(`--etcd: must be an integer from 1 to ${MAX_ETCD}`);
  const l = runningLayout(dir, c, c.nodes.length, MAX_ETCD);
  for (const slot of l.etcd.filter((s) => !t.etcd.some((e) => e.name === s.name)).slice(0, Math.max(0, target - t.etcd.length))) {
    t.etcd.push({
      name: slot.name,
      ip: slot.host,
      revision: t.etcd[0].revision,
      ports: { etcdClient: slot.clientPort, etcdPeer: slot.peerPort },
    });
    writeLocalTopology(dir, t);
    const start = await etcdJoin({ name: slot.name, dataDir: slot.dataDir, scheme: "http", topology: t, waitMs: timeoutMs, log: say });
    const clientUrl = `http://${slot.host}:${slot.clientPort}`;
    const info: EtcdMemberInfo = {
      name: slot.name,
      clientUrl,
      peerUrl: `http://${slot.host}:${slot.peerPort}`,
      pid: 0,
      dataDir: slot.dataDir,
      logFile: path.join(l.etcdDir, `${slot.name}.log`),
      pidFile: path.join(l.etcdDir, `${slot.name}.pid`),
      args: etcdArgs({
        name: slot.name,
        dataDir: slot.dataDir,
        clientUrl,
        peerUrl: `http://${slot.host}:${slot.peerPort}`,
        initialCluster: start.initialCluster,
        state: start.state,
        token: "hapg-local",
      }),
    };
    info.pid = spawnEtcd(findEtcdBinary(), info);
    c.etcd.push({ name: slot.name, clientUrl, pid: info.pid });
    writeClusterFile(dir, c);
    await waitMemberHealthy(info, timeoutMs);
    await reportLocalBoot(c, slot.name, t.etcd[0].revision, `local-${slot.name}-${info.pid}`);
    say(`${slot.name}: joined the running etcd cluster (state ${start.state}), pid ${info.pid}`);
  }
  while (t.etcd.length > target) {
    const gone = t.etcd.pop()!;
    writeLocalTopology(dir, t);
    const entry = c.etcd.find((e) => e.name === gone.name);
    // The leader's coordinator removes it from etcd; then its process stops.
    const api = new EtcdMembers(c.etcd.filter((e) => e.name !== gone.name).map((e) => e.clientUrl));
    const deadline = Date.now() + timeoutMs;
    while ((await api.list().catch(() => [{ name: gone.name }])).some((m) => m.name === gone.name)) {
      if (Date.now() > deadline) throw new Error(`${gone.name}: still an etcd member ${timeoutMs} ms after it left the topology`);
      await new Promise((r) => setTimeout(r, 200));
    }
    if (entry) await stopProcess(entry.pid, 10_000);
    c.etcd = c.etcd.filter((e) => e.name !== gone.name);
    writeClusterFile(dir, c);
    say(`${gone.name}: removed from etcd by the leader, stopped`);
  }
}
