/**
 * The root Pulumi program (index.ts) and its per-stack config, and every example, under mocks.
 * Stack config is set the way the Pulumi CLI passes it (PULUMI_CONFIG: strings, JSON for
 * structured values) before the program is loaded.
 */
// Mocks first: they must be in place before any component module is loaded.
import { inputsOf, quiesce, recordedUnder, valueOf } from "./mocks";
import { hostInputs, hostLaunchesIn } from "./hosts";
import * as assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { parse as parseYaml } from "yaml";
import { argsFromStackConfig } from "../../lib";
import { validateClusterArgs } from "../../lib/args/validate";

const ROOT = resolve(__dirname, "../../..");
const DIST = resolve(__dirname, "../..");

/** A stack file's config as the CLI hands it to the program: strings, JSON for non-strings. */
function stackConfig(file: string): Record<string, string> {
  const doc = parseYaml(readFileSync(resolve(ROOT, file), "utf8")) as { config: Record<string, unknown> };
  return Object.fromEntries(Object.entries(doc.config).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
}

async function settle(exports: Record<string, unknown>): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(exports)) out[k] = pulumi.Output.isInstance(v) ? await valueOf(v as pulumi.Output<unknown>) : v;
  await quiesce();
  return out;
}

describe("stack config → args", () => {
  afterEach(() => pulumi.runtime.setAllConfig({}));

  it("maps every key of Pulumi.prod.yaml to its arg", () => {
    pulumi.runtime.setAllConfig(stackConfig("Pulumi.prod.yaml"));
    const args = argsFromStackConfig();
    assert.deepEqual(args, {
      clusterName: "orders",
      vpcId: "vpc-0a1b2c3d4e5f67890",
      subnetIds: ["subnet-0aaa1111bbbb2222c", "subnet-0ddd3333eeee4444f", "subnet-0a5b5c5d5e5f56666"],
      nodeCount: 3,
      instanceType: "r7i.xlarge",
      postgres: { parameters: { shared_buffers: "8GB", effective_cache_size: "24GB", max_connections: 400 } },
      dataVolume: { sizeGiB: 500, iops: 12000, throughputMiBps: 500 },
      kmsKeyId: "alias/orders-db",
      etcd: { members: 5, instanceType: "t3.small" },
      allowedCidrs: ["10.0.0.0/16"],
      timing: { ttl: 6, loopWait: 1, retryTimeout: 2 },
      synchronousMode: "on",
      tags: { team: "orders", environment: "production" },
    });
    const resolved = validateClusterArgs("orders", args);
    assert.equal(resolved.etcd.members, 5);
    assert.equal(resolved.settings.synchronousMode, "on", "prod runs in synchronous mode");
    assert.equal(resolved.routing, "haproxy", "unset keys keep the defaults");
  });

  it("maps Pulumi.dev.yaml and leaves the rest to the defaults", () => {
    pulumi.runtime.setAllConfig(stackConfig("Pulumi.dev.yaml"));
    assert.deepEqual(argsFromStackConfig(), {
      instanceType: "t3.medium",
      etcd: { placement: "colocated" },
      dataVolume: { sizeGiB: 20 },
      allowedCidrs: ["172.31.0.0/16"],
      tags: { environment: "dev" },
    });
  });

  it("maps the scalar keys one by one (pulumi config set ha-postgres:KEY VALUE)", () => {
    pulumi.runtime.setAllConfig({
      "ha-postgres:nodeCount": "5",
      "ha-postgres:routing": "direct",
      "ha-postgres:primaryPort": "6432",
      "ha-postgres:replicaPort": "6433",
      "ha-postgres:publicLoadBalancer": "true",
      "ha-postgres:sessionManager": "false",
      "ha-postgres:postgresVersion": "16",
      "ha-postgres:architecture": "arm64",
      "ha-postgres:etcdVolumeSizeGiB": "30",
      "ha-postgres:dataVolumeType": "io2",
      "ha-postgres:maximumLagOnFailover": "0",
      "ha-postgres:ssmParameterPrefix": "/db",
      "ha-postgres:amiId": "ami-1",
      "ha-postgres:sshKeyName": "ops",
      "ha-postgres:allowedSecurityGroupIds": '["sg-1"]',
      "aws:region": "us-east-2",
      "ha-postgres:synchronousMode": "strict",
      "ha-postgres:watchdog": "required",
      "ha-postgres:postgresUsePgRewind": "false",
      "ha-postgres:egress": "nat",
    });
    assert.deepEqual(argsFromStackConfig(), {
      nodeCount: 5,
      routing: "direct",
      listenerPorts: { primary: 6432, replica: 6433 },
      publicLoadBalancer: true,
      sessionManager: false,
      postgres: { version: 16, usePgRewind: false },
      architecture: "arm64",
      etcd: { dataVolume: { sizeGiB: 30 } },
      dataVolume: { type: "io2" },
      maximumLagOnFailover: 0,
      ssmParameterPrefix: "/db",
      amiId: "ami-1",
      sshKeyName: "ops",
      allowedSecurityGroupIds: ["sg-1"],
      synchronousMode: "strict",
      watchdog: "required",
      egress: "nat",
    });
  });

  it("maps the backup keys: the AWS side (backup*) and the agent's policy (backupPolicy*), never for a schedule that does not run", () => {
    pulumi.runtime.setAllConfig({
      "ha-postgres:backupEnabled": "true",
      "ha-postgres:backupBucketName": "shared-backups",
      "ha-postgres:backupPrefix": "prod/orders",
      "ha-postgres:backupKmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/k-1",
      "ha-postgres:backupPolicyArchiveTimeout": "30",
      "ha-postgres:backupPolicyScheduleFull": "0 2 * * *",
      "ha-postgres:backupPolicyScheduleDiff": "never",
      "ha-postgres:backupPolicyRetentionFull": "7",
      "ha-postgres:backupPolicyFromStandby": "false",
    });
    const args = argsFromStackConfig();
    assert.deepEqual(args, {
      backup: {
        enabled: true,
        bucketName: "shared-backups",
        prefix: "prod/orders",
        kmsKeyArn: "arn:aws:kms:us-east-1:123456789012:key/k-1",
      },
      backupPolicy: { archiveTimeout: 30, schedule: { full: "0 2 * * *", diff: "never" }, retention: { full: 7 }, fromStandby: false },
    });
    const resolved = validateClusterArgs("db", args);
    assert.equal(resolved.backup?.retentionDays, 7, "7 daily full backups");
    assert.equal(resolved.settings.backupPolicy.schedule.diff, "never");
  });

  it("bootstrap: a restore from another cluster's backups, set with --path; a bad target is refused naming the field", () => {
    const bootstrap = { fromBackup: { clusterName: "ledger", bucketName: "ledger-backups" }, targetTime: "2026-11-27T16:05:00Z" };
    pulumi.runtime.setAllConfig({ "ha-postgres:bootstrap": JSON.stringify(bootstrap) });
    const args = argsFromStackConfig();
    assert.deepEqual(args, { bootstrap });
    const resolved = validateClusterArgs("pitr", args);
    assert.equal(resolved.bootstrap?.fromBackup.prefix, "ledger");
    assert.deepEqual(resolved.bootstrap?.target, { time: "2026-11-27T16:05:00Z" });
    pulumi.runtime.setAllConfig({ "ha-postgres:bootstrap": JSON.stringify({ ...bootstrap, targetTime: "yesterday" }) });
    assert.throws(() => validateClusterArgs("pitr", argsFromStackConfig()), /bootstrap\.targetTime/);
  });

  it("synchronousMode true (the former form) passes through and is refused by the arg validation with the fix", () => {
    pulumi.runtime.setAllConfig({ "ha-postgres:synchronousMode": "true" });
    const args = argsFromStackConfig();
    assert.throws(
      () => validateClusterArgs("db", args),
      /synchronousMode: must be "off", "on", "strict" or "quorum" \(default\), not "true": use "on"/,
    );
  });

  it("synchronousModeStrict is no longer a key: refused, naming it", () => {
    pulumi.runtime.setAllConfig({ "ha-postgres:synchronousModeStrict": "true" });
    assert.throws(() => argsFromStackConfig(), /ha-postgres:synchronousModeStrict: not a setting of the cluster/);
  });

  it("the watchdog takes its mode, or its settings as a structured value", () => {
    pulumi.runtime.setAllConfig({ "ha-postgres:watchdog": JSON.stringify({ mode: "required", safetyMargin: 0.4 }) });
    const args = argsFromStackConfig();
    assert.deepEqual(args, { watchdog: { mode: "required", safetyMargin: 0.4 } });
    assert.equal(validateClusterArgs("db", args).settings.watchdog.safetyMargin, 0.4);
  });

  it("rejects a misspelt key, naming it", () => {
    pulumi.runtime.setAllConfig({ "ha-postgres:nodecount": "5" });
    assert.throws(() => argsFromStackConfig(), /ha-postgres:nodecount: not a setting of the cluster: fix the spelling/);
  });

  it("every key the program reads is declared in Pulumi.yaml or documented as structured/decimal", () => {
    const project = parseYaml(readFileSync(resolve(ROOT, "Pulumi.yaml"), "utf8")) as { name: string; config: Record<string, unknown> };
    assert.equal(project.name, "ha-postgres");
    const { STACK_CONFIG_KEYS, settingKeys } = require("../../lib/config/stack-config") as typeof import("../../lib/config/stack-config");
    // Pulumi.yaml declares no decimals and no structured values: those keys are documented in its comment.
    const undeclarable = new Set(
      settingKeys()
        .filter((s) => s.kind === "number" || s.kind === "object")
        .map((s) => s.key),
    );
    for (const k of ["subnetIds", "allowedCidrs", "allowedSecurityGroupIds", "tags", "bootstrap"]) undeclarable.add(k);
    for (const k of Object.keys(STACK_CONFIG_KEYS))
      assert.ok(k in project.config || undeclarable.has(k), `${k} is not declared in Pulumi.yaml`);
  });

  it("Pulumi.yaml's config block holds only known keys, with the types of the settings schema", () => {
    const project = parseYaml(readFileSync(resolve(ROOT, "Pulumi.yaml"), "utf8")) as { config: Record<string, { type: string }> };
    const { STACK_CONFIG_KEYS, settingKeys } = require("../../lib/config/stack-config") as typeof import("../../lib/config/stack-config");
    for (const key of Object.keys(project.config))
      assert.ok(key in STACK_CONFIG_KEYS, `Pulumi.yaml declares ${key}, which the program does not read`);
    const pulumiType = {
      integer: "integer",
      boolean: "boolean",
      string: "string",
      "string-or-object": "string",
    } as Record<string, string>;
    for (const s of settingKeys()) {
      if (!(s.key in project.config)) continue;
      assert.equal(
        project.config[s.key].type,
        pulumiType[s.kind],
        `Pulumi.yaml: ${s.key} (${s.path.join(".")}) must be declared as ${pulumiType[s.kind]}`,
      );
    }
  });
});

