/**
 * Pure validation of `HaPostgresClusterArgs`: runs before any resource is declared, so bad input
 * creates nothing. Every message names the argument (as a path, e.g. `etcd.members`) and the fix.
 * Values that are Pulumi Outputs are only known at deploy time and pass through unchecked here;
 * what depends on them (subnet zones) is checked by `validatePlacement` once they resolve.
 */
import { isIPv4, isIPv6 } from "node:net";
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { backupArgProblems, backupAwsShape } from "../backup/args";
import { stringInput } from "./inputs";
import { retentionWindowDays } from "../backup/retention";
import { egressArgProblems } from "../network/egress";
import { bootstrapArgSchema, resolveBootstrap } from "./bootstrap";
import {
  checkHaSettings,
  haPostgresShape,
  haSettingsShape,
  pickHaSettings,
  synchronousQuorumProblem,
} from "../../sidecar/contract/settings/schema";
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
} from "./rules";
import { desiredConfigValue } from "../dynamic/desired-config";
import { SSM_VALUE_MAX_BYTES } from "../dynamic/ssm-tier";
import { DEFAULTS, HaPostgresClusterArgs, ResolvedClusterArgs, ResolvedDataVolume } from "./types";
import { ClusterArgsError } from "./errors";
import { isArmInstanceType, isXenInstanceType, MAX_COMPONENT_NAME_LENGTH, ssmPrefixProblems } from "./aws-limits";

// Kept importable from here: the component and the package's index import them from this module.
export { ClusterArgsError } from "./errors";
export { isArmInstanceType, isXenInstanceType, DEBIAN_POSTGRES_VERSIONS, MAX_COMPONENT_NAME_LENGTH, SSM_PREFIX_MAX } from "./aws-limits";
export { validatePlacement, SubnetInfo, ZoneOffer } from "./placement";

const instanceType = z.string().regex(/^[a-z][a-z0-9-]*\.[a-z0-9-]+$/, "must be an EC2 instance type such as m7i.large");

const dataVolume = z
  .object({
    sizeGiB: z
      .number()
      .int("must be a whole number of GiB")
      .min(1, "must be at least 1 GiB")
      .max(16384, "EBS volumes hold at most 16384 GiB")
      .optional(),
    type: z.enum(["gp3", "gp2", "io1", "io2"], { message: 'must be one of "gp3", "gp2", "io1", "io2"' }).optional(),
    iops: z.number().int().positive().optional(),
    throughputMiBps: z.number().int().optional(),
  })
  .strict();

const argsSchema = z
  .object({
    vpcId: stringInput.optional(),
    subnetIds: z
      .union([z.array(stringInput), z.custom<pulumi.Output<string[]>>((v) => pulumi.Output.isInstance(v))], {
        message: "must be a list of subnet ids (or an Output of one)",
      })
      .optional(),
    nodeCount: z.number().int("must be a whole number").optional(),
    instanceType: instanceType.optional(),
    architecture: z.enum(["x86_64", "arm64"], { message: 'must be "x86_64" or "arm64"' }).optional(),
    amiId: stringInput.optional(),
    egress: z
      .enum(["auto", "publicIp", "nat", "endpoints"], { message: 'must be "auto" (default), "publicIp", "nat" or "endpoints"' })
      .optional(),
    sshKeyName: stringInput.optional(),
    sessionManager: z.boolean().optional(),
    // The HA settings are the agent's own schema, embedded as is (sidecar/contract/settings/schema.ts).
    ...haSettingsShape,
    postgres: z
      .object({ version: z.number().int().optional(), ...haPostgresShape })
      .strict()
      .prefault({}),
    dataVolume: dataVolume.optional(),
    kmsKeyId: stringInput.optional(),
    etcd: z
      .object({
        members: z.number().int().optional(),
        placement: z.enum(["dedicated", "colocated"], { message: 'must be "dedicated" or "colocated"' }).optional(),
        instanceType: instanceType.optional(),
        dataVolume: dataVolume.optional(),
      })
      .strict()
      .optional(),
    routing: z.enum(["haproxy", "direct"], { message: 'must be "haproxy" (default) or "direct"' }).optional(),
    listenerPorts: listenerPortsSchema.optional(),
    publicLoadBalancer: z.boolean().optional(),
    allowedCidrs: z.array(z.string()).optional(),
    allowedSecurityGroupIds: z.array(stringInput).optional(),
    clusterName: clusterNameSchema.optional(),
    ssmParameterPrefix: z
      .string()
      .regex(/^(\/[A-Za-z0-9_.-]+)+$/, 'must look like "/ha-postgres": a leading "/", no trailing "/", letters, digits, "_", ".", "-"')
      .optional(),
    agentBundle: z
      .custom<pulumi.asset.Archive>((v) => pulumi.asset.Archive.isInstance(v), { message: "must be a pulumi.asset.Archive" })
      .optional(),
    backup: z.object(backupAwsShape).strict().prefault({}),
    tags: z.record(z.string(), z.string({ message: "tag values must be strings" })).optional(),
    bootstrap: bootstrapArgSchema.optional(),
  })
  .strict()
  .superRefine(checkHaSettings);

