/**
 * A cluster created from another cluster's backups (arg `bootstrap.fromBackup`) under Pulumi mocks:
 * every PostgreSQL node's agent config carries the restore section the agent reads (its own schema
 * accepts it), node-init fetches the source's passphrase from SSM into a 0600 file, and the instance
 * role may read the source's prefix and that one parameter, decrypt only through S3 and SSM, and
 * never write anything of the source's. Bad args are refused naming the field, with nothing declared.
 */
// Mocks first: they must be in place before the component module is loaded.
import { childCollector, inputsOf, recordedUnder, valueOf } from "./mocks";
import { hostInputs } from "./hosts";
import * as assert from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import { ClusterArgsError, HaPostgresCluster, HaPostgresClusterArgs } from "../../lib";
import { NODE_PATHS } from "../../lib/userdata/paths";
import { validateAgentConfig } from "../../sidecar/contract/agent-config";
import { policyAllows } from "../boot/aws-standins";

const POLICY = "aws:iam/rolePolicy:RolePolicy";
const KEY = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const SOURCE = { clusterName: "orders", bucketName: "acme-pg-backups" };

async function build(name: string, args: HaPostgresClusterArgs): Promise<void> {
  const c = childCollector();
  const cluster = new HaPostgresCluster(name, args, c.opts);
  await c.settle();
  await valueOf(cluster.nodePrivateIps);
}

const policyText = (name: string) => String(inputsOf(POLICY, `${name}-node-policy`).policy);
const statements = (name: string) => (JSON.parse(policyText(name)) as { Statement: any[] }).Statement;
const sid = (name: string, s: string) => statements(name).find((x) => x.Sid === s);

function planOf(name: string, host: string): any {
  const doc = parseYaml(hostInputs(`${name}-${host}`).userData) as { write_files: Array<{ path: string; content: string }> };
  return JSON.parse(doc.write_files.find((f) => f.path === NODE_PATHS.nodeInitPlan)!.content);
}

function refusal(name: string, args: HaPostgresClusterArgs): string[] {
  try {
    new HaPostgresCluster(name, args);
  } catch (e) {
    assert.ok(e instanceof ClusterArgsError, String(e));
    assert.equal(recordedUnder(name).length, 0, "a refused cluster declares nothing");
    return e.problems;
  }
  assert.fail("the args were accepted");
}

