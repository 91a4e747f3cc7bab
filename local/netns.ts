/**
 * Hosts of their own for the local cluster (`hapg local up --netns`, root only): every node and every
 * etcd member runs in a network namespace of its own, joined by a veth to a bridge in the root
 * namespace, where HAProxy, the writers and the tests stay. Traffic between members then crosses
 * real interfaces, so a partition is a pair of iptables rules inside one namespace (partition.ts),
 * as on separate machines, and it never touches the host's own network.
 *
 * Addresses (k from the base port, so two clusters on different base ports never share a subnet):
 *   bridge hapg<P> in the root namespace  10.213.k.1/24   (k = floor(P / 100) mod 256)
 *   etcd member i (namespace hapg<P>-etcd<i+1>)   10.213.k.(2 + i)
 *   node i        (namespace hapg<P>-node<i+1>)   10.213.k.(11 + i)
 * Network rule (docs/architecture.md, "Test layers"): before the cluster uses an address, `ip route get`
 * must show it on the bridge this code created; the subnet must not be routed anywhere else on the host.
 */
import { execFileSync } from "node:child_process";

export interface NetnsHost {
  /** Namespace name, `ip netns exec <netns> …`. */
  netns: string;
  /** Host side of the veth pair (on the bridge); the namespace side is eth0. */
  veth: string;
  address: string;
}

export interface NetnsPlan {
  bridge: string;
  /** 10.213.k.0/24 */
  subnet: string;
  /** The bridge's address: what the members see HAProxy and the tests connect from. */
  gateway: string;
  etcd: NetnsHost[];
  nodes: NetnsHost[];
}

/** Pure: names and addresses for `etcd` members and `nodes` nodes from the base port. */
export function planNetns(basePort: number, etcd: number, nodes: number): NetnsPlan {
  const k = Math.floor(basePort / 100) % 256;
  const net = `10.213.${k}`;
  const host = (kind: "etcd" | "node", i: number, last: number): NetnsHost => ({
    netns: `hapg${basePort}-${kind}${i + 1}`,
    veth: `hapg${basePort}${kind[0]}${i + 1}`,
    address: `${net}.${last}`,
  });
  return {
    bridge: `hapg${basePort}`,
    subnet: `${net}.0/24`,
    gateway: `${net}.1`,
    etcd: Array.from({ length: etcd }, (_, i) => host("etcd", i, 2 + i)),
    nodes: Array.from({ length: nodes }, (_, i) => host("node", i, 11 + i)),
  };
}

/** Why --netns cannot work here (undefined when it can): root, iproute2 and iptables are needed. */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "--netns needs root (it creates network namespaces, a bridge and iptables rules)";
  for (const [cmd, pkg] of [
    ["ip", "iproute2"],
    ["iptables", "iptables"],
  ]) {
    try {
      execFileSync("which", [cmd], { stdio: "ignore" });
    } catch {
      return `--netns needs ${cmd}: apt-get install -y ${pkg}`;
    }
  }
  return undefined;
}

function ip(...args: string[]): string {
  try {
    return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`ip ${args.join(" ")}: ${(err.stderr || err.message).trim()}`, { cause: e });
  }
}

/** The device `ip route get ADDR` picks. */
export function routeDevice(address: string): string | undefined {
  return / dev (\S+)/.exec(ip("-4", "route", "get", address))?.[1];
}

/** Throws unless traffic to address leaves through our bridge (never a default route, never another interface). */
export function assertRouteOnBridge(address: string, bridge: string): void {
  const dev = routeDevice(address);
  if (dev !== bridge)
    throw new Error(`refusing to use ${address}: ip route get sends it via ${dev ?? "no device"}, not via the cluster's bridge ${bridge}`);
}

function toInt(a: string): number {
  return a.split(".").reduce((n, o) => n * 256 + Number(o), 0);
}

/** Pure: do two IPv4 CIDRs (or plain addresses, as /32) share an address? */
export function overlaps(a: string, b: string): boolean {
  const range = (c: string): [number, number] => {
    const [addr, bits = "32"] = c.split("/");
    const size = 2 ** (32 - Number(bits));
    const start = Math.floor(toInt(addr) / size) * size;
    return [start, start + size - 1];
  };
  const [a0, a1] = range(a);
  const [b0, b1] = range(b);
  return a0 <= b1 && b0 <= a1;
}

