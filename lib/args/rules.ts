/**
 * The argument rules both components apply (`HaPostgresCluster` on AWS, `HaPostgresDockerCluster` on
 * Docker): the cluster's shape (node count, etcd members, PostgreSQL version, listener ports, cluster
 * name), the parameters the cluster sets itself, and how a schema issue becomes a message. Written
 * once here so a setting refused on one is refused on the other with the same message
 * (test/component/docker.test.ts proves it). Pure.
 */
import { z } from "zod";
import { movedSettingHint } from "../../sidecar/contract/settings/schema";
import { COMPONENT_PARAMETERS } from "../userdata/agent-config";
import { DEBIAN_POSTGRES_VERSIONS } from "./aws-limits";

const port = z.number().int().min(1, "must be a TCP port, 1–65535").max(65535, "must be a TCP port, 1–65535");

/** `listenerPorts`: the primary's and the replicas' client ports. */
export const listenerPortsSchema = z.object({ primary: port.optional(), replica: port.optional() }).strict();

/** `clusterName`: the etcd scope (and on AWS the SSM path segment and Name tag prefix). */
const CLUSTER_NAME = /^[a-z][a-z0-9-]{0,39}$/;
export const clusterNameSchema = z
  .string()
  .regex(CLUSTER_NAME, "must start with a letter and use only lower-case letters, digits and '-', at most 40 characters");

/** `nodeCount`: 2–9 PostgreSQL nodes. */
export function nodeCountProblems(nodeCount: number): string[] {
  if (nodeCount < 2) return [`nodeCount: ${nodeCount} leaves nothing to fail over to: set nodeCount to 2 or more (3 recommended)`];
  if (nodeCount > 9) return [`nodeCount: ${nodeCount} is more than 9: use at most 9 nodes (add read capacity with larger instances)`];
  return [];
}

/** `etcd.members`: 3 or 5 (an even count tolerates no more failures than one fewer). */
export function etcdMembersProblems(members: number): string[] {
  if (members % 2 === 0 && members > 0)
    return [`etcd.members: ${members} is even and tolerates no more failures than ${members - 1}: use 3 or 5`];
  if (members !== 3 && members !== 5)
    return [`etcd.members: ${members} is not supported: use 3 (survives one failure) or 5 (survives two)`];
  return [];
}

/**
 * `postgres.version`: 13–18, and (unless the hosts' image is the user's own, `customImage`, named by
 * `customImageArg`) one that Debian 13's archive ships.
 */
export function postgresVersionProblems(version: number, customImage: boolean, customImageArg: string): string[] {
  if (version < 13 || version > 18) return [`postgres.version: ${version} is not supported: use a major version from 13 to 18`];
  if (!customImage && !DEBIAN_POSTGRES_VERSIONS.includes(version))
    return [
      `postgres.version: ${version} is not in Debian 13's archive, which ships PostgreSQL ${DEBIAN_POSTGRES_VERSIONS.join(", ")} only: use ${DEBIAN_POSTGRES_VERSIONS[0]}, or give ${customImageArg} whose apt sources (e.g. apt.postgresql.org) carry postgresql-${version}`,
    ];
  return [];
}

/** `postgres.parameters`: the ones the component sets on every node (TLS) may not be given. */
export function componentParameterProblems(parameters: Record<string, unknown>): string[] {
  return Object.keys(parameters)
    .filter((key) => COMPONENT_PARAMETERS.has(key))
    .map((key) => `postgres.parameters.${key}: is managed by the cluster (TLS between nodes): remove it`);
}

/** `listenerPorts`: two different ports. */
export function listenerPortsProblems(primary: number, replica: number): string[] {
  return primary === replica
    ? [`listenerPorts.replica: ${replica} is also the primary port: give the replica listener its own port, e.g. ${primary + 1}`]
    : [];
}

/** `clusterName` left out: the resource name is the default, and must then be a valid cluster name. */
export function defaultClusterNameProblems(name: string, clusterName: string | undefined): string[] {
  return clusterName === undefined && !CLUSTER_NAME.test(name)
    ? [
        `clusterName: the default (the resource name "${name}") must start with a letter and use only lower-case letters, digits and '-', at most 40 characters: set clusterName`,
      ]
    : [];
}

/** The messages of a failed parse of a component's args; `component` is the class name unknown keys are "not an argument of". */
export function argIssueMessages(issues: z.core.$ZodIssue[], component: string): string[] {
  return issues.flatMap((issue) => {
    const field = issue.path.length ? issue.path.join(".") : "(args)";
    if (issue.code === "unrecognized_keys") {
      const at = issue.path.length ? `${field}: ` : "";
      const moved = issue.path.length === 0 ? issue.keys.filter((k) => movedSettingHint(k)) : [];
      const rest = issue.keys.filter((k) => !moved.includes(k));
      return [
        ...moved.map((k) => `${k}: not an argument of ${component}: ${movedSettingHint(k)}`),
        ...(rest.length
          ? [`${at}${rest.map((k) => `"${k}"`).join(", ")}: not an argument of ${component}: remove it or fix the spelling`]
          : []),
      ];
    }
    return [`${field}: ${issue.message}`];
  });
}
