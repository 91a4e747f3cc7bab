/**
 * The boot rehearsal's plan: names, addresses and choices, and the pure helpers that derive things
 * from them (tested in test/unit/boot-plan.test.ts). Everything that creates or starts something
 * takes its names from here, so the cleanup removes exactly what the rehearsal made.
 *
 * Addresses: one /24 on a bridge of our own. It is neither 10.213.0.0/16 (`hapg local --netns`) nor
 * the host's network; the runner refuses to start when any host route or address overlaps it.
 *   bridge (host side): .1   — the S3/SSM stand-ins and the NLB stand-in listen here
 *   PostgreSQL node i:  .11+i
 *   dedicated etcd i:   .21+i
 *   PostgreSQL node i of the cluster restored from the first one's backups (RESTORED_CLUSTER): .31+i
 *   its dedicated etcd member i (the probe's layout; never booted):                       .41+i
 */
import { createHash } from "node:crypto";
import type { HaPostgresClusterArgs } from "../../lib";

export const SUBNET_PREFIX = "10.231.9";
export const SUBNET = `${SUBNET_PREFIX}.0/24`;
export const GATEWAY = `${SUBNET_PREFIX}.1`;
export const BRIDGE = "hapgboot0";
/** The fake VPC's id and the subnets' ids the mocked AWS lookups answer with. */
export const REGION = "eu-west-3";
export const ZONES = ["eu-west-3a", "eu-west-3b", "eu-west-3c"];
/** The instance role's stand-in credentials (what the emulated IMDS hands out). */
export const ROLE_NAME = "rehearsal-node-role";
/** Ports of the host-side stand-ins (on GATEWAY). */
export const S3_PORT = 9330;
export const SSM_PORT = 9331;
/** The EC2 API stand-in (the boot claim's DescribeVolumes), on GATEWAY. */
export const EC2_PORT = 9332;
/** The EC2 Auto Scaling API stand-in (the roll's TerminateInstanceInAutoScalingGroup), on GATEWAY. */
export const ASG_PORT = 9333;
/** The backup repository's S3 stand-in (HTTPS); the containers reach it as port 443 of the bridge address. */
export const S3_REPO_PORT = 33643;
/** The stand-ins' endpoints as the AWS CLI takes them (service-specific endpoint variables). Pure. */
export function awsEndpoints(): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_S3: `http://${GATEWAY}:${S3_PORT}`,
    AWS_ENDPOINT_URL_SSM: `http://${GATEWAY}:${SSM_PORT}`,
    AWS_ENDPOINT_URL_EC2: `http://${GATEWAY}:${EC2_PORT}`,
    AWS_ENDPOINT_URL_AUTO_SCALING: `http://${GATEWAY}:${ASG_PORT}`,
  };
}

/** cgroups of the containers live under this name in each hierarchy the runner uses. */
export const CGROUP_ROOT = "hapg-boot";
/** Where prepared root file systems are cached between runs. */
export const CACHE_DIR = process.env.HAPG_BOOT_CACHE ?? "/var/cache/hapg-boot";
/** Debian release the AMI is built from (the component looks up Debian 13 AMIs). */
export const SUITE = "trixie";

/**
 * The synchronous-mode setting the fault scenarios need ("0 acknowledged writes lost"). One place,
 * so a change of the setting's type is a one-line change here.
 */
export const SYNCHRONOUS_ARGS: Pick<HaPostgresClusterArgs, "synchronousMode"> = { synchronousMode: "on" };

export type Topology = "dedicated" | "colocated";

/**
 * The component args of a rehearsal: the defaults a user gets, plus synchronous mode and small
 * PostgreSQL memory settings (two cores and several containers share this machine).
 */
export function rehearsalArgs(topology: Topology): HaPostgresClusterArgs {
  return {
    ...SYNCHRONOUS_ARGS,
    ...(topology === "colocated" ? { etcd: { placement: "colocated" } } : {}),
    postgres: { parameters: { shared_buffers: "32MB", max_connections: 50 } },
  };
}

/**
 * The component name of the second cluster some runs deploy: created from the first cluster's
 * backups (`bootstrap.fromBackup`), on hosts of its own.
 */
export const RESTORED_CLUSTER = "rehearsal-restored";

/**
 * The rehearsal-wide key of host `host` (pg-N, etcd-N) of the component `component`: its machine,
 * namespace, volume and address are named by it. The restored cluster's hosts are "r" + name. Pure.
 */
export function hostKey(component: string, host: string): string {
  return component === RESTORED_CLUSTER ? `r${host}` : host;
}

