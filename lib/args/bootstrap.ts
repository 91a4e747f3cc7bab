/**
 * The `bootstrap` arg: a new cluster created from another cluster's backups (a clone, or a
 * point-in-time restore next to the cluster that lost the data) instead of an empty initdb. Types,
 * JSDoc and the pure validation; lib/args/validate.ts embeds them. The nodes' agents do the restore
 * (`bootstrap.fromBackup` of the agent config) and refuse a target outside the source's backups.
 */
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { KMS_KEY_ARN } from "../backup/args";
import { parameterNames } from "../naming/names";
import { parseTargetTime, targetFromFields, type RecoveryTargetInput } from "../../sidecar/contract/recovery-target";

/** Where the backups to restore are: the source cluster's backup repository. */
export interface FromBackupArgs {
  /** The source cluster's `clusterName`: the stanza its agents archive into. Required. */
  clusterName: string;
  /**
   * The bucket holding the source's backups (its `backup.bucketName`, or the bucket its component
   * created). Required. This cluster's instance role may read the source's prefix in it, nothing else.
   */
  bucketName: pulumi.Input<string>;
  /** The source's key prefix in the bucket. Default: its clusterName (the default of its `backup.prefix`). */
  prefix?: string;
  /** The bucket's region. Default: this cluster's region. */
  region?: string;
  /**
   * SSM SecureString parameter holding the source repository's passphrase (its repo-cipher-pass), in
   * the bucket's region. Default: the one the source's component keeps (its output
   * `backupCipherPassParameterName`), `<ssmParameterPrefix>/<clusterName>/backup/repo-cipher-pass`
   * with this cluster's `ssmParameterPrefix`. The instance role may read this parameter, no other of the source's.
   */
  cipherPassParameter?: string;
  /**
   * The customer KMS key the source's backups and passphrase are encrypted with (the source's
   * `backup.kmsKeyArn`, else its `kmsKeyId`), as an ARN. The instance role may decrypt with it, only
   * through S3 and SSM. Default: none (SSE-S3 objects and an `aws/ssm` parameter need no grant).
   */
  kmsKeyArn?: pulumi.Input<string>;
  /**
   * The customer KMS key the source's passphrase parameter is encrypted with, as an ARN, when it is
   * not `kmsKeyArn`: a source whose `backup.kmsKeyArn` differs from its `kmsKeyId` encrypts its
   * backups with the first and its parameters with the second. The instance role may decrypt with it
   * through SSM only. Default: `kmsKeyArn`.
   */
  cipherPassKmsKeyArn?: pulumi.Input<string>;
}

/**
 * Create the cluster from another cluster's backups. The first node restores the newest backup that
 * ends before the target, replays the source's WAL archive to the target and promotes; the other
 * nodes restore a backup of the source too and replay WAL, instead of copying the new primary. The
 * new cluster archives into its own stanza (its clusterName), never into the source's. At most one
 * of targetTime, targetLsn and targetName; none restores the latest point the archive holds.
 */
export interface BootstrapArgs {
  /** The source's backups. Required when `bootstrap` is given. */
  fromBackup: FromBackupArgs;
  /**
   * Restore every transaction committed up to this time (inclusive): ISO 8601 with a zone, e.g.
   * "2026-11-27T16:05:00Z". Refused when in the future (here), or before the end of the source's
   * first backup (by the nodes, which can read the repository). Default: the latest point.
   */
  targetTime?: string;
  /** Restore up to this WAL position, e.g. "0/3000028". */
  targetLsn?: string;
  /** Restore up to this restore point, made with `SELECT pg_create_restore_point('name')`. */
  targetName?: string;
}

/** After validation: the source and the target in the agent config's shape. */
export interface ResolvedBootstrap {
  fromBackup: {
    clusterName: string;
    bucketName: pulumi.Input<string>;
    prefix: string;
    region?: string;
    /** Resolved: the source component's parameter unless another was given. */
    cipherPassParameter: string;
    kmsKeyArn?: pulumi.Input<string>;
    cipherPassKmsKeyArn?: pulumi.Input<string>;
  };
  target: RecoveryTargetInput;
}

const isInputLike = (v: unknown): boolean =>
  typeof v === "string" ||
  pulumi.Output.isInstance(v) ||
  (typeof v === "object" && v !== null && typeof (v as PromiseLike<unknown>).then === "function");

const CLUSTER_NAME = /^[a-z][a-z0-9-]{0,39}$/;

export const bootstrapArgSchema = z
  .object({
    fromBackup: z
      .object({
        clusterName: z.string({ error: "is required: the source cluster's clusterName (its backups' stanza)" }),
        bucketName: z.custom<pulumi.Input<string>>(isInputLike, { message: "is required: the bucket holding the source's backups" }),
        prefix: z.string().optional(),
        region: z
          .string()
          .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, "must be an AWS region such as eu-west-1")
          .optional(),
        cipherPassParameter: z
          .string()
          .regex(/^(\/[A-Za-z0-9_.-]+)+$/, 'must be an SSM parameter name such as "/ha-postgres/orders/backup/repo-cipher-pass"')
          .optional(),
        kmsKeyArn: z
          .custom<pulumi.Input<string>>(isInputLike, { message: "must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)" })
          .optional(),
        cipherPassKmsKeyArn: z
          .custom<pulumi.Input<string>>(isInputLike, { message: "must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)" })
          .optional(),
      })
      .strict()
      .optional(),
    targetTime: z.string().optional(),
    targetLsn: z.string().optional(),
    targetName: z.string().optional(),
  })
  .strict();