/** True for a well-formed IPv4 CIDR block with zero host bits, or an IPv6 CIDR block. */
export function isCidr(s: string): boolean {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(s);
  if (!m) return false;
  const bits = Number(m[2]);
  if (isIPv6(m[1])) return bits <= 128;
  if (!isIPv4(m[1]) || bits > 32) return false;
  const ip = m[1].split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
  return ip % 2 ** (32 - bits) === 0;
}

function volumeProblems(path: string, v: z.infer<typeof dataVolume> | undefined): string[] {
  const out: string[] = [];
  if (!v) return out;
  const type = v.type ?? "gp3";
  if ((type === "io1" || type === "io2") && v.iops === undefined)
    out.push(`${path}.iops: required for ${type} volumes: set the provisioned IOPS, e.g. 6000`);
  if (type === "gp2" && v.iops !== undefined) out.push(`${path}.iops: gp2 volumes have no provisioned IOPS: remove it or use type "gp3"`);
  if (type === "gp3" && v.iops !== undefined && (v.iops < 3000 || v.iops > 16000))
    out.push(`${path}.iops: gp3 takes 3000–16000 IOPS: set a value in that range`);
  if (v.throughputMiBps !== undefined && type !== "gp3")
    out.push(`${path}.throughputMiBps: only gp3 volumes take a throughput: remove it or use type "gp3"`);
  if (v.throughputMiBps !== undefined && (v.throughputMiBps < 125 || v.throughputMiBps > 1000))
    out.push(`${path}.throughputMiBps: gp3 takes 125–1000 MiB/s: set a value in that range`);
  return out;
}

function resolveVolume(v: z.infer<typeof dataVolume> | undefined, sizeGiB: number): ResolvedDataVolume {
  return { sizeGiB: v?.sizeGiB ?? sizeGiB, type: v?.type ?? DEFAULTS.volumeType, iops: v?.iops, throughputMiBps: v?.throughputMiBps };
}

/**
 * Validates the args and fills in every default. Pure: no resource, no I/O; `nowMs` (default: now) is
 * only compared with `bootstrap.targetTime`.
 * Throws `ClusterArgsError` listing every problem found (not only the first).
 */