describe("the root program (index.ts)", function () {
  this.timeout(60_000);
  after(() => pulumi.runtime.setAllConfig({}));

  it("builds one cluster from the dev stack's config and exports its outputs", async () => {
    pulumi.runtime.setAllConfig(stackConfig("Pulumi.dev.yaml"));
    const out = await settle(require(resolve(DIST, "index.js")));
    assert.deepEqual(Object.keys(out).sort(), [
      "backupBucketName",
      "backupCipherPassParameterName",
      "caCertificatePem",
      "clientSecurityGroupId",
      "egress",
      "etcdPrivateIps",
      "nodePrivateIps",
      "primaryEndpoint",
      "primaryPort",
      "publicIps",
      "replicaEndpoint",
      "replicaPort",
      "replicationPasswordParameterName",
      "superuserPasswordParameterName",
    ]);
    // The dev stack deploys into the default VPC, whose subnets route to an internet gateway.
    assert.deepEqual(out.egress, { "pg-0": "publicIp", "pg-1": "publicIp", "pg-2": "publicIp" });
    assert.equal(Object.keys(out.publicIps as object).length, 3);
    assert.equal(out.superuserPasswordParameterName, "/ha-postgres/pg-test/postgres/superuser-password");
    assert.equal((out.nodePrivateIps as string[]).length, 3);
    // Colocated etcd: 3 instances in all, t3.medium, 20 GiB volumes.
    const instances = hostLaunchesIn(recordedUnder("pg-test"));
    assert.equal(instances.length, 3);
    assert.ok(instances.every((i) => i.inputs.instanceType === "t3.medium"));
    assert.equal(inputsOf("aws:ebs/volume:Volume", "pg-test-pg-0-data").size, 20);
    assert.equal(inputsOf("aws:ebs/volume:Volume", "pg-test-pg-0-data").tags.environment, "dev");
  });
});

