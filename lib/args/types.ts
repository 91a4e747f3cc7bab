/**
 * The one args interface of `HaPostgresCluster`. Every field is optional and documented with its
 * default; `validateClusterArgs` (./validate.ts) checks them and fills the defaults before any
 * resource is declared.
 */
import * as pulumi from "@pulumi/pulumi";
import type { HaSettings, HaSettingsInput, SynchronousMode, WatchdogInput, WatchdogMode } from "../../sidecar/contract/settings/schema";
import type { BootstrapArgs, FromBackupArgs, ResolvedBootstrap } from "./bootstrap";
import { PGBACKREST_SERVER_PORT } from "../../sidecar/contract/backup-config";

export type { HaSettings, HaSettingsInput, SynchronousMode, WatchdogInput, WatchdogMode };
export type { BootstrapArgs, FromBackupArgs, ResolvedBootstrap };

/** How the load balancer reaches the primary. */
export type Routing = "haproxy" | "direct";

/** Where the etcd members run. */
export type EtcdPlacement = "dedicated" | "colocated";

/** How the hosts reach S3, SSM and the Debian mirror (see `egress` below and lib/network/egress.ts). */
export type EgressMode = "auto" | "publicIp" | "nat" | "endpoints";

/** EBS volume types a data volume may use. */
export type VolumeType = "gp3" | "gp2" | "io1" | "io2";

export interface DataVolumeArgs {
  /** Size in GiB. Default: 50 for PostgreSQL, 10 for etcd. */
  sizeGiB?: number;
  /** EBS volume type. Default: "gp3". */
  type?: VolumeType;
  /** Provisioned IOPS: gp3 3000–16000 (default 3000, AWS's baseline), required for io1/io2; not allowed for gp2. */
  iops?: number;
  /** gp3 throughput in MiB/s, 125–1000. Default: 125 (AWS's baseline). Only for gp3. */
  throughputMiBps?: number;
}

/**
 * PostgreSQL version, and the HA settings under `postgres` (sidecar/contract/settings/schema.ts):
 * `parameters` (extra postgresql.conf parameters, e.g. `{ shared_buffers: "2GB" }`; those the cluster
 * manages itself — listen_addresses, port, ssl*, hba_file, data_directory... — are refused; default
 * none) and `usePgRewind` (default true).
 */
export interface PostgresArgs extends NonNullable<HaSettingsInput["postgres"]> {
  /**
   * PostgreSQL major version, installed as the Debian package `postgresql-<version>`.
   * Default: 17 (what Debian 13 "trixie" ships). Another version needs an AMI whose apt sources have it.
   */
  version?: number;
}

export interface EtcdArgs {
  /** Number of etcd members: 3 (survives one failure) or 5 (survives two). Default: 3. */
  members?: number;
  /**
   * "dedicated": small instances of their own (the default: a busy database cannot starve etcd's
   * heartbeats). "colocated": etcd runs on the PostgreSQL nodes; then `members` must not exceed
   * `nodeCount`, and the first `members` nodes carry it.
   */
  placement?: EtcdPlacement;
  /** Instance type of dedicated etcd members. Default: "t3.small" ("t4g.small" on arm64). */
  instanceType?: string;
  /** Data volume of each dedicated etcd member. Default: 10 GiB gp3, encrypted. */
  dataVolume?: DataVolumeArgs;
}

/**
 * Backups to S3 with pgBackRest: continuous WAL archiving and scheduled base backups, so a cluster can
 * be restored to any point inside the retention (README, "Backups on AWS"). On by default, as RDS
 * keeps automated backups by default: a cluster that loses all its nodes, or a `DROP TABLE`, is
 * otherwise unrecoverable, and the cost (S3 storage of the compressed backups and WAL) is small
 * next to the instances. `enabled: false` is the explicit opt-out.
 */
export interface BackupArgs {
  /** Archive WAL and take base backups. Default: true. */
  enabled?: boolean;
  /**
   * An existing bucket to keep the backups in (its versioning, encryption and policies are the
   * owner's, left as they are). Default: the component creates one, with versioning, default
   * encryption, public access blocked, a TLS-only policy and lifecycle rules that follow the retention.
   */
  bucketName?: pulumi.Input<string>;
  /**
   * Key prefix of this cluster's repository in the bucket; the instance role may list, read and write
   * only under it. Default: the cluster name.
   */
  prefix?: string;
  /**
   * ARN of the KMS key the bucket encrypts with (SSE-KMS); the instance role may use it, through S3
   * only. Default: a created bucket uses the cluster's `kmsKeyId`, else SSE-S3 (AES-256, no KMS
   * charges); an existing bucket is taken to need no customer key.
   */
  kmsKeyArn?: pulumi.Input<string>;
  /**
   * Let `pulumi destroy` delete a created bucket that still holds backups. Default: false — like
   * RDS's retained backups, the backups outlive the stack unless you say otherwise.
   */
  forceDestroy?: boolean;
}

