/**
 * The cluster's topology: which hosts should exist, at which fixed address, running which revision.
 * The component publishes it on every `pulumi up` (an SSM parameter, String, not secret); the local
 * cluster keeps it in a file. Nodes read it at boot and the agents poll it at run time, so a change of
 * membership or of a host's launch inputs reaches running nodes without first-boot user-data:
 *  - HAProxy's backends are `nodes` (the agent rewrites its config when they change);
 *  - etcd's members are `etcd`: a member missing from etcd's member list joins by runtime
 *    reconfiguration (member add); one in the list but not here is removed by the leader's agent;
 *  - a host whose running revision (its `hosts/<name>` key in etcd, written at boot) differs from the
 *    `revision` here is replaced, one host at a time, the leader last after a switchover.
 */
import { z } from "zod";

/** Host names as the component names them: `pg-0..`, `etcd-0..` (also the agents' member names). */
export const hostNameSchema = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,30}$/, "must be a host name such as pg-0 or etcd-1 (lower case, digits, '-')");

const ipv4 = z.string().regex(/^(\d{1,3})(\.\d{1,3}){3}$/, "must be an IPv4 address such as 10.0.1.10");

export const topologyHostSchema = z
  .object({
    name: hostNameSchema,
    /** The host's fixed private address: it outlives every instance of the host. */
    ip: ipv4,
    /**
     * What the host should run: a digest of everything its instance is launched from (image, instance
     * type, user-data, data volume size and performance). A host running another revision is stale.
     */
    revision: z.string().min(1),
    /**
     * Ports other than the standard ones (./addresses.ts STANDARD_PORTS). Only the local cluster, whose hosts
     * share 127.0.0.1, sets them; the component leaves them out.
     */
    ports: z
      .object({
        postgres: z.number().int().min(1).max(65535).optional(),
        api: z.number().int().min(1).max(65535).optional(),
        etcdClient: z.number().int().min(1).max(65535).optional(),
        etcdPeer: z.number().int().min(1).max(65535).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export const topologySchema = z
  .object({
    version: z.literal(1, { message: "must be 1 (this agent reads topology version 1)" }),
    /** PostgreSQL nodes: HAProxy routes to these, and only these may hold a member key. */
    nodes: z.array(topologyHostSchema).min(1),
    /**
     * etcd members. Colocated members have the name and address of the node they run on; dedicated
     * members are hosts of their own (`etcd-N`) with a revision of their own.
     */
    etcd: z.array(topologyHostSchema).min(1),
    /**
     * The members etcd was first bootstrapped with (`initial-cluster-state=new`). Only these may
     * bootstrap, and only with an empty data directory and no running cluster; every later member
     * joins the running cluster by `member add`.
     */
    etcdInitialMembers: z.array(hostNameSchema).min(1),
  })
  .strict();

export type TopologyHost = z.output<typeof topologyHostSchema>;
export type Topology = z.output<typeof topologySchema>;

/**
 * What a host reports about itself at boot: the etcd key `hosts/<name>` under the cluster's prefix
 * (not leased: it says what the host last booted, also while it is down).
 */
export const hostReportSchema = z
  .object({
    revision: z.string().min(1),
    /** The EC2 instance id (AWS) or a local stand-in; a new one means the host was replaced. */
    instanceId: z.string().min(1),
    /** ISO time of the boot that wrote this report. */
    bootedAt: z.string().min(1),
  })
  .strict();
export type HostReport = z.output<typeof hostReportSchema>;

/** etcd key (relative to the cluster's prefix) of a host's report, and of the roll in progress. */
export const HOST_REPORT_PREFIX = "hosts/";
export const ROLL_KEY = "roll";
