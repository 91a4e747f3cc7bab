/**
 * The one args interface of `HaPostgresDockerCluster` (the cluster on one Docker host) and its pure
 * validation. The HA settings are the agent's own schema, embedded as the AWS component embeds it,
 * and the cluster-shape rules are the AWS component's (lib/args/rules.ts): a setting refused on AWS
 * is refused here with the same message.
 */
import { isIPv4 } from "node:net";
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { checkHaSettings, haPostgresShape, haSettingsShape, pickHaSettings } from "../../sidecar/contract/settings/schema";
import type { HaSettings } from "../../sidecar/contract/settings/schema";
import { ClusterArgsError } from "../args/errors";
import {
  argIssueMessages,
  clusterNameSchema,
  componentParameterProblems,
  defaultClusterNameProblems,
  etcdMembersProblems,
  listenerPortsProblems,
  listenerPortsSchema,
  nodeCountProblems,
  postgresVersionProblems,
} from "../args/rules";
import { synchronousQuorumProblem } from "../../sidecar/contract/settings/schema";
import { DEFAULTS, type HaSettingsInput, type ListenerPortsArgs, type PostgresArgs } from "../args/types";

export const DOCKER_COMPONENT = "HaPostgresDockerCluster";

export interface HaPostgresDockerClusterArgs extends Omit<HaSettingsInput, "postgres"> {
  /** Number of PostgreSQL containers (one primary, the rest replicas), 2–9. Default: 3. */
  nodeCount?: number;
  /** PostgreSQL version, `parameters` and `usePgRewind`. Default: version 17, no extra parameters, pg_rewind used. */
  postgres?: PostgresArgs;
  /** etcd: `members`, 3 (survives one failure) or 5 (survives two), each a container with its own volume. Default: 3. */
  etcd?: { members?: number };
  /** Cluster name: the etcd scope and the prefix of every container, volume and network name. Default: the resource name. */
  clusterName?: string;
  /** Host ports HAProxy publishes: the primary (read-write) and the replicas (read-only, round robin). Default: 5432 and 5433. */
  listenerPorts?: ListenerPortsArgs;
  /** Host address the two ports are published on. Default: "127.0.0.1" (this host only); "0.0.0.0" publishes on every interface. */
  hostAddress?: string;
  /**
   * IPv4 subnet of the cluster's Docker network (a bridge), /16 to /26. Containers get fixed
   * addresses in it: HAProxy .2, etcd members .11–.15, PostgreSQL nodes .21–.29. Pick one that no
   * route or interface of the host overlaps. Default: "10.231.20.0/24".
   */
  subnet?: string;
  /**
   * Base image of the node image (the Dockerfile's `BASE_IMAGE`): Debian 13 or an image built on it.
   * Packages it already has are not installed again, so an image with them preinstalled builds with
   * no network. Default: "debian:trixie".
   */
  baseImage?: string;
  /** Name (and tag) the built image gets on the Docker host. Default: "hapg-node:<clusterName>". */
  imageName?: string;
  /** Keep `pulumi destroy` from deleting the data volumes (so a new stack can pick them up). Default: false. */
  retainVolumes?: boolean;
}

/** The args after validation, every default filled in. */
export interface ResolvedDockerArgs {
  clusterName: string;
  nodeCount: number;
  postgresVersion: number;
  etcdMembers: number;
  settings: HaSettings;
  listenerPorts: { primary: number; replica: number };
  hostAddress: string;
  subnet: string;
  baseImage: string;
  imageName: string;
  retainVolumes: boolean;
}

export const DOCKER_DEFAULTS = {
  hostAddress: "127.0.0.1",
  subnet: "10.231.20.0/24",
  baseImage: "debian:trixie",
} as const;

const ipv4 = z.string().refine((s) => isIPv4(s), "must be an IPv4 address, e.g. 127.0.0.1");

