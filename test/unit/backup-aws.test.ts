/**
 * The AWS side of backups, as pure functions: how far back the policy lets a restore reach (what the
 * bucket's lifecycle follows), the lifecycle rules, the role's statements, and the checks of the
 * `backup` arg. The resources themselves are asserted under mocks (test/component/backup.test.ts).
 */
import * as assert from "node:assert/strict";
import { validateClusterArgs } from "../../lib/args/validate";
import { backupArgProblems } from "../../lib/backup/args";
import {
  backupBucketPolicyDocument,
  backupLifecycleRules,
  backupRoleStatements,
  NONCURRENT_MARGIN_DAYS,
  repoPath,
  s3Endpoint,
} from "../../lib/backup/policies";
import { longestFullGapDays, retentionWindowDays, UNSCHEDULED_WINDOW_DAYS } from "../../lib/backup/retention";
import { backupPolicySchema, type BackupPolicyInput } from "../../sidecar/contract/settings/backup";

const window = (p: BackupPolicyInput) => retentionWindowDays(backupPolicySchema.parse(p));

describe("backups on AWS: retention window", () => {
  it("measures the longest gap between scheduled full backups", () => {
    assert.equal(longestFullGapDays("0 1 * * 0"), 7);
    assert.equal(longestFullGapDays("0 1 * * *"), 1);
    assert.equal(longestFullGapDays("0 1 1 * *"), 31, "monthly: the longest month");
    assert.equal(longestFullGapDays("0 */6 * * *"), 0.25);
    assert.equal(longestFullGapDays("never"), undefined);
  });

  it("keeps the larger of what the count and the age keep", () => {
    assert.equal(window({}), 14, "default: 2 weekly full backups");
    assert.equal(window({ retention: { full: 4 } }), 28);
    assert.equal(window({ retention: { full: 1, fullDays: 30 } }), 37, "30 days back from a full up to a week older");
    assert.equal(window({ retention: { full: 5, fullDays: 7 } }), 35, "the count keeps more than the age");
    assert.equal(window({ schedule: { full: "0 1 1 * *" }, retention: { full: 2 } }), 62);
    assert.equal(window({ schedule: { full: "0 3 * * *" }, retention: { full: 3 } }), 3);
  });

  it("without scheduled full backups, falls back to RDS's longest retention (or the age, if longer)", () => {
    assert.equal(window({ schedule: { full: "never" } }), UNSCHEDULED_WINDOW_DAYS);
    assert.equal(window({ schedule: { full: "never" }, retention: { full: 2, fullDays: 60 } }), 60);
  });
});

describe("backups on AWS: bucket rules", () => {
  it("lifecycle: old versions go after the window plus the margin; current objects never by age; only under the prefix", () => {
    const rules = backupLifecycleRules("/prod/orders/", 14);
    assert.deepEqual(rules, [
      {
        id: "expire-old-versions",
        status: "Enabled",
        filter: { prefix: "prod/orders/" },
        noncurrentVersionExpiration: { noncurrentDays: 21 },
      },
      {
        id: "remove-expired-delete-markers",
        status: "Enabled",
        filter: { prefix: "prod/orders/" },
        expiration: { expiredObjectDeleteMarker: true },
      },
      {
        id: "abort-unfinished-uploads",
        status: "Enabled",
        filter: { prefix: "prod/orders/" },
        abortIncompleteMultipartUpload: { daysAfterInitiation: 7 },
      },
    ]);
    assert.equal(NONCURRENT_MARGIN_DAYS, 7);
  });

  it("bucket policy: denies every request without TLS", () => {
    const doc = backupBucketPolicyDocument("arn:aws:s3:::b");
    assert.equal(doc.Statement.length, 1);
    assert.equal(doc.Statement[0].Effect, "Deny");
    assert.deepEqual(doc.Statement[0].Condition, { Bool: { "aws:SecureTransport": "false" } });
    assert.deepEqual(doc.Statement[0].Resource, ["arn:aws:s3:::b", "arn:aws:s3:::b/*"]);
  });

  it("role statements: a prefix with slashes is normalized; the key only through S3 of the bucket's region", () => {
    const s = backupRoleStatements({
      bucketArn: "arn:aws:s3:::b",
      prefix: "/a/b/",
      region: "cn-north-1",
      kmsKeyArn: "arn:aws-cn:kms:cn-north-1:1:key/k",
    });
    assert.deepEqual(s[0].Condition, { StringLike: { "s3:prefix": ["a/b/*"] } });
    assert.deepEqual(s[1].Resource, ["arn:aws:s3:::b/a/b/*"]);
    assert.deepEqual(s[2].Condition, { StringEquals: { "kms:ViaService": "s3.cn-north-1.amazonaws.com.cn" } });
    assert.equal(backupRoleStatements({ bucketArn: "arn:aws:s3:::b", prefix: "a", region: "us-east-1" }).length, 2);
    assert.equal(repoPath("/a/b/"), "/a/b");
    // A repository the cluster only restores from: list and read, nothing else.
    const source = backupRoleStatements({
      bucketArn: "arn:aws:s3:::src",
      prefix: "orders",
      region: "us-east-1",
      kmsKeyArn: "k",
      access: "read",
    });
    assert.deepEqual(
      source.map((x) => [x.Sid, x.Action]),
      [
        ["ListBackupPrefixSource", ["s3:ListBucket"]],
        ["ReadBackupPrefixSource", ["s3:GetObject"]],
        ["UseBackupKeyThroughS3Source", ["kms:Decrypt"]],
      ],
    );
    assert.equal(s3Endpoint("eu-west-3"), "s3.eu-west-3.amazonaws.com");
  });
});

describe("backups on AWS: the backup arg", () => {
  it("accepts good values, refuses bad ones naming the field", () => {
    assert.deepEqual(
      backupArgProblems({ bucketName: "my-backups", prefix: "prod/orders", kmsKeyArn: "arn:aws:kms:us-east-1:123456789012:key/ab-12" }),
      [],
    );
    assert.match(backupArgProblems({ bucketName: "ab" })[0], /^backup\.bucketName: "ab" is not an S3 bucket name/);
    assert.match(backupArgProblems({ bucketName: "a..b" })[0], /^backup\.bucketName/);
    assert.match(backupArgProblems({ prefix: "a/../b" })[0], /^backup\.prefix/);
    assert.match(backupArgProblems({ prefix: "//" })[0], /^backup\.prefix/);
    assert.match(backupArgProblems({ kmsKeyArn: "key-1" })[0], /^backup\.kmsKeyArn: "key-1" is not a KMS key ARN/);
  });

  it("backups are on by default; enabled false turns them off (and then other backup fields are not checked)", () => {
    assert.equal(validateClusterArgs("db", {}).backup?.prefix, "db");
    assert.equal(validateClusterArgs("db", { backup: { enabled: false, bucketName: "Bad" } }).backup, undefined);
    const r = validateClusterArgs("db", { backup: { prefix: "x/y", forceDestroy: true }, backupPolicy: { retention: { full: 3 } } });
    assert.deepEqual(r.backup, { bucketName: undefined, prefix: "x/y", kmsKeyArn: undefined, forceDestroy: true, retentionDays: 21 });
  });
});
