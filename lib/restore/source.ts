/**
 * A cluster restored from another cluster's backups (the `bootstrap` arg), on AWS: where the nodes
 * read the source (its bucket, prefix, stanza, region and passphrase parameter) and what the
 * instance role may do there — read the source's prefix, read the source's passphrase parameter,
 * decrypt with the source's key through S3 and SSM only; never write. Pure functions of resolved
 * values (tested without a cloud); `resolveRestoreSource` turns the arg's Inputs into them.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { ResolvedBootstrap } from "../args/bootstrap";
import { backupRoleStatements, repoPath, s3Endpoint } from "../backup/policies";
import type { PolicyStatement } from "../iam/statement";
import type { RestoreHostSpec } from "../userdata/spec";

/** What the instance role is granted on the source: resolved ARNs. */
export interface RestoreSourceGrant {
  bucketArn: string;
  /** The source's key prefix (no leading or trailing "/"). */
  prefix: string;
  /** The source bucket's region (the passphrase parameter lives there too). */
  region: string;
  cipherPassParameterArn: string;
  /** The source's customer key for its backups (S3). */
  kmsKeyArn?: string;
  /** The one for its passphrase parameter (SSM), when another. */
  cipherPassKmsKeyArn?: string;
}

/** The ARN partition of a region: "aws-cn" for China, "aws-us-gov" for GovCloud, else "aws". Pure. */
export function arnPartition(region: string): string {
  if (region.startsWith("cn-")) return "aws-cn";
  if (region.startsWith("us-gov-")) return "aws-us-gov";
  return "aws";
}

/** SSM's host name in a region, as KMS's `kms:ViaService` names it (like `s3Endpoint` for S3). Pure. */
export function ssmServiceHost(region: string): string {
  return s3Endpoint(region).replace(/^s3\./, "ssm.");
}

/**
 * The role's statements for the source: `backupRoleStatements` with `access: "read"` (list and get
 * under the source's prefix, kms:Decrypt through S3), ssm:GetParameter on the one passphrase
 * parameter, and kms:Decrypt through SSM for that parameter when the source has a customer key.
 * No statement allows a write, a delete or any other of the source's parameters. Pure.
 */
export function restoreSourceStatements(g: RestoreSourceGrant): PolicyStatement[] {
  const statements: PolicyStatement[] = [
    ...backupRoleStatements({ bucketArn: g.bucketArn, prefix: g.prefix, region: g.region, kmsKeyArn: g.kmsKeyArn, access: "read" }),
    { Sid: "ReadSourcePassphrase", Effect: "Allow", Action: ["ssm:GetParameter"], Resource: [g.cipherPassParameterArn] },
  ];
  const parameterKey = g.cipherPassKmsKeyArn ?? g.kmsKeyArn;
  if (parameterKey) {
    statements.push({
      Sid: "DecryptSourcePassphrase",
      Effect: "Allow",
      Action: ["kms:Decrypt"],
      Resource: [parameterKey],
      Condition: { StringEquals: { "kms:ViaService": ssmServiceHost(g.region) } },
    });
  }
  return statements;
}

/**
 * The source as the nodes address it and the role's grant on it, from the validated arg and the
 * values AWS resolved (the bucket name, the key, this cluster's region and account). Pure.
 */
export function restoreSourceOf(
  b: ResolvedBootstrap,
  r: { bucketName: string; kmsKeyArn?: string; cipherPassKmsKeyArn?: string; ownRegion: string; accountId: string },
): { grant: RestoreSourceGrant; host: RestoreHostSpec } {
  const f = b.fromBackup;
  const region = f.region ?? r.ownRegion;
  const partition = arnPartition(region);
  return {
    grant: {
      bucketArn: `arn:${partition}:s3:::${r.bucketName}`,
      prefix: f.prefix,
      region,
      cipherPassParameterArn: `arn:${partition}:ssm:${region}:${r.accountId}:parameter${f.cipherPassParameter}`,
      ...(r.kmsKeyArn ? { kmsKeyArn: r.kmsKeyArn } : {}),
      ...(r.cipherPassKmsKeyArn ? { cipherPassKmsKeyArn: r.cipherPassKmsKeyArn } : {}),
    },
    host: {
      bucket: r.bucketName,
      region,
      endpoint: s3Endpoint(region),
      path: repoPath(f.prefix),
      stanza: f.clusterName,
      cipherPassParameter: f.cipherPassParameter,
      target: b.target,
    },
  };
}

/** `restoreSourceOf` once the bucket name, the key, the region and the account are known (undefined without `bootstrap`). */
export function resolveRestoreSource(
  b: ResolvedBootstrap | undefined,
  parent: pulumi.Resource,
): pulumi.Output<{ grant: RestoreSourceGrant; host: RestoreHostSpec } | undefined> {
  if (!b) return pulumi.output(undefined);
  const opts = { parent };
  return pulumi
    .all([
      pulumi.output(b.fromBackup.bucketName),
      pulumi.output(b.fromBackup.kmsKeyArn),
      pulumi.output(b.fromBackup.cipherPassKmsKeyArn),
      aws.getRegionOutput({}, opts).region,
      aws.getCallerIdentityOutput({}, opts).accountId,
    ])
    .apply(([bucketName, kmsKeyArn, cipherPassKmsKeyArn, ownRegion, accountId]) =>
      restoreSourceOf(b, { bucketName, kmsKeyArn, cipherPassKmsKeyArn, ownRegion, accountId }),
    );
}
