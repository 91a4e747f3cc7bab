/**
 * `hapg local roll`: what a second `pulumi up` with a new image or user-data does on AWS, on the
 * local cluster. Every host of DIR/topology.json gets a new revision; the leader's roll coordinator
 * then asks for one host's replacement at a time, replicas and etcd members first, the leader last
 * after a switchover; the local stand-in for the Auto Scaling groups (./asg.ts) replaces them.
 * Returns once every host reports the new revision and no step is in progress.
 */
import { EtcdDcs } from "../sidecar/dcs/etcd";
import { clusterPrefix, type ClusterSnapshot } from "../sidecar/dcs/types";
import { CLUSTER_NAME } from "./agents";
import { LocalAsg, type Replacement } from "./asg";
import { readClusterFile } from "./state";
import { readLocalTopology, writeLocalTopology } from "./topology";

export interface RollResult {
  revision: string;
  steps: (Replacement & { ms: number })[];
}

/** The next revision name after r<n> (r1 → r2). */
export function nextRevision(current: string): string {
  const m = /^r(\d+)$/.exec(current);
  return m ? `r${Number(m[1]) + 1}` : `${current}-next`;
}

export async function clusterSnapshot(dir: string): Promise<ClusterSnapshot> {
  const c = readClusterFile(dir);
  const dcs = new EtcdDcs({ endpoints: c.etcd.map((e) => e.clientUrl), prefix: clusterPrefix("service", CLUSTER_NAME), timeoutMs: 5000 });
  try {
    return await dcs.load();
  } finally {
    await dcs.close().catch(() => undefined);
  }
}

export async function localRoll(
  dir: string,
  o: { revision?: string; timeoutMs?: number; say?: (l: string) => void } = {},
): Promise<RollResult> {
  const say = o.say ?? (() => undefined);
  const t = readLocalTopology(dir);
  const revision = o.revision ?? nextRevision(t.nodes[0].revision);
  for (const h of [...t.nodes, ...t.etcd]) h.revision = revision;
  const asg = new LocalAsg(dir, say);
  asg.start();
  writeLocalTopology(dir, t);
  say(`topology: every host now at revision ${revision}; the leader rolls them`);
  const deadline = Date.now() + (o.timeoutMs ?? 900_000);
  try {
    for (;;) {
      const s = await clusterSnapshot(dir).catch(() => undefined);
      const hosts = [...t.nodes, ...t.etcd].map((h) => h.name);
      if (s?.roll?.state.stalled) throw new Error(`the roll stopped at ${s.roll.state.host}: ${s.roll.state.stalled}`);
      if (s && !s.roll && hosts.every((h) => s.hosts?.[h]?.revision === revision)) break;
      if (Date.now() > deadline)
        throw new Error(`the roll to ${revision} did not finish in time (roll key: ${JSON.stringify(s?.roll?.state)})`);
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    await asg.stop();
  }
  return { revision, steps: asg.replacements.map((r) => ({ ...r, ms: r.startedAt - r.requestedAt })) };
}