describe("examples", function () {
  this.timeout(60_000);
  afterEach(() => pulumi.runtime.setAllConfig({}));

  it("default-vpc-minimal: every default", async () => {
    const out = await settle(require(resolve(DIST, "examples/default-vpc-minimal/index.js")));
    assert.equal(out.primaryPort, 5432);
    assert.equal(out.superuserPasswordParameter, "/ha-postgres/minimal/postgres/superuser-password");
    assert.equal(hostLaunchesIn(recordedUnder("minimal")).length, 6);
    // The default VPC routes to an internet gateway: a public address per instance, auto-assigned, no Elastic IP.
    assert.deepEqual(Object.values(out.publicIps as object), [true, true, true, true, true, true]);
    assert.equal(recordedUnder("minimal").filter((r) => r.type === "aws:ec2/eip:Eip").length, 0);
  });

  it("existing-vpc-five-etcd: the VPC's private subnets, 5 etcd members, larger volumes", async () => {
    pulumi.runtime.setAllConfig({ "ha-postgres:vpcId": "vpc-existing" });
    const out = await settle(require(resolve(DIST, "examples/existing-vpc-five-etcd/index.js")));
    assert.equal((out.etcdPrivateIps as string[]).length, 5);
    const vol = inputsOf("aws:ebs/volume:Volume", "orders-pg-0-data");
    assert.deepEqual([vol.size, vol.iops, vol.throughput], [500, 12000, 500]);
    assert.equal(inputsOf("aws:ec2/securityGroup:SecurityGroup", "orders-sg-nodes").vpcId, "vpc-existing");
    assert.equal(inputsOf("aws:ec2/subnetCidrReservation:SubnetCidrReservation", "orders-pg-0-ip").subnetId, "subnet-x1");
    assert.equal(recordedUnder("orders").filter((r) => r.type === "aws:ec2/eip:Eip").length, 0, "behind the VPC's NAT: no Elastic IP");
  });

  it("restore-from-backup: a clone of a cluster, restored from its bucket to the configured time, reading only the source", async () => {
    pulumi.runtime.setAllConfig({ "ha-postgres:targetTime": "2026-01-02T03:04:05Z" });
    const out = await settle(require(resolve(DIST, "examples/restore-from-backup/index.js")));
    assert.match(String(out.pitrEndpoint), /^pitr-nlb/);
    const doc = parseYaml(hostInputs("pitr-pg-0").userData) as {
      write_files: Array<{ path: string; content: string }>;
    };
    const plan = JSON.parse(doc.write_files.find((f) => f.path === "/etc/hapg/node-init.json")!.content);
    const f = plan.agentConfig.config.bootstrap.fromBackup;
    assert.deepEqual(
      [f.repo.bucket, f.repo.path, f.stanza, f.target],
      ["ledger-backup-bucket", "/ledger", "ledger", { time: "2026-01-02T03:04:05Z" }],
    );
    const policy = JSON.parse(inputsOf("aws:iam/rolePolicy:RolePolicy", "pitr-node-policy").policy);
    const source = policy.Statement.filter((s: { Sid: string }) => s.Sid.endsWith("Source"));
    assert.deepEqual(source.map((s: { Action: string[] }) => s.Action).flat(), ["s3:ListBucket", "s3:GetObject"]);
  });

  it("read-replica-app: an app that joins the client group and gets both endpoints", async () => {
    const out = await settle(require(resolve(DIST, "examples/read-replica-app/index.js")));
    assert.match(String(out.readUrl), /:5433$/);
    assert.match(String(out.writeUrl), /:5432$/);
    const app = inputsOf("aws:ec2/instance:Instance", "shop-app");
    assert.deepEqual(app.vpcSecurityGroupIds, ["shop-sg-clients-id"]);
    assert.match(app.userData, /DATABASE_READ_URL=postgresql:\/\/postgres@shop-nlb\.elb\.us-east-1\.amazonaws\.com:5433/);
    assert.ok(!app.userData.includes("MOCKSECRET"));
    const policy = JSON.parse(inputsOf("aws:iam/rolePolicy:RolePolicy", "shop-app-db-password").policy);
    assert.equal(policy.Statement[0].Resource, "arn:aws:ssm:us-east-1:123456789012:parameter/ha-postgres/shop/postgres/superuser-password");
  });
});
