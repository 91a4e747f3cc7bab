/**
 * The smallest program: 3 PostgreSQL nodes (m7i.large) + 3 etcd members (t3.small) in the default
 * VPC, an internal NLB on 5432 (primary) / 5433 (replicas). The default VPC's subnets route to an
 * internet gateway, so egress "auto" gives each of the 6 hosts an Elastic IP for its outbound traffic
 * (nothing inbound): the region's Elastic IP quota (5 by default) must allow 6. In your project import
 * from "ha-postgres-cluster" instead of "../../lib".
 */
import { HaPostgresCluster } from "../../lib";

const db = new HaPostgresCluster("minimal");

export const primaryEndpoint = db.primaryEndpoint;
export const primaryPort = db.primaryPort;
export const superuserPasswordParameter = db.superuserPasswordParameterName;
export const clientSecurityGroupId = db.clientSecurityGroupId;
/** The hosts' outbound addresses (e.g. for a firewall's allow-list elsewhere). */
export const publicIps = db.publicIps;
