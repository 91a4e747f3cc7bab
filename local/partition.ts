/**
 * Network partitions of a local cluster started with --netns: iptables rules inside one node's
 * namespace drop every packet between that node and a group of peers, in both directions. Dropped,
 * not rejected: like a cut cable, the other side sees no reset, only silence and its own timeouts.
 * The rules live in the node's own namespace, so the host's network is never touched.
 */
import { execFileSync } from "node:child_process";
import { assertRouteOnBridge } from "./netns";
import { ClusterFile, findNode, readClusterFile } from "./state";

/** "etcd": the node loses every etcd member (clients and the other nodes still reach it). "peers": the node loses the other nodes (etcd and clients still reach it). */
export type CutFrom = "etcd" | "peers";
export const CUT_FROM: readonly CutFrom[] = ["etcd", "peers"];

function iptables(netns: string, args: string[]): void {
  try {
    execFileSync("ip", ["netns", "exec", netns, "iptables", "-w", ...args], { stdio: ["ignore", "ignore", "pipe"] });
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    throw new Error(`iptables ${args.join(" ")} in ${netns}: ${(err.stderr?.toString() || err.message).trim()}`, { cause: e });
  }
}

/** The node's namespace, or an error saying the cluster has none. */
function netnsOf(c: ClusterFile, name: string): string {
  const n = findNode(c, name);
  if (!n.netns || !c.network)
    throw new Error(`${name} has no network namespace of its own: start the cluster with hapg local up --netns to cut it off`);
  return n.netns;
}

/** Pure: the addresses a cut separates the node from; `only` narrows "peers" to that one node. */
export function cutPeers(c: ClusterFile, name: string, from: CutFrom, only?: string): string[] {
  const me = findNode(c, name).host;
  const nodes = only === undefined ? c.nodes : [findNode(c, only)];
  const hosts = from === "etcd" ? c.etcd.map((e) => new URL(e.clientUrl).hostname) : nodes.map((n) => n.host);
  return hosts.filter((h) => h !== me);
}

/** Drops all traffic between the node and the group (or one node of it); returns when the rules are in (Date.now()). */
export function cutNode(dir: string, name: string, from: CutFrom, only?: string): number {
  const c = readClusterFile(dir);
  const netns = netnsOf(c, name);
  const peers = cutPeers(c, name, from, only);
  for (const p of peers) assertRouteOnBridge(p, c.network!.bridge);
  const list = peers.join(",");
  iptables(netns, ["-A", "INPUT", "-s", list, "-j", "DROP"]);
  iptables(netns, ["-A", "OUTPUT", "-d", list, "-j", "DROP"]);
  return Date.now();
}

/** Removes every cut of the node (its namespace's INPUT and OUTPUT chains hold only ours). */
export function healNode(dir: string, name: string): number {
  const netns = netnsOf(readClusterFile(dir), name);
  iptables(netns, ["-F", "INPUT"]);
  iptables(netns, ["-F", "OUTPUT"]);
  return Date.now();
}
