/** Arg validation of HaPostgresCluster: each bad arg gets a message naming it and the fix. Pure. */
import * as assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { ClusterArgsError, isArmInstanceType, isCidr, validateClusterArgs, validatePlacement } from "../../lib/args/validate";
import { HaPostgresClusterArgs } from "../../lib/args/types";
import { BACKUP_POLICY_DEFAULTS } from "../../sidecar/contract/settings/backup";

function problems(args: unknown, name = "db"): string[] {
  try {
    validateClusterArgs(name, args as HaPostgresClusterArgs);
  } catch (e) {
    assert.ok(e instanceof ClusterArgsError, String(e));
    return e.problems;
  }
  return [];
}

function expectProblem(args: unknown, pattern: RegExp): void {
  const p = problems(args);
  assert.ok(
    p.some((x) => pattern.test(x)),
    `expected ${pattern} in:\n${p.join("\n")}`,
  );
}

describe("validateClusterArgs", () => {
  it("fills every default from empty args", () => {
    const r = validateClusterArgs("orders", {});
    assert.equal(r.nodeCount, 3);
    assert.equal(r.instanceType, "m7i.large");
    assert.equal(r.architecture, "x86_64");
    assert.deepEqual(r.etcd, {
      members: 3,
      placement: "dedicated",
      instanceType: "t3.small",
      dataVolume: { sizeGiB: 10, type: "gp3", iops: undefined, throughputMiBps: undefined },
    });
    assert.deepEqual(r.dataVolume, { sizeGiB: 50, type: "gp3", iops: undefined, throughputMiBps: undefined });
    assert.equal(r.routing, "haproxy");
    assert.deepEqual(r.listenerPorts, { primary: 5432, replica: 5433 });
    assert.deepEqual(r.settings, {
      timing: { ttl: 4, loopWait: 1, retryTimeout: 1.5, replicationTimeout: 5 },
      maximumLagOnFailover: 1048576,
      synchronousMode: "quorum",
      synchronousQuorum: 1,
      watchdog: { mode: "automatic", device: "/dev/watchdog" },
      failsafeMode: true,
      postgres: { parameters: {}, usePgRewind: true },
      backupPolicy: BACKUP_POLICY_DEFAULTS,
    });
    // Backups on by default, in a bucket the component creates, under the cluster's name.
    assert.deepEqual(r.backup, {
      bucketName: undefined,
      prefix: "orders",
      kmsKeyArn: undefined,
      forceDestroy: false,
      retentionDays: 14,
    });
    assert.equal(r.clusterName, "orders");
    assert.equal(r.ssmParameterPrefix, "/ha-postgres");
    assert.deepEqual(r.allowedCidrs, []);
    assert.equal(r.sessionManager, true);
    assert.equal(r.publicLoadBalancer, false);
  });

  it("arm64 picks Graviton default types", () => {
    const r = validateClusterArgs("db", { architecture: "arm64" });
    assert.equal(r.instanceType, "m7g.large");
    assert.equal(r.etcd.instanceType, "t4g.small");
  });

  it("accepts Outputs where inputs are allowed", () => {
    const r = validateClusterArgs("db", {
      vpcId: pulumi.output("vpc-1"),
      subnetIds: pulumi.output(["a", "b"]),
      amiId: pulumi.output("ami-1"),
    });
    assert.ok(pulumi.Output.isInstance(r.vpcId));
  });

  const cases: Array<[string, unknown, RegExp]> = [
    ["fewer than 2 nodes", { nodeCount: 1 }, /^nodeCount: 1 leaves nothing to fail over to: set nodeCount to 2 or more/],
    ["too many nodes", { nodeCount: 12 }, /^nodeCount: 12 is more than 9/],
    ["fractional nodes", { nodeCount: 2.5 }, /^nodeCount: must be a whole number/],
    ["even etcd member count", { etcd: { members: 4 } }, /^etcd\.members: 4 is even and tolerates no more failures than 3: use 3 or 5/],
    ["unsupported etcd count", { etcd: { members: 7 } }, /^etcd\.members: 7 is not supported: use 3 .* or 5/],
    [
      "colocated etcd larger than the node count",
      { nodeCount: 3, etcd: { members: 5, placement: "colocated" } },
      /^etcd\.members: 5 colocated members need as many PostgreSQL nodes, but nodeCount is 3/,
    ],
    ["bad etcd placement", { etcd: { placement: "shared" } }, /^etcd\.placement: must be "dedicated" or "colocated"/],
    [
      "one subnet",
      { subnetIds: ["subnet-1"] },
      /^subnetIds: 1 subnet\(s\) cannot span zones: give subnets in at least 2 availability zones/,
    ],
    ["duplicate subnet", { subnetIds: ["subnet-1", "subnet-1"] }, /^subnetIds: "subnet-1" is listed twice/],
    ["bad CIDR", { allowedCidrs: ["10.0.0.0/33"] }, /^allowedCidrs\[0\]: "10\.0\.0\.0\/33" is not a CIDR block: write it as a\.b\.c\.d\/n/],
    ["CIDR with host bits", { allowedCidrs: ["10.0.0.0/16", "10.1.2.3/16"] }, /^allowedCidrs\[1\]: "10\.1\.2\.3\/16" is not a CIDR block/],
    [
      "inconsistent timings",
      { timing: { ttl: 3, loopWait: 1, retryTimeout: 1.5 } },
      /^timing\.ttl: 3 s must be at least timing\.loopWait \+ 2 × timing\.retryTimeout \(4 s\).*: raise timing\.ttl/,
    ],
    [
      "a ttl that leaves less than one loopWait before fencing",
      { timing: { ttl: 3, loopWait: 2.5, retryTimeout: 0.25 } },
      /^timing\.ttl: 3 s leaves the leader less than one loopWait \(2\.5 s\) .*raise timing\.ttl to at least 3\.333 s/,
    ],
    ["ttl too short", { timing: { ttl: 1 } }, /^timing\.ttl: etcd's smallest useful lease is about 2 s: use at least 2/],
    ["zero loopWait", { timing: { loopWait: 0 } }, /^timing\.loopWait: must be above 0 seconds/],
    ["a timing in minutes", { timing: { ttl: "30s" } }, /^timing\.ttl: must be a number of seconds, e\.g\. 4/],
    [
      "a watchdog safety margin a short ttl cannot hold",
      { timing: { ttl: 2, loopWait: 1, retryTimeout: 0.5 }, watchdog: { safetyMargin: 0.3 } },
      /^watchdog\.safetyMargin: 0\.3 s must be above 0 and at most 0\.25 s: with timing\.ttl 2 /,
    ],
    [
      "synchronous_commit that does not wait in synchronous mode",
      { synchronousMode: "on", postgres: { parameters: { synchronous_commit: "local" } } },
      /^postgres\.parameters\.synchronous_commit: "local" does not wait for the standby/,
    ],
    ["negative max lag", { maximumLagOnFailover: -1 }, /^maximumLagOnFailover: must be ≥ 0 bytes/],
    [
      "synchronousModeStrict (the former form)",
      { synchronousModeStrict: true },
      /^synchronousModeStrict: not an argument of HaPostgresCluster: .*set synchronousMode: "strict"$/,
    ],
    [
      "a boolean synchronousMode (the former form)",
      { synchronousMode: true },
      /^synchronousMode: must be "off", "on", "strict" or "quorum" \(default\), not true: use "on"$/,
    ],
    ["synchronousMode false", { synchronousMode: false }, /^synchronousMode: must be .*, not false: use "off"$/],
    [
      "an unknown synchronousMode",
      { synchronousMode: "majority" },
      /^synchronousMode: must be "off", "on", "strict" or "quorum" \(default\), not "majority"$/,
    ],
    [
      "a synchronousQuorum above the replicas",
      { synchronousMode: "quorum", synchronousQuorum: 3, nodeCount: 3 },
      /^synchronousQuorum: 3 is more than the 2 replica\(s\) this cluster has: .*use at most 2, or add nodes$/,
    ],
    ["a synchronousQuorum of 0", { synchronousMode: "quorum", synchronousQuorum: 0 }, /^synchronousQuorum: must be at least 1/],
    ["an unknown watchdog mode", { watchdog: "on" }, /^watchdog\.mode: must be "off", "automatic" \(default\) or "required"$/],
    [
      "same listener ports",
      { listenerPorts: { primary: 6000, replica: 6000 } },
      /^listenerPorts\.replica: 6000 is also the primary port: give the replica listener its own port, e\.g\. 6001/,
    ],
    ["port out of range", { listenerPorts: { primary: 70000 } }, /^listenerPorts\.primary: must be a TCP port, 1–65535/],
    ["bad routing", { routing: "dns" }, /^routing: must be "haproxy" \(default\) or "direct"/],
    ["unknown arg", { nodecount: 3 }, /^"nodecount": not an argument of HaPostgresCluster: remove it or fix the spelling/],
    ["unknown nested arg", { etcd: { member: 3 } }, /^etcd: "member": not an argument of HaPostgresCluster/],
    [
      "arm type on x86",
      { instanceType: "m7g.large" },
      /^instanceType: "m7g\.large" is arm64 but architecture is "x86_64": set architecture to "arm64"/,
    ],
    [
      "x86 etcd type on arm",
      { architecture: "arm64", etcd: { instanceType: "t3.small" } },
      /^etcd\.instanceType: "t3\.small" is x86_64 but architecture is "arm64"/,
    ],
    ["bad instance type", { instanceType: "large" }, /^instanceType: must be an EC2 instance type such as m7i\.large/],
    ["postgres version", { postgres: { version: 9 } }, /^postgres\.version: 9 is not supported: use a major version from 13 to 18/],
    [
      "a parameter the agent sets",
      { postgres: { parameters: { port: 6543 } } },
      /^postgres\.parameters\.port: set by the agent .*: remove it/,
    ],
    [
      "a parameter the component sets",
      { postgres: { parameters: { ssl: "off" } } },
      /^postgres\.parameters\.ssl: is managed by the cluster \(TLS between nodes\): remove it/,
    ],
    [
      "a parameter a setting derives",
      { postgres: { parameters: { synchronous_standby_names: "*" } } },
      /^postgres\.parameters\.synchronous_standby_names: derived from the setting synchronousMode/,
    ],
    [
      "bad parameter name",
      { postgres: { parameters: { "Shared Buffers": "1GB" } } },
      /^postgres\.parameters\.Shared Buffers: not a PostgreSQL parameter name/,
    ],
    ["io2 without iops", { dataVolume: { type: "io2" } }, /^dataVolume\.iops: required for io2 volumes: set the provisioned IOPS/],
    ["gp3 iops out of range", { dataVolume: { iops: 100 } }, /^dataVolume\.iops: gp3 takes 3000–16000 IOPS/],
    [
      "throughput on gp2",
      { etcd: { dataVolume: { type: "gp2", throughputMiBps: 200 } } },
      /^etcd\.dataVolume\.throughputMiBps: only gp3 volumes take a throughput/,
    ],
    ["volume too large", { dataVolume: { sizeGiB: 20000 } }, /^dataVolume\.sizeGiB: EBS volumes hold at most 16384 GiB/],
    ["bad volume type", { dataVolume: { type: "st1" } }, /^dataVolume\.type: must be one of "gp3", "gp2", "io1", "io2"/],
    ["bad cluster name", { clusterName: "Orders_DB" }, /^clusterName: must start with a letter and use only lower-case letters/],
    ["bad SSM prefix", { ssmParameterPrefix: "ha-postgres/" }, /^ssmParameterPrefix: must look like "\/ha-postgres"/],
    ["reserved tag", { tags: { "aws:owner": "me" } }, /^tags\.aws:owner: the "aws:" prefix is reserved by AWS: rename the tag/],
    ["non-string tag", { tags: { team: 5 } }, /^tags\.team: tag values must be strings/],
    ["bad agent bundle", { agentBundle: "./bundle.zip" }, /^agentBundle: must be a pulumi\.asset\.Archive/],
  ];
  for (const [what, args, pattern] of cases) {
    it(`rejects ${what}`, () => expectProblem(args, pattern));
  }

  it("rejects a resource name that cannot be the default clusterName, naming clusterName", () => {
    assert.ok(problems({}, "Orders DB").some((p) => /^clusterName: the default \(the resource name "Orders DB"\)/.test(p)));
  });

  it("passes the synchronous mode through", () => {
    for (const mode of ["off", "on", "strict"] as const)
      assert.equal(validateClusterArgs("db", { synchronousMode: mode }).settings.synchronousMode, mode);
  });

  it("takes the watchdog's mode alone, or its settings", () => {
    assert.equal(validateClusterArgs("db", { watchdog: "required" }).settings.watchdog.mode, "required");
    assert.equal(validateClusterArgs("db", { watchdog: "off" }).settings.watchdog.mode, "off");
    assert.deepEqual(validateClusterArgs("db", { watchdog: { safetyMargin: 0.6 } }).settings.watchdog, {
      mode: "automatic",
      device: "/dev/watchdog",
      safetyMargin: 0.6,
    });
  });

  it("reports every problem at once", () => {
    assert.equal(problems({ nodeCount: 1, etcd: { members: 4 }, allowedCidrs: ["x"] }).length, 3);
  });

  it("accepts a realistic production config", () => {
    assert.deepEqual(
      problems({
        nodeCount: 5,
        etcd: { members: 5 },
        dataVolume: { sizeGiB: 1000, type: "io2", iops: 20000 },
        allowedCidrs: ["10.0.0.0/8", "2001:db8::/32"],
        timing: { ttl: 10, loopWait: 2, retryTimeout: 3 },
      }),
      [],
    );
  });
});

describe("validatePlacement", () => {
  it("rejects subnets in one zone, naming subnetIds and the fix", () => {
    assert.throws(
      () =>
        validatePlacement(
          [
            { id: "a", availabilityZone: "us-east-1a" },
            { id: "b", availabilityZone: "us-east-1a" },
          ],
          { nodes: 3, etcd: 3 },
        ),
      /subnetIds: every subnet is in us-east-1a: .*give subnets in at least 2 availability zones/,
    );
  });
  it("rejects no subnets", () => {
    assert.throws(() => validatePlacement([], { nodes: 3, etcd: 3 }), /subnetIds: no subnets found/);
  });
  it("spreads hosts round robin over zones, one subnet per zone, stably", () => {
    const subnets = [
      { id: "s3", availabilityZone: "z-c" },
      { id: "s1", availabilityZone: "z-a" },
      { id: "s2", availabilityZone: "z-b" },
      { id: "s0", availabilityZone: "z-a" },
    ];
    const p = validatePlacement(subnets, { nodes: 4, etcd: 3 });
    assert.deepEqual(
      p.nodes.map((s) => s.id),
      ["s0", "s2", "s3", "s0"],
    );
    assert.deepEqual(
      p.etcd.map((s) => s.availabilityZone),
      ["z-a", "z-b", "z-c"],
    );
  });
});

describe("isCidr / isArmInstanceType", () => {
  it("knows CIDRs", () => {
    for (const ok of ["0.0.0.0/0", "10.0.0.0/8", "192.168.1.0/24", "10.1.2.3/32", "::/0", "2001:db8::/32"]) assert.ok(isCidr(ok), ok);
    for (const bad of ["10.0.0.0", "10.0.0.0/33", "300.0.0.0/8", "10.0.0.1/24", "abc/8", "2001:db8::/129"]) assert.ok(!isCidr(bad), bad);
  });
  it("knows Graviton families", () => {
    for (const t of ["m7g.large", "t4g.small", "c8gd.xlarge", "r7gd.2xlarge", "x2gd.large"]) assert.ok(isArmInstanceType(t), t);
    for (const t of ["m7i.large", "t3.small", "r6id.large", "m5.large", "c7a.large"]) assert.ok(!isArmInstanceType(t), t);
  });
});
