/**
 * `hapg etcd-join --plan FILE`: node-init's step before etcd starts (root, on every host with an etcd
 * member). Reads the topology, asks the running cluster (../membership/join.ts decides), makes the
 * membership change (member remove/add) and writes the plan's `etcd.membershipEnvFile` with
 * ETCD_INITIAL_CLUSTER and ETCD_INITIAL_CLUSTER_STATE for etcd's unit. The local cluster calls
 * `etcdJoin` for the members it adds.
 */
import { existsSync, readdirSync } from "node:fs";
import * as path from "node:path";
import { EtcdMembers, type EtcdTls } from "../membership/etcd-members";
import { initialClusterOf, joinDecision, type JoinDecision } from "../membership/join";
import { etcdClientUrl, etcdPeerUrl, type Scheme } from "../topology/addresses";
import type { Topology } from "../topology/schema";

export interface EtcdJoinOptions {
  name: string;
  dataDir: string;
  scheme: Scheme;
  tls?: EtcdTls;
  topology: Topology;
  log: (m: string) => void;
  /** How long to keep trying while the decision is "wait". Default 0: one attempt. */
  waitMs?: number;
}

export interface EtcdStart {
  state: "new" | "existing";
  initialCluster: string;
  decision: JoinDecision;
}

/** A data directory etcd has initialized holds `member/`. */
export function dataDirEmpty(dir: string): boolean {
  return !existsSync(path.join(dir, "member")) || readdirSync(path.join(dir, "member")).length === 0;
}

/** Decides, changes the membership if needed, and returns how etcd must start. Throws when it must wait. */
export async function etcdJoin(o: EtcdJoinOptions): Promise<EtcdStart> {
  const peerUrlOf = (h: Topology["etcd"][number]) => etcdPeerUrl(h, o.scheme);
  const self = o.topology.etcd.find((h) => h.name === o.name);
  const selfPeerUrl = self ? peerUrlOf(self) : "";
  const others = o.topology.etcd.filter((h) => h.name !== o.name).map((h) => etcdClientUrl(h, o.scheme));
  const deadline = Date.now() + (o.waitMs ?? 0);
  for (;;) {
    const api = others.length ? new EtcdMembers(others, o.tls, 3000) : undefined;
    const members = await api?.list().catch(() => undefined);
    const health = members && api ? await api.health(members) : undefined;
    const d = joinDecision({
      self: o.name,
      selfPeerUrl,
      dataDirEmpty: dataDirEmpty(o.dataDir),
      topology: o.topology,
      peerUrlOf,
      members,
      health,
    });
    o.log(`${o.name}: ${d.action}: ${d.reason}`);
    if (d.action === "start") return { state: d.state, initialCluster: d.initialCluster, decision: d };
    if (d.action === "add" && api) {
      if (d.removeFirst) await api.remove(d.removeFirst);
      const added = await api.add(selfPeerUrl);
      const initialCluster = initialClusterOf(added.members, o.topology, peerUrlOf, { name: o.name, peerUrl: selfPeerUrl });
      o.log(`${o.name}: added as member ${added.id}; starting with ETCD_INITIAL_CLUSTER=${initialCluster}`);
      return { state: "existing", initialCluster, decision: d };
    }
    if (Date.now() >= deadline) throw new Error(`etcd-join: ${o.name}: ${d.reason}`);
    await new Promise((r) => setTimeout(r, 2000));
  }
}

/** The EnvironmentFile etcd's unit reads after its main one. Pure. */
export function membershipEnv(s: Pick<EtcdStart, "state" | "initialCluster">): string {
  return `# Written by hapg etcd-join before etcd starts.\nETCD_INITIAL_CLUSTER=${s.initialCluster}\nETCD_INITIAL_CLUSTER_STATE=${s.state}\n`;
}