export interface ListenerPortsArgs {
  /** NLB port that reaches the primary (read-write). Default: 5432. */
  primary?: number;
  /** NLB port that reaches the replicas (read-only, round robin). Default: 5433. */
  replica?: number;
}

/**
 * The component's args. The HA settings (`timing`, `maximumLagOnFailover`, `synchronousMode`, `synchronousQuorum`,
 * `watchdog`, `failsafeMode`, and `postgres.parameters` / `postgres.usePgRewind`) are the agent's own, defined with
 * their defaults and rules in sidecar/contract/settings/schema.ts: every node's agent config carries them as given.
 */
export interface HaPostgresClusterArgs extends Omit<HaSettingsInput, "postgres"> {
  /** VPC to deploy into. Default: the VPC of `subnetIds`, or the account's default VPC. */
  vpcId?: pulumi.Input<string>;
  /**
   * Subnets for the nodes, etcd and the load balancer, in at least 2 availability zones (3 lets
   * etcd survive a zone outage). Nodes are spread round robin over the zones.
   * Default: the default-for-zone subnets of the default VPC. An Output of a list (e.g. awsx's
   * `vpc.privateSubnetIds`) works too; its count is then checked at deploy time.
   */
  subnetIds?: pulumi.Input<pulumi.Input<string>[]>;
  /** Number of PostgreSQL nodes (one primary, the rest replicas), 2–9. Default: 3. */
  nodeCount?: number;
  /** Instance type of the PostgreSQL nodes. Default: "m7i.large" ("m7g.large" on arm64). */
  instanceType?: string;
  /** CPU architecture of every instance; instance types must match it. Default: "x86_64". */
  architecture?: "x86_64" | "arm64";
  /**
   * AMI of every instance. Default: the newest official Debian 13 AMI for `architecture`, looked up
   * at deploy time (owner 136693071363, Debian's cloud team). Any Debian-based AMI with cloud-init works.
   */
  amiId?: pulumi.Input<string>;
  /**
   * How every host (PostgreSQL nodes and dedicated etcd members) reaches S3 (the agent bundle), SSM
   * (secrets, Session Manager) and the Debian mirror (packages). Checked at preview against each host's
   * subnet route table; a placement with no way out is refused. Default: "auto".
   * - "auto": per subnet, from its route table: 0.0.0.0/0 to an internet gateway → "publicIp"; to a NAT
   *   gateway, NAT instance or transit gateway → "nat"; no default route → refused.
   * - "publicIp": an Elastic IP on each host's network interface (AWS gives no public address to an
   *   instance launched on an existing interface). Needs a route to an internet gateway. Costs
   *   $0.005/h (~$3.60/month) per address, 6 with the defaults; the default quota is 5 per region. No
   *   inbound rule from the internet is added.
   * - "nat": the subnets already route 0.0.0.0/0 to a NAT gateway (or NAT instance, transit gateway);
   *   nothing is added. The NAT's own hourly and per-GB charges apply.
   * - "endpoints": no route out: the component adds an S3 gateway endpoint (free) on the subnets' route
   *   tables and SSM interface endpoints (ssm; ssmmessages and ec2messages with `sessionManager`), each
   *   billed per AZ-hour and per GB. The Debian mirror is then unreachable, so `amiId` is required: an
   *   AMI with the packages preinstalled (the user-data then installs none).
   */
  egress?: EgressMode;
  /** EC2 key pair for SSH. Default: none — use Session Manager (`aws ssm start-session`). */
  sshKeyName?: pulumi.Input<string>;
  /** Install the SSM agent and grant Session Manager access. Default: true. */
  sessionManager?: boolean;
  /** PostgreSQL version and parameters, and `usePgRewind`. Default: version 17, no extra parameters, pg_rewind used. */
  postgres?: PostgresArgs;
  /** The data volume of each PostgreSQL node (kept when the instance is replaced). Default: 50 GiB gp3, encrypted. */
  dataVolume?: DataVolumeArgs;
  /**
   * KMS key (id, ARN or "alias/name"; looked up to its ARN) for every EBS volume (root and data)
   * and the SSM SecureString parameters; the instance role may decrypt with it.
   * Default: the AWS-managed keys (aws/ebs and aws/ssm).
   */
  kmsKeyId?: pulumi.Input<string>;
  /** etcd cluster options. Default: 3 dedicated t3.small members. */
  etcd?: EtcdArgs;
  /**
   * "haproxy" (default): the NLB targets HAProxy on every node, which checks each member's agent
   * `/primary` every second and forwards there; failover is seen within ~2 s and the NLB never
   * has to change its mind. "direct": the NLB targets PostgreSQL with an HTTP check of the agent's
   * `/primary` on port 8008; AWS needs ≥ 2 checks × ≥ 5 s to mark a target down or up, so failover
   * takes ≥ 10–20 s longer, and when no target is healthy the NLB sends to all of them (fail open).
   */
  routing?: Routing;
  /** NLB listener ports. Default: primary 5432, replica 5433. */
  listenerPorts?: ListenerPortsArgs;
  /** Make the NLB internet-facing (it needs public subnets then). Default: false (internal). */
  publicLoadBalancer?: boolean;
  /**
   * CIDR blocks allowed to connect to the listeners, e.g. ["10.0.0.0/16"]. Default: none — clients
   * join `clientSecurityGroupId` instead. "0.0.0.0/0" opens the listeners to everyone: only if you mean it.
   */
  allowedCidrs?: string[];
  /** Security groups whose members may connect to the listeners. Default: none (besides `clientSecurityGroupId`). */
  allowedSecurityGroupIds?: pulumi.Input<string>[];
  /**
   * Cluster name: the etcd scope, the SSM path segment and the `Name` tag prefix.
   * Default: the component's resource name. Letters, digits, '-', max 40 characters.
   */
  clusterName?: string;
  /** Prefix of the SSM parameter names: `<prefix>/<clusterName>/...`. Default: "/ha-postgres". */
  ssmParameterPrefix?: string;
  /**
   * The agent bundle uploaded to S3 and unpacked on every node. Default: an archive of this
   * package's built `dist/sidecar` plus `package.json` and its production `node_modules` (run
   * `npm run build` first).
   */
  agentBundle?: pulumi.asset.Archive;
  /**
   * Create the cluster from another cluster's backups (a clone, or a point-in-time restore) instead
   * of an empty database: `{ fromBackup: { clusterName, bucketName }, targetTime }` (see `BootstrapArgs`).
   * Read only when the cluster is first created. Default: an empty database (initdb).
   */
  bootstrap?: BootstrapArgs;
  /** Backups to S3 with pgBackRest (see `BackupArgs`). Default: on, in a bucket the component creates. */
  backup?: BackupArgs;
  /** Tags added to every taggable resource. Default: none (a `ha-postgres:cluster` tag is always added). */
  tags?: Record<string, string>;
}

