/**
 * The boot rehearsal's backup repository stand-in, as pure functions: the IAM conditions it enforces
 * (the role may list the bucket only under the cluster's prefix, as the component's policy says),
 * how it finds the bucket and key of a request, and ListObjectsV2 with a delimiter.
 */
import assert from "node:assert/strict";
import { backupRoleStatements } from "../../lib/backup/policies";
import { conditionHolds, policyAllows } from "../boot/aws-standins";
import { bucketAndKey, listObjects } from "../boot/s3-repo-standin";

describe("boot rehearsal: backup repository stand-in", () => {
  const policy = JSON.stringify({
    Version: "2012-10-17",
    Statement: backupRoleStatements({ bucketArn: "arn:aws:s3:::bk", prefix: "orders", region: "eu-west-3" }),
  });

  it("lets the role list only under its prefix, and read and write only there", () => {
    const list = (prefix: string) => policyAllows([policy], "s3:ListBucket", "arn:aws:s3:::bk", { "s3:prefix": prefix });
    assert.equal(list("orders/archive/orders/"), true);
    assert.equal(list("orders/"), true);
    assert.equal(list("orders"), false, "the prefix without its slash is another cluster's name too (orders-2)");
    assert.equal(list("orders-2/"), false);
    assert.equal(list(""), false);
    assert.equal(
      policyAllows([policy], "s3:ListBucket", "arn:aws:s3:::bk"),
      false,
      "no prefix in the request: the condition fails, as on AWS",
    );
    assert.equal(policyAllows([policy], "s3:PutObject", "arn:aws:s3:::bk/orders/archive/x"), true);
    assert.equal(policyAllows([policy], "s3:PutObject", "arn:aws:s3:::bk/orders-2/x"), false);
    assert.equal(policyAllows([policy], "s3:DeleteObjectVersion", "arn:aws:s3:::bk/orders/x"), false);
  });

  it("evaluates StringLike, StringEquals and Bool; an unknown operator never grants", () => {
    assert.equal(conditionHolds({ StringLike: { "s3:prefix": ["a/*"] } }, { "s3:prefix": "a/b" }), true);
    assert.equal(conditionHolds({ StringLike: { "s3:prefix": ["a/*"] } }, { "s3:prefix": "A/b" }), false, "case-sensitive");
    assert.equal(conditionHolds({ StringEquals: { "kms:ViaService": "s3.x" } }, { "kms:ViaService": "s3.x" }), true);
    assert.equal(conditionHolds({ Bool: { "aws:SecureTransport": "false" } }, { "aws:SecureTransport": "true" }), false);
    assert.equal(conditionHolds({ IpAddress: { "aws:SourceIp": "10.0.0.0/8" } }, { "aws:SourceIp": "10.1.1.1" }), false);
    assert.equal(conditionHolds(undefined, {}), true);
  });

  it("finds bucket and key host-style and path-style", () => {
    const e = "s3.eu-west-3.amazonaws.com";
    assert.deepEqual(bucketAndKey(`bk.${e}`, "/orders/archive/x%2By", e), { bucket: "bk", key: "orders/archive/x+y" });
    assert.deepEqual(bucketAndKey(`${e}:443`, "/bk/orders/a", e), { bucket: "bk", key: "orders/a" });
    assert.deepEqual(bucketAndKey(`bk.${e}`, "/", e), { bucket: "bk", key: "" });
  });

  it("lists objects and common prefixes under a prefix", () => {
    const keys = ["p/archive/s/archive.info", "p/archive/s/17-1/0000000100000000/seg", "p/backup/s/backup.info", "q/x"];
    assert.deepEqual(listObjects(keys, "p/archive/s/", "/"), { contents: ["p/archive/s/archive.info"], prefixes: ["p/archive/s/17-1/"] });
    assert.deepEqual(listObjects(keys, "p/", undefined).contents.length, 3);
  });
});