const argsSchema = z
  .object({
    nodeCount: z.number().int("must be a whole number").optional(),
    ...haSettingsShape,
    postgres: z
      .object({ version: z.number().int().optional(), ...haPostgresShape })
      .strict()
      .prefault({}),
    etcd: z.object({ members: z.number().int().optional() }).strict().optional(),
    clusterName: clusterNameSchema.optional(),
    listenerPorts: listenerPortsSchema.optional(),
    hostAddress: ipv4.optional(),
    subnet: z.string().optional(),
    baseImage: z.string().min(1, "must name an image, e.g. debian:trixie").optional(),
    imageName: z
      .string()
      .regex(/^[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$/, "must be a Docker image name such as hapg-node:dev")
      .optional(),
    retainVolumes: z.boolean().optional(),
  })
  .strict()
  .superRefine(checkHaSettings);

/** The subnet's problems: an IPv4 block, zero host bits, /16 to /26 (room for the fixed addresses up to .29). */
function subnetProblems(subnet: string): string[] {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(subnet);
  const bits = m ? Number(m[2]) : NaN;
  if (!m || !isIPv4(m[1]) || bits < 16 || bits > 26)
    return [`subnet: "${subnet}" must be an IPv4 block from /16 to /26, e.g. 10.231.20.0/24`];
  const ip = m[1].split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
  if (ip % 2 ** (32 - bits) !== 0)
    return [`subnet: "${subnet}" has host bits set: write the network address, e.g. ${m[1].replace(/\d+$/, "0")}/${bits}`];
  return [];
}

/**
 * Validates the args and fills in every default. Pure: no resource, no I/O.
 * Throws `ClusterArgsError` listing every problem found.
 */
export function validateDockerArgs(name: string, raw: HaPostgresDockerClusterArgs | undefined): ResolvedDockerArgs {
  if (raw !== undefined) {
    for (const [k, v] of Object.entries(raw))
      if (pulumi.Output.isInstance(v)) throw new ClusterArgsError([`${k}: must be a plain value, not an Output`], DOCKER_COMPONENT);
  }
  const parsed = argsSchema.safeParse(raw ?? {});
  if (!parsed.success) throw new ClusterArgsError(argIssueMessages(parsed.error.issues, DOCKER_COMPONENT), DOCKER_COMPONENT);
  const a = parsed.data;
  const nodeCount = a.nodeCount ?? DEFAULTS.nodeCount;
  const etcdMembers = a.etcd?.members ?? DEFAULTS.etcdMembers;
  const postgresVersion = a.postgres.version ?? DEFAULTS.postgresVersion;
  const primary = a.listenerPorts?.primary ?? DEFAULTS.listenerPorts.primary;
  const replica = a.listenerPorts?.replica ?? DEFAULTS.listenerPorts.replica;
  const subnet = a.subnet ?? DOCKER_DEFAULTS.subnet;
  const quorum = synchronousQuorumProblem(a.synchronousMode, a.synchronousQuorum, nodeCount - 1);
  const problems = [
    ...nodeCountProblems(nodeCount),
    ...(quorum ? [`synchronousQuorum: ${quorum}`] : []),
    ...etcdMembersProblems(etcdMembers),
    ...postgresVersionProblems(postgresVersion, a.baseImage !== undefined, "a baseImage"),
    ...componentParameterProblems(a.postgres.parameters),
    ...listenerPortsProblems(primary, replica),
    ...subnetProblems(subnet),
    ...defaultClusterNameProblems(name, a.clusterName),
  ];
  if (problems.length) throw new ClusterArgsError(problems, DOCKER_COMPONENT);
  const clusterName = a.clusterName ?? name;
  return {
    clusterName,
    nodeCount,
    postgresVersion,
    etcdMembers,
    settings: pickHaSettings(a),
    listenerPorts: { primary, replica },
    hostAddress: a.hostAddress ?? DOCKER_DEFAULTS.hostAddress,
    subnet,
    baseImage: a.baseImage ?? DOCKER_DEFAULTS.baseImage,
    imageName: a.imageName ?? `hapg-node:${clusterName}`,
    retainVolumes: a.retainVolumes ?? false,
  };
}