/** Throws when the host already has the bridge, a namespace of ours, or a route or address in our subnet. */
function assertUnused(p: NetnsPlan): void {
  const inUse = (what: string, fix: string) =>
    new Error(
      `${what} already in use (another local cluster on this base port, or left by one that crashed): ${fix}, or pick another --base-port`,
    );
  if (
    ip("-o", "link", "show")
      .split("\n")
      .some((l) => l.split(": ")[1]?.split("@")[0] === p.bridge)
  ) {
    throw inUse(`network bridge ${p.bridge}`, `remove it with ip link del ${p.bridge} if no cluster uses it`);
  }
  const existing = new Set(
    ip("netns", "list")
      .split("\n")
      .map((l) => l.split(" ")[0]),
  );
  const taken = [...p.etcd, ...p.nodes].filter((h) => existing.has(h.netns)).map((h) => h.netns);
  if (taken.length) throw inUse(`network namespace(s) ${taken.join(", ")}`, `remove them with ip netns del <name>`);
  const clash = [
    ...ip("-4", "-o", "route", "show")
      .split("\n")
      .map((l) => l.split(" ").find((t) => /^\d/.test(t)) ?? ""), // also "unreachable 10.0.0.0/8"
    ...ip("-4", "-o", "addr", "show")
      .split("\n")
      .map((l) => / inet (\S+)/.exec(l)?.[1] ?? ""),
  ].filter((cidr) => cidr && cidr !== "default" && overlaps(cidr, p.subnet));
  if (clash.length) throw new Error(`subnet ${p.subnet} overlaps ${clash.join(", ")} on this host: pick another --base-port`);
}

/**
 * Creates the bridge and one namespace per host, checks every route, and returns. On any failure it
 * removes what it created and throws.
 */
export function createNetns(p: NetnsPlan): void {
  assertUnused(p);
  try {
    ip("link", "add", p.bridge, "type", "bridge");
    ip("addr", "add", `${p.gateway}/24`, "dev", p.bridge);
    ip("link", "set", p.bridge, "up");
    for (const h of [...p.etcd, ...p.nodes]) {
      ip("netns", "add", h.netns);
      ip("link", "add", h.veth, "type", "veth", "peer", "name", "eth0", "netns", h.netns);
      ip("link", "set", h.veth, "master", p.bridge);
      ip("link", "set", h.veth, "up");
      ip("-n", h.netns, "addr", "add", `${h.address}/24`, "dev", "eth0");
      ip("-n", h.netns, "link", "set", "eth0", "up");
      ip("-n", h.netns, "link", "set", "lo", "up");
    }
    for (const h of [...p.etcd, ...p.nodes]) assertRouteOnBridge(h.address, p.bridge);
  } catch (e) {
    destroyNetns(p);
    throw e;
  }
}

/** Removes the namespaces (their veths go with them) and the bridge; missing pieces are fine. Run after their processes stopped. */
export function destroyNetns(p: NetnsPlan): void {
  for (const h of [...p.etcd, ...p.nodes]) {
    try {
      ip("netns", "del", h.netns);
    } catch {
      /* never created, or already gone */
    }
  }
  try {
    ip("link", "del", p.bridge);
  } catch {
    /* never created, or already gone */
  }
}

/** The command line that runs cmd inside netns (as root; `setpriv` drops to owner first when given). */
export function inNetns(
  netns: string | undefined,
  cmd: string,
  args: string[],
  owner?: { uid: number; gid: number },
): { cmd: string; args: string[] } {
  if (!netns) return { cmd, args };
  const drop = owner ? ["setpriv", `--reuid=${owner.uid}`, `--regid=${owner.gid}`, "--clear-groups", "--"] : [];
  // `ip netns exec` and setpriv both exec, so the pid the caller records is the program's own.
  return { cmd: "ip", args: ["netns", "exec", netns, ...drop, cmd, ...args] };
}
