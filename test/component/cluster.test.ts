/**
 * The component under `pulumi.runtime.setMocks`: the resource graph (types, counts, names,
 * parents) and the properties a reviewer checks — no open ingress, IMDSv2, encryption, secrets only
 * in SecureString parameters, no secret in user-data or outputs, health checks, IAM scope.
 */
// Mocks first: they must be in place before the component module is loaded.
import { childCollector, inputsOf, recorded, recordedUnder, valueOf, Recorded } from "./mocks";
import { hostInputs, hostLaunchesIn } from "./hosts";
import * as assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { parse as parseYaml } from "yaml";
import { HaPostgresCluster, HaPostgresClusterArgs, ClusterArgsError } from "../../lib";
import { HA_DEFAULTS } from "../../sidecar/contract/settings/schema";
import { COMPONENT_TYPE } from "../../lib/naming/names";
import { USER_DATA_LIMIT_BYTES } from "../../lib/userdata/render";
import { validateAgentConfig } from "../../sidecar/contract/agent-config";

const T = {
  instance: "aws:ec2/instance:Instance",
  eni: "aws:ec2/networkInterface:NetworkInterface",
  lt: "aws:ec2/launchTemplate:LaunchTemplate",
  asg: "aws:autoscaling/group:Group",
  reservation: "aws:ec2/subnetCidrReservation:SubnetCidrReservation",
  volume: "aws:ebs/volume:Volume",
  attach: "aws:ec2/volumeAttachment:VolumeAttachment",
  sg: "aws:ec2/securityGroup:SecurityGroup",
  ingress: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
  egress: "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
  nlb: "aws:lb/loadBalancer:LoadBalancer",
  tg: "aws:lb/targetGroup:TargetGroup",
  listener: "aws:lb/listener:Listener",
  tgAttach: "aws:lb/targetGroupAttachment:TargetGroupAttachment",
  param: "aws:ssm/parameter:Parameter",
  password: "random:index/randomPassword:RandomPassword",
  role: "aws:iam/role:Role",
  policy: "aws:iam/rolePolicy:RolePolicy",
  profile: "aws:iam/instanceProfile:InstanceProfile",
  bucket: "aws:s3/bucket:Bucket",
  object: "aws:s3/bucketObjectv2:BucketObjectv2",
  key: "tls:index/privateKey:PrivateKey",
} as const;

interface Built {
  cluster: HaPostgresCluster;
  children: ReturnType<typeof childCollector>["children"];
  resources: Recorded[];
}

async function build(name: string, args: HaPostgresClusterArgs = {}): Promise<Built> {
  const c = childCollector();
  const cluster = new HaPostgresCluster(name, args, c.opts);
  await c.settle();
  await valueOf(cluster.nodePrivateIps);
  return { cluster, children: c.children, resources: recordedUnder(name) };
}

const count = (b: Built, type: string) => b.resources.filter((r) => r.type === type).length;
const ofType = (b: Built, type: string) => b.resources.filter((r) => r.type === type);

/** Parses a user-data document and returns its node-init plan. */
function nodeInitPlan(userData: string): any {
  const doc = parseYaml(userData) as { write_files: Array<{ path: string; content: string }> };
  const file = doc.write_files.find((f) => f.path === "/etc/hapg/node-init.json");
  assert.ok(file, "user-data writes the node-init plan");
  return JSON.parse(file.content);
}