/**
 * How much of the restored cluster a run boots: "cluster", all of it (three nodes with etcd on them,
 * the lightest layout that still has two replicas to build); "probe", only its first PostgreSQL node
 * (etcd dedicated and never booted), enough to see node-init and the agent's restore checks pass.
 */
export type RestoreMode = "cluster" | "probe";

/**
 * The restored cluster's args: created from the first cluster's backups up to `targetTime`, archiving
 * into a prefix and stanza of its own in the same bucket (its role may write there, only read the source's).
 */
export function restoredArgs(
  source: { clusterName: string; bucketName: string },
  targetTime: string,
  mode: RestoreMode = "cluster",
): HaPostgresClusterArgs {
  return {
    ...SYNCHRONOUS_ARGS,
    ...(mode === "cluster" ? { etcd: { placement: "colocated" as const } } : {}),
    postgres: { parameters: { shared_buffers: "32MB", max_connections: 50 } },
    backup: { bucketName: source.bucketName },
    bootstrap: { fromBackup: { clusterName: source.clusterName, bucketName: source.bucketName }, targetTime },
  };
}

/** Address of the host with key `key` (pg-N, etcd-N, or rpg-N / retcd-N of the restored cluster) on the rehearsal's bridge. Pure. */
export function hostAddress(key: string): string {
  const m = /^(pg|etcd|rpg|retcd)-(\d+)$/.exec(key);
  if (!m) throw new Error(`rehearsal: no address for host "${key}" (expected pg-N or etcd-N)`);
  const i = Number(m[2]);
  if (i > 8) throw new Error(`rehearsal: host index ${i} too high (at most 9 hosts of a kind)`);
  return `${SUBNET_PREFIX}.${{ pg: 11, etcd: 21, rpg: 31, retcd: 41 }[m[1] as "pg" | "etcd" | "rpg" | "retcd"] + i}`;
}

/** A plausible EBS volume id for a host (vol- and 17 hex digits), stable per host name. Pure. */
export function volumeIdFor(host: string): string {
  return `vol-0${createHash("sha256").update(`hapg-boot/${host}`).digest("hex").slice(0, 16)}`;
}

/**
 * The path the boot script waits for: the NVMe by-id link udev makes on EC2 for an EBS volume
 * (serial = the volume id without its dash). Pure; the boot script computes the same from its id.
 */
export function ebsDevicePath(volumeId: string): string {
  return `/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${volumeId.replace(/-/g, "")}`;
}

/** Names of what the rehearsal creates for one host. Pure. */
export function hostNames(host: string) {
  return {
    netns: `hapgboot-${host}`,
    /** Host side of the veth (at most 15 characters). */
    veth: `hb-${host}`,
    machine: `hapg-${host}`,
    cgroup: `${CGROUP_ROOT}/${host}`,
  };
}

/**
 * What the Debian cloud AMI has before cloud-init runs, beyond `debootstrap --variant=minbase`:
 * the init system, cloud-init itself, and the tools the boot script calls that come with the image
 * (mkfs.ext4, blkid, ip, modprobe), and sshd (cloud-init makes its host keys).
 */
export const AMI_BASE_PACKAGES = [
  "systemd",
  "systemd-sysv",
  "dbus",
  "udev",
  "cloud-init",
  "openssh-server",
  "ca-certificates",
  "e2fsprogs",
  "iproute2",
  "kmod",
  "procps",
];

/**
 * Every package the rootfs gets: the AMI's base plus each package the user-data installs (sorted,
 * deduplicated), so cloud-init's package step finds them installed (containers have no route out).
 */
export function rootfsPackages(userDataPackages: string[][]): string[] {
  return [...new Set([...AMI_BASE_PACKAGES, ...userDataPackages.flat()])].sort();
}

/** Cache key of a rootfs: the suite, the mirror and the package list (a change rebuilds it). Pure. */
export function rootfsKey(mirror: string, packages: string[]): string {
  return createHash("sha256")
    .update(JSON.stringify({ suite: SUITE, mirror, packages, v: 1 }))
    .digest("hex")
    .slice(0, 16);
}

/**
 * The Debian mirror apt uses on this host, from its sources (one-line or deb822 format): the first
 * http(s) URI that serves Debian's main archive (not -security, not a third-party repository). Pure.
 */
export function debianMirror(sources: string[]): string | undefined {
  for (const text of sources) {
    for (const line of text.split("\n")) {
      const t = line.trim();
      if (t.startsWith("#")) continue;
      const uris = /^URIs:\s*(.+)$/i.exec(t)?.[1]?.split(/\s+/) ?? /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)/.exec(t)?.slice(1) ?? [];
      const found = uris.find((u) => /^https?:\/\/.+\/debian\/?$/.test(u));
      if (found) return found.replace(/\/$/, "");
    }
  }
  return undefined;
}
