/** The agent bundle's contents and the node IAM policy document. Pure. */
import * as assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defaultAgentBundle, packageRoot, productionPackagePaths } from "../../lib/bundle/agent-bundle";
import { nodePolicyDocument } from "../../lib/iam/role";

describe("agent bundle", () => {
  it("takes only production packages from package-lock.json", () => {
    const lock = {
      packages: {
        "": { dev: false },
        "node_modules/zod": {},
        "node_modules/pg": {},
        "node_modules/pg/node_modules/x": {},
        "node_modules/mocha": { dev: true },
        "node_modules/fsevents": { devOptional: true },
      },
    };
    assert.deepEqual(productionPackagePaths(lock), ["node_modules/pg", "node_modules/pg/node_modules/x", "node_modules/zod"]);
  });

  it("the real lock file's production set has the agent's dependencies and no Pulumi", () => {
    const lock = JSON.parse(readFileSync(join(packageRoot(), "package-lock.json"), "utf8"));
    const paths = productionPackagePaths(lock);
    for (const dep of ["pg", "zod", "yaml", "commander", "pino", "prom-client"]) assert.ok(paths.includes(`node_modules/${dep}`), dep);
    assert.ok(!paths.some((p) => p.includes("@pulumi") || p.includes("mocha") || p.includes("typescript")));
  });

  it("refuses to bundle an unbuilt package, naming the fix", () => {
    const dir = mkdtempSync(join(tmpdir(), "hapg-bundle-"));
    try {
      writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "ha-postgres-cluster" }));
      assert.throws(() => defaultAgentBundle(dir), /agentBundle: .*dist\/sidecar\/cli\/main\.js is missing: run `npm run build`/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("node IAM policy", () => {
  const base = {
    parameterArns: ["arn:aws:ssm:r:1:parameter/ha-postgres/c/b", "arn:aws:ssm:r:1:parameter/ha-postgres/c/a"],
    bundleObjectArn: "arn:aws:s3:::b/agent/hapg-agent.zip",
  };

  it("reads only the listed parameters and the bundle object", () => {
    const doc = nodePolicyDocument({ ...base, sessionManager: false });
    assert.deepEqual(doc.Statement, [
      {
        Sid: "ReadClusterParameters",
        Effect: "Allow",
        Action: ["ssm:GetParameter"],
        Resource: ["arn:aws:ssm:r:1:parameter/ha-postgres/c/a", "arn:aws:ssm:r:1:parameter/ha-postgres/c/b"],
      },
      { Sid: "ReadAgentBundle", Effect: "Allow", Action: ["s3:GetObject"], Resource: ["arn:aws:s3:::b/agent/hapg-agent.zip"] },
    ]);
  });

  it("adds kms:Decrypt on the customer key and Session Manager's channel when asked", () => {
    const doc = nodePolicyDocument({ ...base, kmsKeyArn: "arn:aws:kms:r:1:key/k", sessionManager: true });
    assert.deepEqual(
      doc.Statement.map((s) => s.Sid),
      ["ReadClusterParameters", "ReadAgentBundle", "DecryptClusterParameters", "SessionManager"],
    );
    const sm = doc.Statement[3];
    assert.ok(
      sm.Action.every((a) => /^(ssmmessages|ec2messages):|^ssm:UpdateInstanceInformation$/.test(a)),
      "no ssm:Get* on *",
    );
  });
});
