/**
 * An existing VPC: the private subnets (tag tier=private) of `vpcId`, 5 etcd members (survive two
 * failures), 500 GiB gp3 data volumes with more IOPS, memory-optimised nodes, and access from the
 * VPC's own range. `pulumi config set vpcId vpc-0123...` first.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { HaPostgresCluster } from "../../lib";

const config = new pulumi.Config();
const vpcId = config.require("vpcId");
const privateSubnets = aws.ec2.getSubnetsOutput({
  filters: [
    { name: "vpc-id", values: [vpcId] },
    { name: "tag:tier", values: ["private"] },
  ],
});

const db = new HaPostgresCluster("orders", {
  vpcId,
  subnetIds: privateSubnets.ids,
  // Private subnets: the nodes get out through the VPC's NAT gateway (refused at preview if they have none).
  egress: "nat",
  nodeCount: 3,
  instanceType: "r7i.xlarge",
  etcd: { members: 5, dataVolume: { sizeGiB: 20 } },
  dataVolume: { sizeGiB: 500, type: "gp3", iops: 12000, throughputMiBps: 500 },
  postgres: { parameters: { shared_buffers: "8GB", effective_cache_size: "24GB", max_connections: 400 } },
  allowedCidrs: ["10.0.0.0/16"],
  tags: { team: "orders", environment: "production" },
});

export const primaryEndpoint = db.primaryEndpoint;
export const replicaEndpoint = db.replicaEndpoint;
export const nodePrivateIps = db.nodePrivateIps;
export const etcdPrivateIps = db.etcdPrivateIps;
