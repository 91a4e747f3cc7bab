/**
 * The AWS side of backups under Pulumi mocks: the bucket the component creates (versioning,
 * encryption, public access block, TLS-only policy, lifecycle following the retention) or the
 * existing one it takes, the instance role's grants checked statement by statement (nothing beyond
 * the cluster's prefix), the repository passphrase (SecureString, written 0600 for postgres), and
 * the agent config's `backup` section (the role's credentials, no key anywhere).
 */
// Mocks first: they must be in place before the component module is loaded.
import { childCollector, inputsOf, recordedUnder, valueOf, Recorded } from "./mocks";
import { hostInputs } from "./hosts";
import * as assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { parse as parseYaml } from "yaml";
import { ClusterArgsError, HaPostgresCluster, HaPostgresClusterArgs } from "../../lib";
import { USER_DATA_LIMIT_BYTES } from "../../lib/userdata/render";
import { NONCURRENT_MARGIN_DAYS } from "../../lib/backup/policies";
import { retentionWindowDays } from "../../lib/backup/retention";
import { validateAgentConfig } from "../../sidecar/contract/agent-config";
import { BACKUP_POLICY_DEFAULTS } from "../../sidecar/contract/settings/backup";

const T = {
  bucket: "aws:s3/bucket:Bucket",
  versioning: "aws:s3/bucketVersioning:BucketVersioning",
  encryption: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
  publicAccess: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
  bucketPolicy: "aws:s3/bucketPolicy:BucketPolicy",
  lifecycle: "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
  policy: "aws:iam/rolePolicy:RolePolicy",
  param: "aws:ssm/parameter:Parameter",
  password: "random:index/randomPassword:RandomPassword",
  instance: "aws:ec2/instance:Instance",
} as const;

const KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

interface Built {
  cluster: HaPostgresCluster;
  resources: Recorded[];
}

async function build(name: string, args: HaPostgresClusterArgs = {}): Promise<Built> {
  const c = childCollector();
  const cluster = new HaPostgresCluster(name, args, c.opts);
  await c.settle();
  await valueOf(cluster.nodePrivateIps);
  return { cluster, resources: recordedUnder(name) };
}

const ofType = (b: Built, type: string) => b.resources.filter((r) => r.type === type);
const policyOf = (name: string) => JSON.parse(inputsOf(T.policy, `${name}-node-policy`).policy) as { Statement: any[] };
const statement = (name: string, sid: string) => policyOf(name).Statement.find((s) => s.Sid === sid);

function userData(name: string, host: string): string {
  return hostInputs(`${name}-${host}`).userData;
}
function nodeInitPlan(ud: string): any {
  const doc = parseYaml(ud) as { write_files: Array<{ path: string; content: string }> };
  return JSON.parse(doc.write_files.find((f) => f.path === "/etc/hapg/node-init.json")!.content);
}
function packages(ud: string): string[] {
  return (parseYaml(ud) as { packages: string[] }).packages;
}

