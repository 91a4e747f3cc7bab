/**
 * The repository root as a ready Pulumi program: one HaPostgresCluster whose every arg comes from
 * stack config (`pulumi config set ha-postgres:nodeCount 5`); see Pulumi.dev.yaml / Pulumi.prod.yaml.
 */
import * as pulumi from "@pulumi/pulumi";
import { argsFromStackConfig, HaPostgresCluster } from "./lib";

const args = argsFromStackConfig();
const cluster = new HaPostgresCluster(args.clusterName ?? `pg-${pulumi.getStack()}`, args);

export const primaryEndpoint = cluster.primaryEndpoint;
export const primaryPort = cluster.primaryPort;
export const replicaEndpoint = cluster.replicaEndpoint;
export const replicaPort = cluster.replicaPort;
export const superuserPasswordParameterName = cluster.superuserPasswordParameterName;
export const replicationPasswordParameterName = cluster.replicationPasswordParameterName;
export const caCertificatePem = cluster.caCertificatePem;
export const nodePrivateIps = cluster.nodePrivateIps;
export const etcdPrivateIps = cluster.etcdPrivateIps;
export const clientSecurityGroupId = cluster.clientSecurityGroupId;
export const publicIps = cluster.publicIps;
export const egress = cluster.egress;
export const backupBucketName = cluster.backupBucketName;
export const backupCipherPassParameterName = cluster.backupCipherPassParameterName;
