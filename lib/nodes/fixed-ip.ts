/**
 * A host's fixed private IP, kept outside any instance: a /32 subnet CIDR reservation of type
 * "explicit" (EC2 never auto-assigns an address from it to another interface, and it outlives every
 * instance), assigned at boot by the host itself as a secondary private IP of its primary interface
 * (`assign-private-ip-addresses --allow-reassignment`, sidecar/boot/claim.ts). Chosen over an ENI
 * attached as device 1 because a secondary IP of the primary interface needs no source routing on the
 * host: replies leave by the interface that owns the address. See docs/day2.md.
 *
 * The address itself is chosen here, by a pure function: the reservation API takes a CIDR, not a
 * count. Hosts take addresses counted down from the top of their subnet (AWS keeps the last one),
 * shifted by a digest of the cluster name so two clusters in one subnet rarely meet; a collision
 * (an address already in use or reserved) fails CreateSubnetCidrReservation before any instance exists.
 */
import { createHash } from "node:crypto";

/** Offsets of the hosts within a cluster's window: PostgreSQL nodes first, dedicated etcd members after. */
export const ETCD_SLOT_BASE = 16;
/** Addresses a cluster's window spans in its subnet: every node (≤ 9) and every etcd member (≤ 5). */
export const WINDOW = ETCD_SLOT_BASE + 8;

function ipToInt(ip: string): number {
  const parts = ip.split(".").map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`not an IPv4 address: ${ip}`);
  return ((parts[0] << 24) >>> 0) + (parts[1] << 16) + (parts[2] << 8) + parts[3];
}

function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

/** The host's slot in its cluster's window: `pg-i` → i, `etcd-j` → ETCD_SLOT_BASE + j. Stable as the cluster grows. */
export function hostSlot(host: string): number {
  const m = /^(pg|etcd)-(\d+)$/.exec(host);
  if (!m) throw new Error(`fixedIp: unknown host name ${host}`);
  return (m[1] === "pg" ? 0 : ETCD_SLOT_BASE) + Number(m[2]);
}

/**
 * The fixed IP of `host` of cluster `clusterName` in a subnet of `subnetCidr`. Throws, naming the
 * subnet, when the subnet is too small to hold a cluster's window.
 */
export function fixedIp(subnetCidr: string, clusterName: string, host: string): string {
  const [base, bitsText] = subnetCidr.split("/");
  const bits = Number(bitsText);
  if (!Number.isInteger(bits) || bits < 16 || bits > 28) throw new Error(`fixedIp: subnet CIDR ${subnetCidr}: AWS subnets are /16 to /28`);
  const size = 2 ** (32 - bits);
  const network = (ipToInt(base) & ~(size - 1)) >>> 0;
  // AWS reserves the first four addresses and the last one of every subnet.
  const usable = size - 5;
  if (usable < WINDOW) {
    throw new Error(
      `subnetIds: subnet ${subnetCidr} has ${usable} usable addresses; the cluster's fixed addresses need ${WINDOW}: use a /26 or larger subnet`,
    );
  }
  // Clusters sharing a subnet take different windows (by a digest of the name), as far as the subnet allows.
  const windows = Math.min(Math.floor(usable / WINDOW), 64);
  const shift = (createHash("sha256").update(clusterName).digest().readUInt32BE(0) % windows) * WINDOW;
  const top = network + size - 2; // the last usable address
  return intToIp((top - shift - hostSlot(host)) >>> 0);
}