export function validateClusterArgs(name: string, raw: HaPostgresClusterArgs | undefined, nowMs: number = Date.now()): ResolvedClusterArgs {
  const parsed = argsSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    throw new ClusterArgsError(argIssueMessages(parsed.error.issues, "HaPostgresCluster"));
  }
  const a = parsed.data;
  const problems: string[] = [];
  const architecture = a.architecture ?? DEFAULTS.architecture;
  const nodeCount = a.nodeCount ?? DEFAULTS.nodeCount;
  problems.push(...nodeCountProblems(nodeCount));
  const quorum = synchronousQuorumProblem(a.synchronousMode, a.synchronousQuorum, nodeCount - 1);
  if (quorum) problems.push(`synchronousQuorum: ${quorum}`);

  const members = a.etcd?.members ?? DEFAULTS.etcdMembers;
  const placement = a.etcd?.placement ?? DEFAULTS.etcdPlacement;
  problems.push(...etcdMembersProblems(members));
  if (placement === "colocated" && members > nodeCount) {
    problems.push(
      `etcd.members: ${members} colocated members need as many PostgreSQL nodes, but nodeCount is ${nodeCount}: raise nodeCount or lower etcd.members`,
    );
  }

  const instanceType = a.instanceType ?? DEFAULTS.instanceType[architecture];
  const etcdInstanceType = a.etcd?.instanceType ?? DEFAULTS.etcdInstanceType[architecture];
  for (const [path, t] of [
    ["instanceType", instanceType],
    ["etcd.instanceType", etcdInstanceType],
  ] as const) {
    if (isXenInstanceType(t)) {
      problems.push(
        `${path}: "${t}" is a Xen instance type: its EBS volumes are not NVMe devices, which the boot script waits for: pick a Nitro type (e.g. ${path === "instanceType" ? DEFAULTS.instanceType[architecture] : DEFAULTS.etcdInstanceType[architecture]})`,
      );
    } else if (isArmInstanceType(t) !== (architecture === "arm64")) {
      problems.push(
        `${path}: "${t}" is ${isArmInstanceType(t) ? "arm64" : "x86_64"} but architecture is "${architecture}": set architecture to "${isArmInstanceType(t) ? "arm64" : "x86_64"}" or pick a matching type`,
      );
    }
  }

  if (Array.isArray(a.subnetIds)) {
    if (a.subnetIds.length < 2)
      problems.push(
        `subnetIds: ${a.subnetIds.length} subnet(s) cannot span zones: give subnets in at least 2 availability zones (3 recommended)`,
      );
    const plain = a.subnetIds.filter((s): s is string => typeof s === "string");
    const dup = plain.find((s, i) => plain.indexOf(s) !== i);
    if (dup) problems.push(`subnetIds: "${dup}" is listed twice: list each subnet once`);
  }

  const version = a.postgres.version ?? DEFAULTS.postgresVersion;
  // Hosts install postgresql-<version> from the AMI's apt sources: the default Debian 13 AMI has only Debian's archive.
  problems.push(...postgresVersionProblems(version, a.amiId !== undefined, "an amiId"));
  // The agent's own refusals ran with the settings schema; these the component sets itself (TLS).
  problems.push(...componentParameterProblems(a.postgres.parameters));

  problems.push(...volumeProblems("dataVolume", a.dataVolume), ...volumeProblems("etcd.dataVolume", a.etcd?.dataVolume));

  const primary = a.listenerPorts?.primary ?? DEFAULTS.listenerPorts.primary;
  const replica = a.listenerPorts?.replica ?? DEFAULTS.listenerPorts.replica;
  problems.push(...listenerPortsProblems(primary, replica));

  (a.allowedCidrs ?? []).forEach((c, i) => {
    if (!isCidr(c))
      problems.push(`allowedCidrs[${i}]: "${c}" is not a CIDR block: write it as a.b.c.d/n with zero host bits, e.g. 10.0.0.0/16`);
  });

  for (const key of Object.keys(a.tags ?? {})) {
    if (key.toLowerCase().startsWith("aws:")) problems.push(`tags.${key}: the "aws:" prefix is reserved by AWS: rename the tag`);
  }
  const egress = a.egress ?? DEFAULTS.egress;
  problems.push(...egressArgProblems(egress, a.amiId));
  const backupOn = a.backup.enabled ?? DEFAULTS.backupEnabled;
  if (backupOn) problems.push(...backupArgProblems(a.backup));
  const clusterName = a.clusterName ?? name;
  problems.push(...ssmPrefixProblems(a.ssmParameterPrefix ?? DEFAULTS.ssmParameterPrefix));
  if (name.length > MAX_COMPONENT_NAME_LENGTH || !/^[A-Za-z0-9][A-Za-z0-9-]*$/.test(name))
    problems.push(
      `name: "${name}": the S3 buckets and IAM roles are auto-named from the resource name, which S3 and IAM limit to ${MAX_COMPONENT_NAME_LENGTH} letters, digits and '-' here: use such a resource name (clusterName may stay as it is)`,
    );
  problems.push(...defaultClusterNameProblems(name, a.clusterName));
  const bootstrap = resolveBootstrap(
    a.bootstrap,
    {
      clusterName,
      ssmParameterPrefix: a.ssmParameterPrefix ?? DEFAULTS.ssmParameterPrefix,
      bucketName: backupOn ? a.backup.bucketName : undefined,
      prefix: backupOn ? (a.backup.prefix ?? clusterName) : undefined,
    },
    nowMs,
  );
  problems.push(...bootstrap.problems);
  const settings = pickHaSettings(a);
  const dynamicBytes = Buffer.byteLength(desiredConfigValue(settings));
  if (dynamicBytes > SSM_VALUE_MAX_BYTES.Advanced)
    problems.push(
      `postgres.parameters: the dynamic configuration is ${dynamicBytes} bytes, over the ${SSM_VALUE_MAX_BYTES.Advanced} an SSM parameter holds: set fewer or shorter parameters (defaults need not be listed)`,
    );
  if (problems.length) throw new ClusterArgsError(problems);

  return {
    vpcId: a.vpcId,
    subnetIds: a.subnetIds,
    nodeCount,
    instanceType,
    architecture,
    amiId: a.amiId,
    egress,
    sshKeyName: a.sshKeyName,
    sessionManager: a.sessionManager ?? true,
    postgres: { version },
    settings,
    dataVolume: resolveVolume(a.dataVolume, DEFAULTS.dataVolumeGiB),
    kmsKeyId: a.kmsKeyId,
    etcd: { members, placement, instanceType: etcdInstanceType, dataVolume: resolveVolume(a.etcd?.dataVolume, DEFAULTS.etcdVolumeGiB) },
    routing: a.routing ?? DEFAULTS.routing,
    listenerPorts: { primary, replica },
    publicLoadBalancer: a.publicLoadBalancer ?? false,
    allowedCidrs: [...(a.allowedCidrs ?? [])],
    allowedSecurityGroupIds: [...(a.allowedSecurityGroupIds ?? [])],
    clusterName,
    ssmParameterPrefix: a.ssmParameterPrefix ?? DEFAULTS.ssmParameterPrefix,
    agentBundle: a.agentBundle,
    bootstrap: bootstrap.bootstrap,
    backup: backupOn
      ? {
          bucketName: a.backup.bucketName,
          prefix: a.backup.prefix ?? clusterName,
          kmsKeyArn: a.backup.kmsKeyArn,
          forceDestroy: a.backup.forceDestroy ?? false,
          retentionDays: retentionWindowDays(a.backupPolicy),
        }
      : undefined,
    tags: { ...(a.tags ?? {}) },
  };
}