/**
 * Problems of `bootstrap` (each naming the argument and the fix) and, when there are none, the
 * resolved value. Pure: `nowMs` is the caller's clock, for the "in the future" refusal.
 */
export function resolveBootstrap(
  b: z.output<typeof bootstrapArgSchema> | undefined,
  own: { clusterName: string; ssmParameterPrefix: string; bucketName?: pulumi.Input<string>; prefix?: string },
  nowMs: number,
): { problems: string[]; bootstrap?: ResolvedBootstrap } {
  if (!b) return { problems: [] };
  const problems: string[] = [];
  const given = (["targetTime", "targetLsn", "targetName"] as const).filter((k) => b[k] !== undefined);
  if (!b.fromBackup) {
    return { problems: ["bootstrap.fromBackup: is required with bootstrap: give the source cluster's clusterName and bucketName"] };
  }
  if (given.length > 1) problems.push(`bootstrap.${given[1]}: give one of targetTime, targetLsn or targetName, not ${given.join(" and ")}`);
  const f = b.fromBackup;
  if (!CLUSTER_NAME.test(f.clusterName)) {
    problems.push(`bootstrap.fromBackup.clusterName: "${f.clusterName}" is not a cluster name (lower-case letters, digits and '-')`);
  }
  const prefix = (f.prefix ?? f.clusterName).replace(/^\/+|\/+$/g, "");
  if (!/^[A-Za-z0-9!_.*'()-]+(\/[A-Za-z0-9!_.*'()-]+)*$/.test(prefix)) {
    problems.push(`bootstrap.fromBackup.prefix: "${f.prefix}" is not a usable key prefix: e.g. "prod/orders"`);
  }
  const ownPrefix = (own.prefix ?? own.clusterName).replace(/^\/+|\/+$/g, "");
  const sameBucket = typeof own.bucketName === "string" && own.bucketName === f.bucketName;
  if (sameBucket && ownPrefix === prefix && own.clusterName === f.clusterName) {
    problems.push(
      `bootstrap.fromBackup.clusterName: "${f.clusterName}" is this cluster's own repository (same bucket, prefix and stanza): ` +
        "a restored cluster archives into a stanza of its own, never into the one it restores from: give this cluster another clusterName",
    );
  }
  for (const field of ["kmsKeyArn", "cipherPassKmsKeyArn"] as const) {
    const v = f[field];
    if (typeof v === "string" && !KMS_KEY_ARN.test(v)) {
      problems.push(
        `bootstrap.fromBackup.${field}: "${v}" is not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID): ` +
          "an alias or key id cannot be granted in IAM; give the key's ARN",
      );
    }
  }
  const cipherPassParameter = f.cipherPassParameter ?? parameterNames(own.ssmParameterPrefix, f.clusterName).backupCipherPass;
  // With backups on, this cluster's component writes that parameter: the source's passphrase would be overwritten.
  if (own.prefix !== undefined && cipherPassParameter === parameterNames(own.ssmParameterPrefix, own.clusterName).backupCipherPass) {
    problems.push(
      `bootstrap.fromBackup.cipherPassParameter: "${cipherPassParameter}" is this cluster's own passphrase parameter, ` +
        "not the source's: give the source's (its output backupCipherPassParameterName)",
    );
  }
  const target: RecoveryTargetInput =
    b.targetTime !== undefined
      ? { time: b.targetTime }
      : b.targetLsn !== undefined
        ? { lsn: b.targetLsn }
        : b.targetName !== undefined
          ? { name: b.targetName }
          : {};
  if (given.length <= 1) {
    try {
      targetFromFields(target);
      if (b.targetTime !== undefined && parseTargetTime(b.targetTime).epochMs > nowMs) {
        problems.push(
          `bootstrap.targetTime: ${b.targetTime} is in the future (now ${new Date(nowMs).toISOString()}): give a time in the past, or none for the latest point`,
        );
      }
    } catch (e) {
      problems.push(`bootstrap.${given[0]}: ${(e as Error).message}`);
    }
  }
  if (problems.length) return { problems };
  return {
    problems,
    bootstrap: {
      fromBackup: {
        clusterName: f.clusterName,
        bucketName: f.bucketName,
        prefix,
        region: f.region,
        cipherPassParameter,
        ...(f.kmsKeyArn !== undefined ? { kmsKeyArn: f.kmsKeyArn } : {}),
        ...(f.cipherPassKmsKeyArn !== undefined ? { cipherPassKmsKeyArn: f.cipherPassKmsKeyArn } : {}),
      },
      target,
    },
  };
}
