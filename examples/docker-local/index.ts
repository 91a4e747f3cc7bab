/**
 * The cluster on this machine's Docker engine: 3 PostgreSQL containers with their agents, 3 etcd
 * containers, HAProxy publishing the primary on 127.0.0.1:5432 and the replicas on 127.0.0.1:5433,
 * synchronous replication (no failover loses an acknowledged commit). The image is built from the
 * repository's docker/Dockerfile on debian:trixie. In your project import from "ha-postgres-cluster"
 * instead of "../../lib".
 *
 *   pulumi up
 *   psql "$(pulumi stack output primaryUrl)"      # password: pulumi stack output --show-secrets superuserPassword
 *   docker exec dev-pg-0 hapg list
 */
import * as pulumi from "@pulumi/pulumi";
import { HaPostgresDockerCluster } from "../../lib";

const config = new pulumi.Config();
const db = new HaPostgresDockerCluster("dev", {
  nodeCount: config.getNumber("nodeCount") ?? 3,
  synchronousMode: "on",
  postgres: { parameters: { shared_buffers: "128MB" } },
});

export const primaryUrl = db.primaryConnectionString;
export const replicaUrl = db.replicaConnectionString;
export const superuserPassword = db.superuserPassword;
export const apiPassword = db.apiPasswordLocation;
export const containers = db.nodeContainers;
