/**
 * User-data variants rendered from fixed layouts (no Pulumi): the same `hostSpecs` the component
 * uses, with made-up addresses and ids. Used by the snapshot tests and the real-tool checks.
 */
import { ClusterLayout, hostSpecs } from "../../lib/userdata/hosts";
import { HostSpec } from "../../lib/userdata/spec";
import { HA_DEFAULTS } from "../../sidecar/contract/settings/schema";

const nodes = (n: number, base = 10) => Array.from({ length: n }, (_, i) => ({ name: `pg-${i}`, privateIp: `10.0.1.${base + i}` }));
const etcds = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `etcd-${i}`, privateIp: `10.0.2.${20 + i}` }));

function layout(over: Partial<ClusterLayout> & { nodeCount?: number; etcdCount?: number } = {}): ClusterLayout {
  const { nodeCount = 3, etcdCount = 3, ...rest } = over;
  const pg = nodes(nodeCount);
  const placement = rest.etcdPlacement ?? "dedicated";
  const etcdMembers = placement === "dedicated" ? etcds(etcdCount) : pg.slice(0, etcdCount);
  const hosts = [...pg, ...(placement === "dedicated" ? etcdMembers : [])];
  return {
    clusterName: "orders",
    ssmParameterPrefix: "/ha-postgres",
    architecture: "x86_64",
    sessionManager: true,
    bundle: { bucket: "orders-bundle-1a2b3c", key: "agent/hapg-agent.zip" },
    nodes: pg,
    etcdMembers,
    etcdPlacement: placement,
    volumeIds: Object.fromEntries(hosts.map((h, i) => [h.name, `vol-0abc00000000000${i}`])),
    postgres: {
      version: 17,
      allowedCidrs: ["10.0.0.0/16"],
      settings: { ...HA_DEFAULTS, postgres: { ...HA_DEFAULTS.postgres, parameters: { shared_buffers: "2GB", max_connections: 200 } } },
      routing: "haproxy",
      backup: { bucket: "orders-backup-4d5e6f", region: "us-east-1", endpoint: "s3.us-east-1.amazonaws.com", path: "/orders" },
    },
    ...rest,
  };
}

export interface Variant {
  /** File-name-safe id. */
  id: string;
  spec: HostSpec;
}

/** One spec per distinct kind of host in each supported layout. */
export function variants(): Variant[] {
  const dedicated = hostSpecs(layout());
  const colocated = hostSpecs(layout({ etcdPlacement: "colocated" }));
  const five = hostSpecs(layout({ nodeCount: 5, etcdCount: 5 }));
  // Also: an existing bucket whose name has dots (path-style requests), encrypted with a customer key.
  const existingBucket = {
    bucket: "backups.example.com",
    region: "eu-west-1",
    endpoint: "s3.eu-west-1.amazonaws.com",
    path: "/prod/orders",
    kmsKeyId: "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
  };
  const direct = hostSpecs(
    layout({ postgres: { ...layout().postgres, routing: "direct", backup: existingBucket }, sessionManager: false, architecture: "arm64" }),
  );
  const base = layout().postgres;
  const offSettings = { ...base.settings, watchdog: { ...base.settings.watchdog, mode: "off" as const } };
  const noWatchdog = hostSpecs(layout({ postgres: { ...base, settings: offSettings } }));
  // A cluster created from another cluster's backups (arg bootstrap), to a time, reading the source's passphrase in its region.
  const restore = {
    bucket: "orders-backup-4d5e6f",
    region: "eu-west-1",
    endpoint: "s3.eu-west-1.amazonaws.com",
    path: "/orders",
    stanza: "orders",
    cipherPassParameter: "/ha-postgres/orders/backup/repo-cipher-pass",
    target: { time: "2026-11-27T16:05:00Z" },
  };
  const ownBackup = { ...layout().postgres.backup!, path: "/orders-restored" };
  const restored = hostSpecs(layout({ clusterName: "orders-restored", postgres: { ...layout().postgres, backup: ownBackup, restore } }));
  // The largest layout the validation accepts: over 16 KB as plain text, well under it as EC2 gets it (gzip).
  const longRepo = (c: string) => ({
    bucket: c.repeat(63),
    region: "ap-southeast-4",
    endpoint: "s3.ap-southeast-4.amazonaws.com",
    path: `/${c.repeat(100)}`,
  });
  const largest = hostSpecs(
    layout({
      clusterName: "c".repeat(40),
      nodeCount: 9,
      etcdCount: 5,
      etcdPlacement: "colocated",
      postgres: {
        ...layout().postgres,
        backup: longRepo("b"),
        restore: {
          ...longRepo("d"),
          stanza: "s".repeat(40),
          cipherPassParameter: `/ha-postgres/${"s".repeat(40)}/backup/repo-cipher-pass`,
          target: { time: "2026-11-27T16:05:00Z" },
        },
      },
    }),
  );
  return [
    { id: "pg-node-dedicated-etcd", spec: dedicated[0] },
    { id: "etcd-member", spec: dedicated[3] },
    { id: "pg-node-colocated-etcd", spec: colocated[0] },
    { id: "pg-node-without-etcd-colocated-layout", spec: hostSpecs(layout({ etcdPlacement: "colocated", nodeCount: 4 }))[3] },
    { id: "pg-node-5-members", spec: five[4] },
    { id: "etcd-member-of-5", spec: five[9] },
    { id: "pg-node-direct-arm64-no-ssm", spec: direct[1] },
    { id: "pg-node-watchdog-off", spec: noWatchdog[1] },
    { id: "pg-node-restored-from-backup", spec: restored[0] },
    { id: "pg-node-9-colocated-restored", spec: largest[0] },
  ];
}
