import type { RecoveryTargetInput } from "../../sidecar/contract/recovery-target";
import type { HaSettings } from "../../sidecar/contract/settings/schema";

/**
 * Everything the user-data of one host depends on, as plain resolved values (no Outputs), so the
 * renderer is a pure function that tests call directly.
 */
export interface Member {
  /** Host name, e.g. "pg-0" or "etcd-1"; also the agent member name / etcd member name. */
  name: string;
  privateIp: string;
}

export interface SecretFile {
  /** SSM parameter name (SecureString for keys and passwords, String for certificates). */
  parameter: string;
  path: string;
  owner: string;
  /** Octal file mode as a string, e.g. "0600". */
  mode: string;
  /** The parameter's region when it is not the node's (a restore source's passphrase). */
  region?: string;
}

/** The backup repository as the node's pgBackRest addresses it: an S3 bucket, with the instance role's credentials. */
export interface BackupHostSpec {
  bucket: string;
  region: string;
  /** The S3 endpoint host, e.g. "s3.eu-west-1.amazonaws.com". */
  endpoint: string;
  /** pgBackRest's repo path: the cluster's prefix in the bucket, as an absolute path. */
  path: string;
  /** The customer KMS key objects are encrypted with (SSE-KMS), if any. */
  kmsKeyId?: string;
}

/**
 * The backups a restored cluster is created from (component arg `bootstrap`): the source's
 * repository, read with the instance role's credentials, its stanza, the SSM parameter holding its
 * passphrase (node-init writes it to a 0600 file) and the recovery target.
 */
export interface RestoreHostSpec {
  bucket: string;
  region: string;
  endpoint: string;
  /** The source's prefix as pgBackRest's repo path, e.g. "/orders". */
  path: string;
  stanza: string;
  cipherPassParameter: string;
  target: RecoveryTargetInput;
}

export interface PostgresHostSpec {
  version: number;
  /**
   * The seed members HAProxy and the CLI start with (the first nodes, ../topology/document.ts): the
   * agent rewrites HAProxy's backends from the topology at run time, so scaling changes no user-data.
   */
  members: Member[];
  /** CIDRs allowed in pg_hba (the VPC: clients arrive via the NLB or HAProxy, both inside it). */
  allowedCidrs: string[];
  /**
   * The HA settings as the component resolved them; the agent config carries them unchanged
   * (softdog is loaded unless watchdog.mode is "off").
   */
  settings: HaSettings;
  routing: "haproxy" | "direct";
  /**
   * The SSM parameter with the desired dynamic configuration (timing, lag limit, synchronous mode,
   * PostgreSQL parameters): the agent reads those there, so they are not in the user-data.
   */
  desiredConfigParameter: string;
  /** Present when backups are on. */
  backup?: BackupHostSpec;
  /** Present when the cluster is created from another cluster's backups. */
  restore?: RestoreHostSpec;
}

export interface EtcdHostSpec {
  /**
   * The members etcd bootstraps with (`etcdInitialMembers` of the topology). A later member joins the
   * running cluster instead (node-init's join step writes NODE_PATHS.etcdJoinEnv).
   */
  members: Member[];
}

export interface HostSpec {
  clusterName: string;
  /** This host's name, e.g. "pg-0" (also its etcd member name when colocated). */
  hostName: string;
  privateIp: string;
  architecture: "x86_64" | "arm64";
  /** S3 location of the agent bundle (zip). */
  bundle: { bucket: string; key: string };
  /** The EBS data volume id, e.g. "vol-0123..."; the boot script finds its NVMe device by serial. */
  dataVolumeId: string;
  /** Install the SSM agent for Session Manager. */
  sessionManager: boolean;
  /**
   * The AMI already has every package of `hostPackages` (egress "endpoints": no mirror is reachable),
   * so the user-data runs no apt step. Default: false (cloud-init installs them from the mirror).
   */
  packagesPreinstalled?: boolean;
  /**
   * The host's revision (../topology/revision.ts), in the node-init plan (`host`) so the host knows
   * what it booted. Absent while the revision itself is digested from the user-data.
   */
  revision?: string;
  /** The etcd client URLs the agent starts with (the bootstrap members; the topology has the rest). */
  etcdEndpoints: string[];
  /** The topology SSM parameter (String): the agents, etcd-join and host-report read it. */
  topologyParameter: string;
  /** Files node-init fetches from SSM. */
  secretFiles: SecretFile[];
  /** Present when PostgreSQL (with the agent and HAProxy) runs here. */
  postgres?: PostgresHostSpec;
  /** Present when an etcd member runs here. */
  etcd?: EtcdHostSpec;
}