describe("a cluster restored from another cluster's backups (mocks)", function () {
  this.timeout(60_000);

  describe("to a time, from a source in this region, with the source's defaults", () => {
    before(() => build("rs1", { clusterName: "orders-restored", bootstrap: { fromBackup: SOURCE, targetTime: "2026-11-27T16:05:00Z" } }));

    it("gives every PostgreSQL node the restore section the agent reads, and the agent's schema accepts the whole config", () => {
      for (const host of ["pg-0", "pg-1", "pg-2"]) {
        const config = planOf("rs1", host).agentConfig.config;
        assert.deepEqual(config.bootstrap, {
          fromBackup: {
            repo: {
              type: "s3",
              bucket: "acme-pg-backups",
              region: "us-east-1",
              endpoint: "s3.us-east-1.amazonaws.com",
              path: "/orders",
              uriStyle: "host",
              credentials: { source: "instanceRole" },
            },
            stanza: "orders",
            cipherPassphraseFile: NODE_PATHS.restoreSourceCipherPassFile,
            target: { time: "2026-11-27T16:05:00Z" },
          },
        });
        const parsed = validateAgentConfig(config);
        assert.equal(parsed.bootstrap.fromBackup?.stanza, "orders");
        // It archives into a stanza and prefix of its own, never the source's.
        assert.equal(parsed.backup?.repo.path, "/orders-restored");
        assert.equal(parsed.backup?.stanza ?? parsed.cluster, "orders-restored");
      }
    });

    it("has node-init write the source's passphrase (its component's parameter) 0600 for postgres; etcd hosts get nothing of it", () => {
      const f = planOf("rs1", "pg-1").files.find((x: any) => x.path === NODE_PATHS.restoreSourceCipherPassFile);
      assert.deepEqual(f, {
        parameter: "/ha-postgres/orders/backup/repo-cipher-pass",
        path: NODE_PATHS.restoreSourceCipherPassFile,
        owner: "postgres",
        mode: "0600",
        region: "us-east-1",
      });
      assert.ok(!JSON.stringify(planOf("rs1", "etcd-0")).includes("orders/backup"));
    });

    it("lets the role list and read the source's prefix and read its passphrase parameter, nothing more of the source's", () => {
      const p = [policyText("rs1")];
      const src = "arn:aws:s3:::acme-pg-backups";
      assert.ok(policyAllows(p, "s3:ListBucket", src, { "s3:prefix": "orders/archive/" }));
      assert.ok(policyAllows(p, "s3:GetObject", `${src}/orders/backup/orders/backup.info`));
      assert.ok(!policyAllows(p, "s3:ListBucket", src, { "s3:prefix": "other/" }), "another prefix of the source's bucket");
      assert.ok(!policyAllows(p, "s3:GetObject", `${src}/other/backup.info`));
      for (const action of ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:DeleteObjectVersion", "s3:PutObjectAcl"]) {
        assert.ok(!policyAllows(p, action, `${src}/orders/archive/x`), `${action} on the source`);
      }
      const param = "arn:aws:ssm:us-east-1:123456789012:parameter/ha-postgres/orders/backup/repo-cipher-pass";
      assert.ok(policyAllows(p, "ssm:GetParameter", param));
      assert.ok(
        !policyAllows(p, "ssm:GetParameter", "arn:aws:ssm:us-east-1:123456789012:parameter/ha-postgres/orders/postgres/superuser-password"),
      );
      assert.deepEqual(sid("rs1", "ReadSourcePassphrase"), {
        Sid: "ReadSourcePassphrase",
        Effect: "Allow",
        Action: ["ssm:GetParameter"],
        Resource: [param],
      });
      // No customer key given: no KMS grant for the source.
      assert.ok(!statements("rs1").some((s) => /Source|SourcePassphrase/.test(s.Sid) && JSON.stringify(s.Action).includes("kms:")));
    });

    it("keeps its own repository read-write (its own prefix in its own bucket)", () => {
      assert.deepEqual(sid("rs1", "ReadWriteBackupPrefix").Resource, ["arn:aws:s3:::rs1-backup-bucket/orders-restored/*"]);
    });
  });

  describe("from a source in another region, with a customer key and a given passphrase parameter", () => {
    before(() =>
      build("rs2", {
        clusterName: "orders-clone",
        bootstrap: {
          fromBackup: {
            ...SOURCE,
            prefix: "/prod/orders/",
            region: "eu-west-1",
            kmsKeyArn: KEY,
            cipherPassParameter: "/shared/orders/repo-cipher-pass",
          },
          targetName: "before-migration",
        },
      }),
    );

    it("addresses the bucket in its region and fetches the passphrase from there", () => {
      const plan = planOf("rs2", "pg-0");
      const f = plan.agentConfig.config.bootstrap.fromBackup;
      assert.deepEqual(f.repo.region, "eu-west-1");
      assert.deepEqual(f.repo.endpoint, "s3.eu-west-1.amazonaws.com");
      assert.deepEqual(f.repo.path, "/prod/orders");
      assert.deepEqual(f.target, { name: "before-migration" });
      const file = plan.files.find((x: any) => x.path === NODE_PATHS.restoreSourceCipherPassFile);
      assert.equal(file.parameter, "/shared/orders/repo-cipher-pass");
      assert.equal(file.region, "eu-west-1");
    });

    it("grants kms:Decrypt on the source's key through S3 and SSM of its region only, and GetParameter on that one parameter", () => {
      assert.deepEqual(sid("rs2", "UseBackupKeyThroughS3Source"), {
        Sid: "UseBackupKeyThroughS3Source",
        Effect: "Allow",
        Action: ["kms:Decrypt"],
        Resource: [KEY],
        Condition: { StringEquals: { "kms:ViaService": "s3.eu-west-1.amazonaws.com" } },
      });
      assert.deepEqual(sid("rs2", "DecryptSourcePassphrase"), {
        Sid: "DecryptSourcePassphrase",
        Effect: "Allow",
        Action: ["kms:Decrypt"],
        Resource: [KEY],
        Condition: { StringEquals: { "kms:ViaService": "ssm.eu-west-1.amazonaws.com" } },
      });
      assert.deepEqual(sid("rs2", "ReadSourcePassphrase").Resource, [
        "arn:aws:ssm:eu-west-1:123456789012:parameter/shared/orders/repo-cipher-pass",
      ]);
      const p = [policyText("rs2")];
      assert.ok(!policyAllows(p, "kms:GenerateDataKey", KEY, { "kms:ViaService": "s3.eu-west-1.amazonaws.com" }));
      assert.ok(policyAllows(p, "s3:GetObject", "arn:aws:s3:::acme-pg-backups/prod/orders/archive/x"));
      assert.ok(!policyAllows(p, "s3:PutObject", "arn:aws:s3:::acme-pg-backups/prod/orders/archive/x"));
    });
  });

  it("a source with one key for its backups and another for its parameters: each grant names its own key", async () => {
    const PARAMETER_KEY = "arn:aws:kms:us-east-1:123456789012:key/9999ffff-12ab-34cd-56ef-1234567890ab";
    const S3_KEY = KEY.replace("eu-west-1", "us-east-1");
    await build("rs30", {
      clusterName: "orders-clone",
      bootstrap: { fromBackup: { ...SOURCE, kmsKeyArn: S3_KEY, cipherPassKmsKeyArn: PARAMETER_KEY } },
    });
    assert.deepEqual(sid("rs30", "UseBackupKeyThroughS3Source").Resource, [S3_KEY]);
    assert.deepEqual(sid("rs30", "DecryptSourcePassphrase").Resource, [PARAMETER_KEY]);
    const p = [policyText("rs30")];
    assert.ok(!policyAllows(p, "kms:Decrypt", PARAMETER_KEY, { "kms:ViaService": "s3.us-east-1.amazonaws.com" }), "not through S3");
    assert.ok(!policyAllows(p, "kms:Decrypt", S3_KEY, { "kms:ViaService": "ssm.us-east-1.amazonaws.com" }), "not through SSM");
    assert.match(
      refusal("rs31", { bootstrap: { fromBackup: { ...SOURCE, cipherPassKmsKeyArn: "alias/aws/ssm" } } })[0],
      /^bootstrap\.fromBackup\.cipherPassKmsKeyArn: "alias\/aws\/ssm" is not a KMS key ARN/,
    );
  });

  it("without bootstrap: no restore section, no source grant, no source passphrase file", async () => {
    await build("rs3", {});
    const plan = planOf("rs3", "pg-0");
    assert.equal(plan.agentConfig.config.bootstrap, undefined);
    assert.ok(!plan.files.some((f: any) => f.path === NODE_PATHS.restoreSourceCipherPassFile));
    assert.ok(!statements("rs3").some((s) => /Source/.test(s.Sid)));
  });

  it("refuses bad source args naming the field and the fix, declaring nothing", () => {
    assert.deepEqual(refusal("rs4", { bootstrap: { fromBackup: { ...SOURCE, kmsKeyArn: "alias/orders" } } }), [
      'bootstrap.fromBackup.kmsKeyArn: "alias/orders" is not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID): ' +
        "an alias or key id cannot be granted in IAM; give the key's ARN",
    ]);
    assert.match(
      refusal("rs5", {
        clusterName: "orders-b",
        bootstrap: { fromBackup: { ...SOURCE, cipherPassParameter: "/ha-postgres/orders-b/backup/repo-cipher-pass" } },
      })[0],
      /^bootstrap\.fromBackup\.cipherPassParameter: .* is this cluster's own passphrase parameter/,
    );
    assert.match(
      refusal("rs6", { bootstrap: { fromBackup: { ...SOURCE, region: "Europe" } } })[0],
      /^bootstrap\.fromBackup\.region: must be an AWS region/,
    );
    assert.match(
      refusal("rs7", { bootstrap: { fromBackup: { ...SOURCE, cipherPassParameter: "orders pass" } } })[0],
      /^bootstrap\.fromBackup\.cipherPassParameter: must be an SSM parameter name/,
    );
    assert.match(
      refusal("rs8", { bootstrap: { fromBackup: SOURCE, targetTime: "2999-01-01T00:00:00Z" } })[0],
      /^bootstrap\.targetTime: 2999-01-01T00:00:00Z is in the future/,
    );
    assert.match(
      refusal("rs9", { clusterName: "orders", backup: { bucketName: "acme-pg-backups" }, bootstrap: { fromBackup: SOURCE } })[0],
      /^bootstrap\.fromBackup\.clusterName: "orders" is this cluster's own repository/,
    );
  });
});
