/**
 * The backup repository's access rules as pure functions (tested statement by statement without a
 * cloud): what the instance role may do in the backup bucket, the bucket policy, and the lifecycle
 * rules that follow the retention. The resources that carry them are declared in ./bucket.ts.
 */
import type { PolicyStatement } from "../iam/statement";

/**
 * Days a deleted or overwritten object version is kept beyond the retention. A node (or whoever
 * holds its role) can delete current objects, never versions: for the retention plus this margin,
 * every backup that was inside the retention when it was deleted can still be brought back.
 * A week covers the time to notice and act.
 */
export const NONCURRENT_MARGIN_DAYS = 7;

/** Days after which an unfinished multipart upload (an interrupted backup or WAL push) is discarded. */
export const ABORT_MULTIPART_DAYS = 7;

/** The S3 key prefix of a cluster's repository, with no leading or trailing "/". */
export function normalizedPrefix(prefix: string): string {
  return prefix.replace(/^\/+|\/+$/g, "");
}

/** pgBackRest's `repo1-path` for a prefix: the same keys, written as an absolute path. */
export function repoPath(prefix: string): string {
  return `/${normalizedPrefix(prefix)}`;
}

/** The S3 endpoint of a region (pgBackRest's `repo1-s3-endpoint`); China's regions live under amazonaws.com.cn. */
export function s3Endpoint(region: string): string {
  return `s3.${region}.amazonaws.com${region.startsWith("cn-") ? ".cn" : ""}`;
}

/**
 * The instance role's statements for a backup repository: list the bucket only under the prefix,
 * read (and, for the cluster's own repository, write and delete) objects only under it, and use the
 * KMS key (if the bucket encrypts with one) only through S3. No s3:DeleteObjectVersion or
 * s3:GetObjectVersion: with versioning on, a node can replace or delete what it wrote, but never
 * erase the older versions. `access: "read"` is for a repository the cluster only restores from
 * (another cluster's backups): its Sids end in "Source".
 */
export function backupRoleStatements(p: {
  bucketArn: string;
  prefix: string;
  kmsKeyArn?: string;
  region: string;
  access?: "readWrite" | "read";
}): PolicyStatement[] {
  const prefix = normalizedPrefix(p.prefix);
  const read = p.access === "read";
  const sid = (s: string) => (read ? `${s}Source` : s);
  const statements: PolicyStatement[] = [
    {
      Sid: sid("ListBackupPrefix"),
      Effect: "Allow",
      Action: ["s3:ListBucket"],
      Resource: [p.bucketArn],
      Condition: { StringLike: { "s3:prefix": [`${prefix}/*`] } },
    },
    {
      Sid: read ? "ReadBackupPrefixSource" : "ReadWriteBackupPrefix",
      Effect: "Allow",
      Action: read ? ["s3:GetObject"] : ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
      Resource: [`${p.bucketArn}/${prefix}/*`],
    },
  ];
  if (p.kmsKeyArn) {
    statements.push({
      Sid: sid("UseBackupKeyThroughS3"),
      Effect: "Allow",
      // GenerateDataKey to write (and for each part of a multipart upload), Decrypt to read and to complete one.
      Action: read ? ["kms:Decrypt"] : ["kms:Decrypt", "kms:GenerateDataKey"],
      Resource: [p.kmsKeyArn],
      Condition: { StringEquals: { "kms:ViaService": s3Endpoint(p.region) } },
    });
  }
  return statements;
}

/** The bucket policy of a bucket the component creates: every request without TLS is refused, whoever makes it. */
export function backupBucketPolicyDocument(bucketArn: string) {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "DenyInsecureTransport",
        Effect: "Deny",
        Principal: "*",
        Action: "s3:*",
        Resource: [bucketArn, `${bucketArn}/*`],
        Condition: { Bool: { "aws:SecureTransport": "false" } },
      },
    ],
  };
}

export interface LifecycleRule {
  id: string;
  status: "Enabled";
  filter: { prefix: string };
  noncurrentVersionExpiration?: { noncurrentDays: number };
  expiration?: { expiredObjectDeleteMarker: boolean };
  abortIncompleteMultipartUpload?: { daysAfterInitiation: number };
}

/**
 * The lifecycle rules of a created bucket, for a retention of `retentionDays` (the age of the oldest
 * point a restore may need).
 *
 * Old versions expire after the retention plus a margin: pgBackRest deletes a backup (and the WAL it
 * needed) once it falls out of the retention, which makes its objects noncurrent versions; S3 then
 * removes them. The same holds for a deletion by mistake or by an intruder: it can be undone for as
 * long as the data would have been kept anyway, plus NONCURRENT_MARGIN_DAYS.
 *
 * Current objects get no age rule: only pgBackRest knows which of them a kept backup still needs.
 * `archive.info` is written once when the stanza is created and never again, and a differential
 * backup reads the files of its full backup, which can be older than the retention; an age rule
 * would delete them and break every backup of the repository.
 */
export function backupLifecycleRules(prefix: string, retentionDays: number): LifecycleRule[] {
  const filter = { prefix: `${normalizedPrefix(prefix)}/` };
  return [
    {
      id: "expire-old-versions",
      status: "Enabled",
      filter,
      noncurrentVersionExpiration: { noncurrentDays: Math.ceil(retentionDays) + NONCURRENT_MARGIN_DAYS },
    },
    // A delete marker with no version left behind it only slows down listings.
    { id: "remove-expired-delete-markers", status: "Enabled", filter, expiration: { expiredObjectDeleteMarker: true } },
    {
      id: "abort-unfinished-uploads",
      status: "Enabled",
      filter,
      abortIncompleteMultipartUpload: { daysAfterInitiation: ABORT_MULTIPART_DAYS },
    },
  ];
}