describe("HaPostgresCluster (mocks)", function () {
  this.timeout(60_000);
  let d: Built;
  before(async () => {
    d = await build("c1");
  });

  it("declares the expected resource graph with defaults (3 nodes, 3 dedicated etcd)", () => {
    const expected: Record<string, number> = {
      // Hosts: an Auto Scaling group of one per host, its launch template, its fixed IP, its data volume;
      // no instance, interface or attachment of Pulumi's own (docs/day2.md).
      [T.instance]: 0,
      [T.eni]: 0,
      [T.attach]: 0,
      [T.asg]: 6,
      [T.lt]: 6,
      [T.reservation]: 6,
      [T.volume]: 6,
      [T.sg]: 4,
      [T.nlb]: 1,
      [T.tg]: 2,
      [T.listener]: 2,
      [T.tgAttach]: 6,
      [T.password]: 3 + 1,
      [T.param]: 3 + 1 + 6 * 2 + 1 + 1 + 1, // passwords, CA, host cert + key, the desired dynamic config, the backup passphrase, the topology
      [T.role]: 2, // the nodes' and the dedicated etcd hosts'
      [T.policy]: 2 + 2 + 1, // the nodes' and the etcd hosts' policies, their claim policies, the nodes' replace policy
      [T.profile]: 2,
      [T.bucket]: 2,
      [T.object]: 1,
      [T.key]: 7,
    };
    for (const [type, n] of Object.entries(expected)) assert.equal(count(d, type), n, `${type}`);
  });

  it("names every child ${name}-<role> and parents it to the component", () => {
    // The transformation also sees the component itself (it runs on the resource it is given to).
    const children = d.children.filter((c) => c.resource !== d.cluster);
    assert.equal(children.length, d.children.length - 1);
    assert.ok(children.length > 60);
    for (const c of children) {
      assert.match(c.name, /^c1-[a-z0-9-]+$/, c.name);
      assert.equal(c.parent, d.cluster, `${c.name} is parented to the component`);
    }
    assert.ok(
      recorded.some((r) => r.type === COMPONENT_TYPE && r.name === "c1"),
      "the component has its type token",
    );
  });

  it("opens no ingress from 0.0.0.0/0 or ::/0 by default, and only when asked", async () => {
    const open = (b: Built) => ofType(b, T.ingress).filter((r) => r.inputs.cidrIpv4 === "0.0.0.0/0" || r.inputs.cidrIpv6 === "::/0");
    assert.equal(open(d).length, 0);
    for (const r of ofType(d, T.ingress)) assert.ok(r.inputs.referencedSecurityGroupId, `${r.name} comes from a security group`);
    const asked = await build("open1", { allowedCidrs: ["0.0.0.0/0", "10.9.0.0/16"] });
    assert.deepEqual(
      open(asked)
        .map((r) => r.inputs.fromPort)
        .sort(),
      [5432, 5433],
    );
    assert.ok(
      open(asked).every((r) => r.name.startsWith("open1-in-nlb-cidr")),
      "only the NLB listener ports are opened",
    );
  });

  it("opens each node port only to the group that needs it", () => {
    const ingress = ofType(d, T.ingress).map((r) => `${r.name.replace(/^c1-/, "")}:${r.inputs.fromPort}`);
    for (const want of [
      "in-nodes-nlb-5000:5000",
      "in-nodes-nlb-5001:5001",
      "in-nodes-nodes-5432:5432",
      "in-nodes-nodes-8008:8008",
      "in-etcd-nodes-2379:2379",
      "in-etcd-etcd-2380:2380",
      "in-nlb-clients-5432:5432",
    ]) {
      assert.ok(ingress.includes(want), `${want} in ${ingress.join(", ")}`);
    }
    assert.ok(!ingress.some((r) => r.startsWith("in-nodes-nlb-5432")), "haproxy routing: the NLB never reaches PostgreSQL directly");
  });

  it("requires IMDSv2, encrypts every volume, no SSH key, and tags no data volume from the launch template", () => {
    // Outbound addresses, where the subnets need them, are auto-assigned public IPv4s (egress.test.ts).
    for (const i of hostLaunchesIn(d.resources)) {
      assert.equal(i.inputs.metadataOptions.httpTokens, "required", i.name);
      assert.deepEqual(
        i.inputs.blockDeviceMappings.map((m: any) => [m.deviceName, m.ebs.encrypted]),
        [["/dev/xvda", "true"]],
        `${i.name}: only the root volume is launched, encrypted`,
      );
      assert.equal(i.inputs.keyName, undefined, i.name);
      // Defect 13: no `volumeTags` beside the data volume's own tags (the provider's perpetual diff).
      assert.equal(i.inputs.volumeTags, undefined, i.name);
    }
    for (const v of ofType(d, T.volume)) assert.equal(v.inputs.encrypted, true, v.name);
  });

  it("keeps passwords and private keys only in SecureString parameters (and the tls/random resources)", () => {
    const holders = d.resources.filter((r) => JSON.stringify(r.inputs).includes("MOCKSECRET"));
    for (const h of holders) {
      const ok = (h.type === T.param && h.inputs.type === "SecureString") || h.type.startsWith("tls:");
      assert.ok(ok, `${h.type} ${h.name} holds a secret`);
    }
    const secureNames = ofType(d, T.param)
      .filter((p) => p.inputs.type === "SecureString")
      .map((p) => p.inputs.name);
    assert.ok(secureNames.includes("/ha-postgres/c1/postgres/superuser-password"));
    assert.ok(secureNames.includes("/ha-postgres/c1/postgres/replication-password"));
    assert.ok(secureNames.includes("/ha-postgres/c1/agent/api-password"));
    assert.ok(secureNames.includes("/ha-postgres/c1/backup/repo-cipher-pass"));
    assert.equal(
      secureNames.length,
      3 + 6 + 1,
      "3 passwords (superuser, replication, agent API) + one TLS key per host + the backup passphrase",
    );
  });

  it("marks the SecureString values secret in state", async () => {
    const params = d.children.filter((c) => c.type === T.param).map((c) => c.resource as any);
    for (const p of params) {
      if ((await valueOf(p.type)) === "SecureString") assert.equal(await pulumi.isSecret(p.value), true, p.name);
    }
  });

  it("puts no secret in user-data, and user-data is under 16 KB", () => {
    for (const i of hostLaunchesIn(d.resources)) {
      const ud: string = i.inputs.userData;
      assert.ok(ud.startsWith("#cloud-config\n"), i.name);
      assert.ok(!ud.includes("MOCKSECRET"), `${i.name} user-data holds a secret`);
      assert.ok(Buffer.byteLength(ud) < USER_DATA_LIMIT_BYTES, `${i.name}: ${Buffer.byteLength(ud)} bytes`);
    }
  });

  it("renders an agent config that the agent's own schema accepts", () => {
    const nodes = hostLaunchesIn(d.resources).filter((i) => /-pg-\d$/.test(i.name));
    assert.equal(nodes.length, 3);
    for (const n of nodes) {
      const config = validateAgentConfig(nodeInitPlan(n.inputs.userData).agentConfig.config);
      assert.deepEqual(config.timing, HA_DEFAULTS.timing, "the settings' defaults, as the component resolved them");
      assert.equal(config.maximumLagOnFailover, 1048576);
      assert.equal(config.synchronousMode, "quorum", "synchronous (quorum commit) by default");
      assert.equal(config.watchdog.mode, "automatic", "softdog is used where the kernel has it");
      assert.equal(config.etcd.endpoints.length, 3);
      assert.ok(config.postgres.superuser.passwordFile && config.postgres.replication.passwordFile);
      assert.deepEqual(config.postgres.allowedCidrs, ["172.31.0.0/16"]);
    }
    const etcdHosts = hostLaunchesIn(d.resources).filter((i) => /-etcd-\d$/.test(i.name));
    for (const e of etcdHosts) assert.equal(nodeInitPlan(e.inputs.userData).agentConfig, undefined, "etcd hosts run no agent");
  });

  it("outputs no secret and no unmarked secret", async () => {
    const c = d.cluster;
    const outputs: Array<pulumi.Output<unknown>> = [
      c.primaryEndpoint,
      c.primaryPort,
      c.replicaEndpoint,
      c.replicaPort,
      c.superuserPasswordParameterName,
      c.replicationPasswordParameterName,
      c.caCertificatePem,
      c.nodePrivateIps,
      c.etcdPrivateIps,
      c.clientSecurityGroupId,
    ];
    for (const o of outputs) {
      assert.ok(!JSON.stringify(await valueOf(o)).includes("MOCKSECRET"));
    }
    assert.equal(await valueOf(c.superuserPasswordParameterName), "/ha-postgres/c1/postgres/superuser-password");
    assert.equal(await valueOf(c.primaryPort), 5432);
    assert.equal(await valueOf(c.replicaPort), 5433);
    assert.match(await valueOf(c.primaryEndpoint), /elb\.us-east-1\.amazonaws\.com$/);
    assert.equal((await valueOf(c.nodePrivateIps)).length, 3);
    assert.equal((await valueOf(c.etcdPrivateIps)).length, 3);
    assert.equal(await valueOf(c.clientSecurityGroupId), "c1-sg-clients-id");
  });

  it("sets NLB health checks explicitly: TCP on HAProxy by default", () => {
    const nlb = inputsOf(T.nlb, "c1-nlb");
    assert.equal(nlb.internal, true);
    assert.equal(nlb.loadBalancerType, "network");
    assert.equal(nlb.enableCrossZoneLoadBalancing, true);
    const tg = inputsOf(T.tg, "c1-tg-primary");
    assert.equal(tg.port, 5000);
    assert.equal(tg.targetType, "ip");
    assert.deepEqual(tg.healthCheck, {
      enabled: true,
      protocol: "TCP",
      port: "traffic-port",
      interval: 5,
      timeout: 3,
      healthyThreshold: 2,
      unhealthyThreshold: 2,
    });
    assert.equal(inputsOf(T.tg, "c1-tg-replica").port, 5001);
  });

  it("routing: direct targets PostgreSQL with HTTPS checks of the agent's /primary and /replica", async () => {
    const b = await build("direct1", { routing: "direct" });
    const p = inputsOf(T.tg, "direct1-tg-primary");
    assert.equal(p.port, 5432);
    assert.deepEqual(p.healthCheck, {
      enabled: true,
      protocol: "HTTPS",
      port: "8008",
      path: "/primary",
      matcher: "200",
      interval: 5,
      timeout: 3,
      healthyThreshold: 2,
      unhealthyThreshold: 2,
    });
    assert.equal(inputsOf(T.tg, "direct1-tg-replica").healthCheck.path, "/replica");
    const ports = ofType(b, T.ingress)
      .filter((r) => r.name.startsWith("direct1-in-nodes-nlb"))
      .map((r) => r.inputs.fromPort)
      .sort();
    assert.deepEqual(ports, [5432, 8008]);
  });

  it("scopes the instance role to this cluster's parameters and the bundle object", () => {
    const doc = JSON.parse(inputsOf(T.policy, "c1-node-policy").policy);
    const read = doc.Statement.find((s: any) => s.Sid === "ReadClusterParameters");
    assert.deepEqual(read.Action, ["ssm:GetParameter"]);
    // secrets, the CA, the nodes' certificates and keys (not the etcd hosts': their own role), the desired dynamic config, the backup passphrase, the topology
    assert.equal(read.Resource.length, 13);
    assert.ok(
      read.Resource.some((a: string) => a.endsWith(":parameter/ha-postgres/c1/agent/dynamic-config")),
      "the desired dynamic config",
    );
    for (const arn of read.Resource) assert.match(arn, /^arn:aws:ssm:us-east-1:123456789012:parameter\/ha-postgres\/c1\//);
    const s3 = doc.Statement.find((s: any) => s.Sid === "ReadAgentBundle");
    assert.deepEqual(s3.Resource, ["arn:aws:s3:::c1-bundle-bucket/agent/hapg-agent.zip"]);
    for (const s of doc.Statement) {
      if (s.Resource === "*")
        assert.ok(
          s.Action.every((a: string) => !a.startsWith("ssm:Get") && !a.startsWith("s3:") && !a.startsWith("kms:")),
          "no wildcard reads",
        );
    }
    assert.deepEqual(
      doc.Statement.map((s: any) => s.Sid),
      ["ReadClusterParameters", "ReadAgentBundle", "ListBackupPrefix", "ReadWriteBackupPrefix", "SessionManager"],
    );
  });

  it("colocated etcd runs on the first nodes: no etcd instances", async () => {
    const b = await build("colo1", { etcd: { placement: "colocated" } });
    assert.equal(count(b, T.asg), 3);
    assert.equal(count(b, T.sg), 3);
    const plan = nodeInitPlan(hostInputs("colo1-pg-0").userData);
    assert.ok(plan.files.some((f: any) => f.path === "/etc/hapg/tls/etcd/host.key" && f.owner === "etcd" && f.mode === "0600"));
    assert.equal((await valueOf(b.cluster.etcdPrivateIps)).length, 3);
  });

  it("existing VPC, 5 etcd members, larger io2 volumes, a KMS key, tags", async () => {
    const b = await build("big1", {
      vpcId: "vpc-existing",
      subnetIds: ["subnet-x1", "subnet-x2", "subnet-x3"],
      nodeCount: 5,
      etcd: { members: 5, dataVolume: { sizeGiB: 20 } },
      dataVolume: { sizeGiB: 500, type: "io2", iops: 10000 },
      kmsKeyId: "key-123",
      tags: { team: "data" },
    });
    assert.equal(count(b, T.asg), 10);
    const vol = inputsOf(T.volume, "big1-pg-4-data");
    assert.deepEqual(
      [vol.size, vol.type, vol.iops, vol.kmsKeyId, vol.tags.team],
      [500, "io2", 10000, "arn:aws:kms:us-east-1:123456789012:key/key-123", "data"],
    );
    assert.equal(hostInputs("big1-pg-0").blockDeviceMappings[0].ebs.kmsKeyId, "arn:aws:kms:us-east-1:123456789012:key/key-123");
    assert.equal(inputsOf(T.volume, "big1-etcd-4-data").size, 20);
    const zones = ofType(b, T.volume)
      .filter((v) => /-pg-\d-data$/.test(v.name))
      .map((v) => v.inputs.availabilityZone);
    assert.deepEqual(zones, ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1a", "us-east-1b"]);
    const doc = JSON.parse(inputsOf(T.policy, "big1-node-policy").policy);
    assert.deepEqual(doc.Statement.find((s: any) => s.Sid === "DecryptClusterParameters").Resource, [
      "arn:aws:kms:us-east-1:123456789012:key/key-123",
    ]);
    const config = validateAgentConfig(nodeInitPlan(hostInputs("big1-pg-0").userData).agentConfig.config);
    // The agent starts with the bootstrap members (stable as etcd grows); the topology has all five.
    assert.equal(config.etcd.endpoints.length, 3);
    const topology = JSON.parse(inputsOf(T.param, "big1-topology").insecureValue);
    assert.equal(topology.etcd.length, 5);
    assert.deepEqual(config.postgres.allowedCidrs, ["10.20.0.0/16", "10.21.0.0/16"], "every CIDR block of the VPC");
    assert.equal(inputsOf(T.sg, "big1-sg-nodes").vpcId, "vpc-existing");
  });

  it("synchronousMode reaches the desired dynamic config as given, and every agent reads that parameter", async () => {
    await build("sync1", { synchronousMode: "strict" });
    const param = inputsOf(T.param, "sync1-dynamic-config");
    assert.equal(JSON.parse(param.insecureValue).synchronous_mode, "strict");
    for (const host of ["sync1-pg-0", "sync1-pg-1", "sync1-pg-2"]) {
      const ud: string = hostInputs(host).userData;
      const config = validateAgentConfig(nodeInitPlan(ud).agentConfig.config);
      assert.equal(config.desiredConfig?.ssmParameter, param.name, host);
      assert.ok(Buffer.byteLength(ud) < USER_DATA_LIMIT_BYTES, `${host}: ${Buffer.byteLength(ud)} bytes`);
    }
    await build("sync2", { synchronousMode: "on" });
    assert.equal(JSON.parse(inputsOf(T.param, "sync2-dynamic-config").insecureValue).synchronous_mode, "on");
  });

  it("a boolean synchronousMode (the former form) throws, naming the arg and the fix, before any resource", () => {
    assert.throws(
      () => new HaPostgresCluster("sync3", { synchronousMode: true as unknown as "on" }),
      (e: unknown) => {
        assert.ok(e instanceof ClusterArgsError);
        assert.match(e.message, /synchronousMode: must be "off", "on", "strict" or "quorum" \(default\), not true: use "on"/);
        return true;
      },
    );
    assert.equal(recordedUnder("sync3").length, 0);
  });

  it("bad args throw before any resource is declared", () => {
    assert.throws(
      () => new HaPostgresCluster("bad1", { nodeCount: 1, etcd: { members: 4 } }),
      (e: unknown) => {
        assert.ok(e instanceof ClusterArgsError);
        assert.match(e.message, /nodeCount: 1 leaves nothing to fail over to/);
        assert.match(e.message, /etcd\.members: 4 is even/);
        return true;
      },
    );
    assert.equal(recordedUnder("bad1").length, 0);
  });
});
