/**
 * The backup repository on AWS (component arg `backup`): the S3 bucket pgBackRest writes to —
 * created with versioning, default encryption, public access blocked, a TLS-only policy and
 * lifecycle rules that follow the retention, or an existing bucket taken as it is — and the
 * repository's encryption passphrase (pgBackRest's repo-cipher-pass), generated once and kept as an
 * SSM SecureString that node-init writes 0600 for the postgres user. The instance role's grants
 * come from ./policies.ts.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { ResolvedClusterArgs } from "../args/types";
import { childName, parameterNames, resourceTags } from "../naming/names";
import { secureParameter } from "../secrets/passwords";
import { backupBucketPolicyDocument, backupLifecycleRules, normalizedPrefix } from "./policies";

export interface BackupRepository {
  bucketName: pulumi.Output<string>;
  bucketArn: pulumi.Output<string>;
  /** The bucket's region: pgBackRest signs its requests for it. */
  region: pulumi.Output<string>;
  /** The cluster's key prefix in the bucket (no leading or trailing "/"). */
  prefix: string;
  /** The KMS key the bucket encrypts with, when it is a customer key the role must be allowed to use. */
  kmsKeyArn?: pulumi.Output<string>;
  /** The SecureString parameter holding the repository's cipher passphrase. */
  cipherPass: aws.ssm.Parameter;
  /** What must exist before a node boots and archives (the bucket's settings, the passphrase). */
  ready: pulumi.Resource[];
}

/**
 * Declares the backup repository, or returns undefined when backups are off. `clusterKmsKeyArn` is
 * the cluster's key (arg `kmsKeyId`), which a created bucket encrypts with unless `backup.kmsKeyArn` is given.
 */
export function createBackupRepository(
  name: string,
  args: ResolvedClusterArgs,
  clusterKmsKeyArn: pulumi.Output<string> | undefined,
  parent: pulumi.Resource,
): BackupRepository | undefined {
  const b = args.backup;
  if (!b) return undefined;
  const opts = { parent };
  const tags = resourceTags(args.tags, args.clusterName);
  const prefix = normalizedPrefix(b.prefix);

  const passphrase = new random.RandomPassword(
    childName(name, "backup-cipher-pass"),
    // pgBackRest derives the AES-256 key from it; 64 letters and digits carry ~380 bits.
    { length: 64, special: false, minLower: 1, minUpper: 1, minNumeric: 1 },
    opts,
  );
  const cipherPass = secureParameter(
    childName(name, "backup-cipher-pass-param"),
    parameterNames(args.ssmParameterPrefix, args.clusterName).backupCipherPass,
    passphrase.result,
    `pgBackRest repository passphrase (repo-cipher-pass) of ${args.clusterName}: without it no backup can be restored`,
    args,
    parent,
  );

  if (b.bucketName !== undefined) {
    // An existing bucket is the owner's: its versioning, encryption and policies are left as they are.
    const existing = aws.s3.getBucketOutput({ bucket: b.bucketName }, opts);
    const kmsKeyArn = b.kmsKeyArn !== undefined ? pulumi.output(b.kmsKeyArn) : undefined;
    return {
      bucketName: existing.bucket,
      bucketArn: existing.arn,
      // The bucket's own region (@pulumi/aws v7: `region` is the region the lookup ran in).
      region: existing.bucketRegion,
      prefix,
      kmsKeyArn,
      cipherPass,
      ready: [cipherPass],
    };
  }

  const kmsKeyArn = b.kmsKeyArn !== undefined ? pulumi.output(b.kmsKeyArn) : clusterKmsKeyArn;
  // Kept on `pulumi destroy` unless forceDestroy: like RDS's retained backups, a deleted stack leaves its backups.
  const bucket = new aws.s3.Bucket(childName(name, "backup"), { forceDestroy: b.forceDestroy, tags }, opts);
  const versioning = new aws.s3.BucketVersioning(
    childName(name, "backup-versioning"),
    { bucket: bucket.id, versioningConfiguration: { status: "Enabled" } },
    opts,
  );
  const encryption = new aws.s3.BucketServerSideEncryptionConfiguration(
    childName(name, "backup-encryption"),
    {
      bucket: bucket.id,
      rules: [
        kmsKeyArn !== undefined
          ? // A bucket key: S3 asks KMS for a data key per bucket and period, not per object (pgBackRest writes one per WAL segment).
            { applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: kmsKeyArn }, bucketKeyEnabled: true }
          : // No customer key: SSE-S3 (AES-256, keys managed by S3, no KMS charges per request).
            { applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } },
      ],
    },
    opts,
  );
  const publicAccess = new aws.s3.BucketPublicAccessBlock(
    childName(name, "backup-private"),
    { bucket: bucket.id, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true },
    opts,
  );
  const policy = new aws.s3.BucketPolicy(
    childName(name, "backup-policy"),
    { bucket: bucket.id, policy: bucket.arn.apply((arn) => JSON.stringify(backupBucketPolicyDocument(arn))) },
    // The public access block goes first: a policy put before it is refused while the account allows public policies.
    { parent, dependsOn: [publicAccess] },
  );
  const lifecycle = new aws.s3.BucketLifecycleConfiguration(
    childName(name, "backup-lifecycle"),
    { bucket: bucket.id, rules: backupLifecycleRules(prefix, b.retentionDays) },
    // Noncurrent-version rules need versioning on first.
    { parent, dependsOn: [versioning] },
  );
  return {
    bucketName: bucket.bucket,
    bucketArn: bucket.arn,
    region: aws.getRegionOutput({}, opts).region,
    prefix,
    kmsKeyArn,
    cipherPass,
    ready: [cipherPass, versioning, encryption, publicAccess, policy, lifecycle],
  };
}