/** Data volume settings after defaults. */
export interface ResolvedDataVolume {
  sizeGiB: number;
  type: VolumeType;
  iops?: number;
  throughputMiBps?: number;
}

/** Backups after defaults (absent when they are off). */
export interface ResolvedBackup {
  bucketName?: pulumi.Input<string>;
  prefix: string;
  kmsKeyArn?: pulumi.Input<string>;
  forceDestroy: boolean;
  /** How far back a restore may reach, in days (from `backupPolicy`'s retention and schedule): the lifecycle rules follow it. */
  retentionDays: number;
}

/** The args after validation, with every default filled in. Output-typed inputs pass through unchanged. */
export interface ResolvedClusterArgs {
  vpcId?: pulumi.Input<string>;
  subnetIds?: pulumi.Input<pulumi.Input<string>[]>;
  nodeCount: number;
  instanceType: string;
  architecture: "x86_64" | "arm64";
  amiId?: pulumi.Input<string>;
  egress: EgressMode;
  sshKeyName?: pulumi.Input<string>;
  sessionManager: boolean;
  postgres: { version: number };
  /** The HA settings with their defaults, handed unchanged to every node's agent config. */
  settings: HaSettings;
  dataVolume: ResolvedDataVolume;
  kmsKeyId?: pulumi.Input<string>;
  etcd: { members: number; placement: EtcdPlacement; instanceType: string; dataVolume: ResolvedDataVolume };
  routing: Routing;
  listenerPorts: { primary: number; replica: number };
  publicLoadBalancer: boolean;
  allowedCidrs: string[];
  allowedSecurityGroupIds: pulumi.Input<string>[];
  clusterName: string;
  ssmParameterPrefix: string;
  agentBundle?: pulumi.asset.Archive;
  /** Absent: initdb. */
  bootstrap?: ResolvedBootstrap;
  backup?: ResolvedBackup;
  tags: Record<string, string>;
}

/** Fixed ports on the nodes (see docs/architecture.md, "Ports"). */
export const NODE_PORTS = {
  postgres: 5432,
  agentApi: 8008,
  haproxyPrimary: 5000,
  haproxyReplica: 5001,
  etcdClient: 2379,
  etcdPeer: 2380,
  /** pgBackRest's TLS server (backups on): a replica taking a backup reaches the primary through it. */
  pgbackrestServer: PGBACKREST_SERVER_PORT,
} as const;

export const DEFAULTS = {
  nodeCount: 3,
  instanceType: { x86_64: "m7i.large", arm64: "m7g.large" },
  etcdInstanceType: { x86_64: "t3.small", arm64: "t4g.small" },
  architecture: "x86_64",
  egress: "auto",
  postgresVersion: 17,
  dataVolumeGiB: 50,
  etcdVolumeGiB: 10,
  volumeType: "gp3",
  etcdMembers: 3,
  etcdPlacement: "dedicated",
  routing: "haproxy",
  listenerPorts: { primary: 5432, replica: 5433 },
  ssmParameterPrefix: "/ha-postgres",
  /** Backups are on unless turned off (see `BackupArgs`). */
  backupEnabled: true,
} as const;