describe("backups on AWS (mocks)", function () {
  this.timeout(60_000);

  describe("by default: on, in a bucket the component creates", () => {
    let d: Built;
    before(async () => {
      d = await build("bk1");
    });

    it("creates the backup bucket with its settings, each a child named bk1-backup-<role>", () => {
      const names = d.resources.filter((r) => r.name.startsWith("bk1-backup")).map((r) => `${r.type.split(":").pop()} ${r.name}`);
      assert.deepEqual(names.sort(), [
        "Bucket bk1-backup",
        "BucketLifecycleConfiguration bk1-backup-lifecycle",
        "BucketPolicy bk1-backup-policy",
        "BucketPublicAccessBlock bk1-backup-private",
        "BucketServerSideEncryptionConfiguration bk1-backup-encryption",
        "BucketVersioning bk1-backup-versioning",
        "Parameter bk1-backup-cipher-pass-param",
        "RandomPassword bk1-backup-cipher-pass",
      ]);
      // Backups outlive the stack unless asked (like RDS's retained backups).
      assert.equal(inputsOf(T.bucket, "bk1-backup").forceDestroy, false);
      for (const t of [T.versioning, T.encryption, T.publicAccess, T.bucketPolicy, T.lifecycle]) {
        const ours = ofType(d, t).filter((r) => r.name.startsWith("bk1-backup"));
        assert.equal(ours.length, 1, t);
        assert.equal(ours[0].inputs.bucket, "bk1-backup-id", `${t} applies to the backup bucket`);
      }
    });

    it("turns versioning on, blocks public access and encrypts with SSE-S3 when no key is given", () => {
      assert.deepEqual(inputsOf(T.versioning, "bk1-backup-versioning").versioningConfiguration, { status: "Enabled" });
      const pab = inputsOf(T.publicAccess, "bk1-backup-private");
      assert.deepEqual(
        [pab.blockPublicAcls, pab.blockPublicPolicy, pab.ignorePublicAcls, pab.restrictPublicBuckets],
        [true, true, true, true],
      );
      assert.deepEqual(inputsOf(T.encryption, "bk1-backup-encryption").rules, [
        { applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } },
      ]);
    });

    it("refuses every request without TLS, from anyone, on the bucket and its objects", () => {
      const doc = JSON.parse(inputsOf(T.bucketPolicy, "bk1-backup-policy").policy);
      assert.deepEqual(doc.Statement, [
        {
          Sid: "DenyInsecureTransport",
          Effect: "Deny",
          Principal: "*",
          Action: "s3:*",
          Resource: ["arn:aws:s3:::bk1-backup-bucket", "arn:aws:s3:::bk1-backup-bucket/*"],
          Condition: { Bool: { "aws:SecureTransport": "false" } },
        },
      ]);
    });

    it("expires old versions after the retention plus a margin, never current objects by age", () => {
      const rules = inputsOf(T.lifecycle, "bk1-backup-lifecycle").rules as any[];
      // Default policy: 2 full backups kept, one a week → a restore reaches 14 days back.
      assert.equal(retentionWindowDays(BACKUP_POLICY_DEFAULTS), 14);
      const versions = rules.find((r) => r.id === "expire-old-versions");
      assert.deepEqual(versions.noncurrentVersionExpiration, { noncurrentDays: 14 + NONCURRENT_MARGIN_DAYS });
      for (const r of rules) {
        assert.equal(r.status, "Enabled");
        assert.deepEqual(r.filter, { prefix: "bk1/" }, "only the cluster's prefix");
        assert.ok(
          r.expiration === undefined || (r.expiration.days === undefined && r.expiration.date === undefined),
          `${r.id}: no age rule`,
        );
      }
      assert.deepEqual(rules.find((r) => r.id === "abort-unfinished-uploads").abortIncompleteMultipartUpload, { daysAfterInitiation: 7 });
    });

    it("lets the role list, read and write only the cluster's prefix, statement by statement", () => {
      assert.deepEqual(statement("bk1", "ListBackupPrefix"), {
        Sid: "ListBackupPrefix",
        Effect: "Allow",
        Action: ["s3:ListBucket"],
        Resource: ["arn:aws:s3:::bk1-backup-bucket"],
        Condition: { StringLike: { "s3:prefix": ["bk1/*"] } },
      });
      assert.deepEqual(statement("bk1", "ReadWriteBackupPrefix"), {
        Sid: "ReadWriteBackupPrefix",
        Effect: "Allow",
        Action: ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
        Resource: ["arn:aws:s3:::bk1-backup-bucket/bk1/*"],
      });
      assert.equal(statement("bk1", "UseBackupKeyThroughS3"), undefined, "no customer key, no KMS grant");
      // Across the whole document: every S3 grant is the bundle object, the prefix, or the bucket under a prefix condition.
      for (const s of policyOf("bk1").Statement) {
        const resources: string[] = Array.isArray(s.Resource) ? s.Resource : [s.Resource];
        for (const a of s.Action as string[]) {
          if (!a.startsWith("s3:")) continue;
          assert.ok(!/Version|\*/.test(a), `${s.Sid}: ${a} (no version deletes, no wildcard actions)`);
          for (const r of resources) {
            const ok =
              r === "arn:aws:s3:::bk1-bundle-bucket/agent/hapg-agent.zip" ||
              r === "arn:aws:s3:::bk1-backup-bucket/bk1/*" ||
              (r === "arn:aws:s3:::bk1-backup-bucket" && a === "s3:ListBucket" && s.Condition?.StringLike?.["s3:prefix"]?.[0] === "bk1/*");
            assert.ok(ok, `${s.Sid}: ${a} on ${r}`);
          }
        }
      }
    });

    it("keeps the repository passphrase in a SecureString the role may read, written 0600 for postgres on every node", async () => {
      const pass = inputsOf(T.password, "bk1-backup-cipher-pass");
      assert.equal(pass.length, 64);
      assert.equal(pass.special, false);
      const param = inputsOf(T.param, "bk1-backup-cipher-pass-param");
      assert.equal(param.type, "SecureString");
      assert.equal(param.name, "/ha-postgres/bk1/backup/repo-cipher-pass");
      assert.match(JSON.stringify(param.value), /MOCKSECRET-password-bk1-backup-cipher-pass/);
      assert.ok(statement("bk1", "ReadClusterParameters").Resource.includes(`arn:aws:ssm:us-east-1:123456789012:parameter${param.name}`));
      for (const host of ["pg-0", "pg-1", "pg-2"]) {
        const files = nodeInitPlan(userData("bk1", host)).files as any[];
        assert.deepEqual(
          files.find((f) => f.parameter === param.name),
          { parameter: param.name, path: "/etc/hapg/secrets/backup-cipher-pass", owner: "postgres", mode: "0600" },
          host,
        );
      }
      for (const host of ["etcd-0", "etcd-1", "etcd-2"])
        assert.ok(!JSON.stringify(nodeInitPlan(userData("bk1", host))).includes("backup"), `${host} gets no backup file`);
    });

    it("renders the agent's backup section: the bucket, the role's credentials, the passphrase file, no key anywhere", () => {
      for (const host of ["pg-0", "pg-1", "pg-2"]) {
        const ud = userData("bk1", host);
        const config = validateAgentConfig(nodeInitPlan(ud).agentConfig.config);
        assert.deepEqual(config.backup?.repo, {
          type: "s3",
          bucket: "bk1-backup-bucket",
          region: "us-east-1",
          endpoint: "s3.us-east-1.amazonaws.com",
          path: "/bk1",
          uriStyle: "host",
          verifyTls: true,
          credentials: { source: "instanceRole" },
        });
        assert.equal(config.backup?.cipherPassphraseFile, "/etc/hapg/secrets/backup-cipher-pass");
        assert.deepEqual(config.backupPolicy, BACKUP_POLICY_DEFAULTS, "the settings' defaults, as the component resolved them");
        assert.doesNotMatch(ud, /MOCKSECRET|accessKeyId|secretAccessKey|AKIA|ASIA/, host);
        assert.ok(packages(ud).includes("pgbackrest"), `${host} installs pgbackrest`);
        assert.ok(Buffer.byteLength(ud) < USER_DATA_LIMIT_BYTES, `${host}: ${Buffer.byteLength(ud)} bytes`);
      }
      assert.ok(!packages(userData("bk1", "etcd-0")).includes("pgbackrest"), "etcd members run no PostgreSQL");
    });

    it("outputs the bucket and the passphrase's parameter name, never the passphrase", async () => {
      assert.equal(await valueOf(d.cluster.backupBucketName), "bk1-backup-bucket");
      assert.equal(await valueOf(d.cluster.backupCipherPassParameterName), "/ha-postgres/bk1/backup/repo-cipher-pass");
    });
  });

  it("encrypts a created bucket with the cluster's key, and lets the role use it through S3 only", async () => {
    await build("bk2", { kmsKeyId: "key-77" });
    const keyArn = "arn:aws:kms:us-east-1:123456789012:key/key-77";
    assert.deepEqual(inputsOf(T.encryption, "bk2-backup-encryption").rules, [
      { applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: keyArn }, bucketKeyEnabled: true },
    ]);
    assert.deepEqual(statement("bk2", "UseBackupKeyThroughS3"), {
      Sid: "UseBackupKeyThroughS3",
      Effect: "Allow",
      Action: ["kms:Decrypt", "kms:GenerateDataKey"],
      Resource: [keyArn],
      Condition: { StringEquals: { "kms:ViaService": "s3.us-east-1.amazonaws.com" } },
    });
    const config = validateAgentConfig(nodeInitPlan(userData("bk2", "pg-0")).agentConfig.config);
    assert.equal(config.backup?.repo.kmsKeyId, keyArn);
  });

  it("backup.kmsKeyArn takes precedence over the cluster's key for the bucket", async () => {
    await build("bk3", { kmsKeyId: "key-77", backup: { kmsKeyArn: KEY } });
    assert.equal(inputsOf(T.encryption, "bk3-backup-encryption").rules[0].applyServerSideEncryptionByDefault.kmsMasterKeyId, KEY);
    assert.deepEqual(statement("bk3", "UseBackupKeyThroughS3").Resource, [KEY]);
  });

  it("the lifecycle follows backupPolicy's retention, and the agent gets the same policy", async () => {
    const backupPolicy = { archiveTimeout: 30, retention: { full: 3, fullDays: 30 } };
    await build("bk4", { backupPolicy });
    // A full backup weekly: 3 kept reach 21 days back; 30 days by age keeps a full up to 37 days old.
    const rules = inputsOf(T.lifecycle, "bk4-backup-lifecycle").rules as any[];
    assert.equal(rules.find((r) => r.id === "expire-old-versions").noncurrentVersionExpiration.noncurrentDays, 37 + NONCURRENT_MARGIN_DAYS);
    const config = validateAgentConfig(nodeInitPlan(userData("bk4", "pg-1")).agentConfig.config);
    assert.equal(config.backupPolicy.archiveTimeout, 30);
    assert.deepEqual(config.backupPolicy.retention, { full: 3, fullDays: 30 });
  });

  it("takes an existing bucket as it is: no bucket resources, grants on its prefix, its region", async () => {
    const b = await build("bk5", { backup: { bucketName: "shared-backups-eu-west-1", prefix: "/prod/orders/", kmsKeyArn: KEY } });
    assert.deepEqual(
      b.resources
        .filter((r) => r.name.startsWith("bk5-backup"))
        .map((r) => r.name)
        .sort(),
      ["bk5-backup-cipher-pass", "bk5-backup-cipher-pass-param"],
      "the owner's bucket: no versioning, encryption, policy or lifecycle of ours",
    );
    assert.deepEqual(statement("bk5", "ListBackupPrefix").Resource, ["arn:aws:s3:::shared-backups-eu-west-1"]);
    assert.deepEqual(statement("bk5", "ListBackupPrefix").Condition, { StringLike: { "s3:prefix": ["prod/orders/*"] } });
    assert.deepEqual(statement("bk5", "ReadWriteBackupPrefix").Resource, ["arn:aws:s3:::shared-backups-eu-west-1/prod/orders/*"]);
    assert.deepEqual(statement("bk5", "UseBackupKeyThroughS3").Condition, {
      StringEquals: { "kms:ViaService": "s3.eu-west-1.amazonaws.com" },
    });
    const config = validateAgentConfig(nodeInitPlan(userData("bk5", "pg-0")).agentConfig.config);
    assert.deepEqual(
      [
        config.backup?.repo.bucket,
        config.backup?.repo.region,
        config.backup?.repo.endpoint,
        config.backup?.repo.path,
        config.backup?.repo.kmsKeyId,
      ],
      ["shared-backups-eu-west-1", "eu-west-1", "s3.eu-west-1.amazonaws.com", "/prod/orders", KEY],
    );
  });

  it("a bucket name with dots is addressed path-style (AWS's wildcard certificate covers one label)", async () => {
    await build("bk6", { backup: { bucketName: "backups.example.com" } });
    const config = validateAgentConfig(nodeInitPlan(userData("bk6", "pg-0")).agentConfig.config);
    assert.equal(config.backup?.repo.uriStyle, "path");
  });

  it("backup.enabled false: no bucket, no passphrase, no grant, no backup section (pgbackrest stays installed for restores)", async () => {
    const b = await build("bk7", { backup: { enabled: false } });
    assert.deepEqual(
      b.resources.filter((r) => r.name.includes("backup")).map((r) => r.name),
      [],
    );
    assert.deepEqual(
      policyOf("bk7").Statement.map((s) => s.Sid),
      ["ReadClusterParameters", "ReadAgentBundle", "SessionManager"],
    );
    const ud = userData("bk7", "pg-0");
    assert.equal(validateAgentConfig(nodeInitPlan(ud).agentConfig.config).backup, undefined);
    assert.doesNotMatch(ud, /backup-cipher-pass/);
    assert.ok(packages(ud).includes("pgbackrest"));
    assert.equal(await valueOf(b.cluster.backupBucketName), undefined);
    assert.equal(await pulumi.isSecret(b.cluster.backupBucketName), false);
  });

  it("bad backup args throw before any resource, naming each field and the fix", () => {
    assert.throws(
      () =>
        new HaPostgresCluster("bk8", {
          backup: {
            bucketName: "Bad_Bucket",
            prefix: "a b",
            kmsKeyArn: "arn:aws:kms:us-east-1:123456789012:alias/backups",
            forceDestroy: true,
          },
          backupPolicy: { schedule: { full: "0 25 * * *" } },
        }),
      (e: unknown) => {
        assert.ok(e instanceof ClusterArgsError);
        assert.match(e.message, /backupPolicy\.schedule\.full: hour "25"/);
        return true;
      },
    );
    assert.throws(
      () =>
        new HaPostgresCluster("bk8", {
          backup: {
            bucketName: "Bad_Bucket",
            prefix: "a b",
            kmsKeyArn: "arn:aws:kms:us-east-1:123456789012:alias/backups",
            forceDestroy: true,
          },
        }),
      (e: unknown) => {
        assert.ok(e instanceof ClusterArgsError);
        assert.match(e.message, /backup\.bucketName: "Bad_Bucket" is not an S3 bucket name/);
        assert.match(e.message, /backup\.prefix: "a b" is not a usable key prefix/);
        assert.match(e.message, /backup\.kmsKeyArn: .* an alias cannot be granted in IAM; give the key's ARN/);
        assert.match(e.message, /backup\.forceDestroy: applies only to a bucket the component creates/);
        return true;
      },
    );
    assert.throws(
      () => new HaPostgresCluster("bk8", { backup: { enabled: "yes" as unknown as boolean } }),
      /backup\.enabled: must be true or false/,
    );
    assert.throws(() => new HaPostgresCluster("bk8", { backup: { bucket: "x" } as never }), /backup: "bucket": not an argument/);
    assert.equal(recordedUnder("bk8").length, 0);
  });
});
