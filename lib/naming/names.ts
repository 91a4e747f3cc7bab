/**
 * Names of children, hosts, SSM parameters and tags, in one place so that tests, user-data and
 * IAM policies agree on them.
 */

/** The component's type token. */
export const COMPONENT_TYPE = "ha-postgres:index:HaPostgresCluster";

/** Tag that marks every resource of one cluster (handy for cost reports and IAM conditions). */
export const CLUSTER_TAG = "ha-postgres:cluster";

/** Tag naming the host (`pg-0`, `etcd-1`) an instance, interface, data volume or group belongs to. */
export const HOST_TAG = "ha-postgres:host";

/** Child resource name: `${name}-<role>`, the convention every child follows. */
export function childName(name: string, role: string): string {
  return `${name}-${role}`;
}

/** The most PostgreSQL nodes a cluster may have (args validation refuses more). */
export const MAX_NODE_COUNT = 9;

/** Host names: PostgreSQL nodes `pg-0..`, dedicated etcd members `etcd-0..`. Also the agent member names. */
export function nodeHostName(index: number): string {
  return `pg-${index}`;
}
export function etcdHostName(index: number): string {
  return `etcd-${index}`;
}

/** SSM parameter names of one cluster. Everything lives under one path so IAM can scope to it. */
export function parameterPath(prefix: string, clusterName: string): string {
  return `${prefix}/${clusterName}`;
}
export function parameterNames(prefix: string, clusterName: string) {
  const base = parameterPath(prefix, clusterName);
  return {
    superuserPassword: `${base}/postgres/superuser-password`,
    replicationPassword: `${base}/postgres/replication-password`,
    /** HTTP basic auth of the agents' API calls that change something (switchover, failover). */
    apiPassword: `${base}/agent/api-password`,
    /** The desired dynamic configuration (String, not secret): the leader converges etcd's config key to it. */
    dynamicConfig: `${base}/agent/dynamic-config`,
    caCertificate: `${base}/tls/ca.crt`,
    hostCertificate: (host: string) => `${base}/tls/${host}.crt`,
    hostKey: (host: string) => `${base}/tls/${host}.key`,
    /** pgBackRest's repo-cipher-pass: the backup repository's encryption passphrase. */
    backupCipherPass: `${base}/backup/repo-cipher-pass`,
    /** The topology (String, not secret): hosts, fixed IPs, revisions, etcd members (sidecar/topology/schema.ts). */
    topology: `${base}/topology`,
  };
}

/** Tags for a resource: the user's, the cluster tag and a Name. */
export function resourceTags(userTags: Record<string, string>, clusterName: string, nameTag?: string): Record<string, string> {
  return { ...userTags, [CLUSTER_TAG]: clusterName, ...(nameTag ? { Name: nameTag } : {}) };
}
