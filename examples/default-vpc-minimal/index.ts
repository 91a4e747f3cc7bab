/**
 * The smallest program: 3 PostgreSQL nodes (m7i.large) + 3 etcd members (t3.small) in the default
 * VPC, an internal NLB on 5432 (primary) / 5433 (replicas). In your project import from
 * "ha-postgres-cluster" instead of "../../lib".
 */
import { HaPostgresCluster } from "../../lib";

const db = new HaPostgresCluster("minimal");

export const primaryEndpoint = db.primaryEndpoint;
export const primaryPort = db.primaryPort;
export const superuserPasswordParameter = db.superuserPasswordParameterName;
export const clientSecurityGroupId = db.clientSecurityGroupId;
