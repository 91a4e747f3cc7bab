/**
 * Issue 16's defects, each as AWS would show it: the component under the mocks that enforce AWS's
 * rules (./aws-rules.ts, ./aws-account.ts). Every test here failed before its fix.
 */
// Mocks first: they must be in place before the component module is loaded.
import { childCollector, freshAccount, inputsOf, recordedUnder, takeViolations, valueOf, Recorded } from "./mocks";
import * as assert from "node:assert/strict";
import { ClusterArgsError, HaPostgresCluster, HaPostgresClusterArgs } from "../../lib";
import { validateClusterArgs } from "../../lib/args/validate";
import { readWrittenFiles } from "../../lib/userdata/render";
import { validatePlacement } from "../../lib/args/validate";
import { INSTANCE_TYPES } from "./aws-rules";

const T = {
  launchTemplate: "aws:ec2/launchTemplate:LaunchTemplate",
  group: "aws:autoscaling/group:Group",
  nlb: "aws:lb/loadBalancer:LoadBalancer",
  tg: "aws:lb/targetGroup:TargetGroup",
  param: "aws:ssm/parameter:Parameter",
  vpce: "aws:ec2/vpcEndpoint:VpcEndpoint",
  role: "aws:iam/role:Role",
  policy: "aws:iam/rolePolicy:RolePolicy",
  profile: "aws:iam/instanceProfile:InstanceProfile",
  egress: "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
};

async function build(name: string, args: HaPostgresClusterArgs = {}): Promise<Recorded[]> {
  const c = childCollector();
  const cluster = new HaPostgresCluster(name, args, c.opts);
  // A failure inside an apply (user-data over the limit, a refused placement) leaves the outputs pending.
  const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error(`${name} did not settle: a deploy-time failure`)), 30_000));
  await Promise.race([Promise.all([c.settle(), valueOf(cluster.nodePrivateIps)]), timeout]);
  return recordedUnder(name);
}

/** Builds and asserts AWS would accept every creation. */
async function deploys(name: string, args: HaPostgresClusterArgs = {}): Promise<Recorded[]> {
  const r = await build(name, args);
  assert.deepEqual(
    takeViolations(name).map((v) => `${v.name}: ${v.message}`),
    [],
    "AWS accepts every resource",
  );
  return r;
}

function refusal(name: string, args: HaPostgresClusterArgs): string[] {
  try {
    validateClusterArgs(name, args);
  } catch (e) {
    assert.ok(e instanceof ClusterArgsError, String(e));
    return e.problems;
  }
  assert.fail("the args were accepted");
}

const ofType = (rs: Recorded[], type: string) => rs.filter((r) => r.type === type);
const planOf = (name: string, host: string): any =>
  JSON.parse(
    readWrittenFiles(inputsOf(T.launchTemplate, `${name}-${host}-lt`).userData).find((f) => f.path === "/etc/hapg/node-init.json")!.content,
  );

describe("AWS's rules: issue 16's defects (mocks)", function () {
  this.timeout(120_000);

  describe("(1) names of the load balancer and target groups", () => {
    it("a 15-character component name (like the README's orders-restored) and a 40-character one deploy", async () => {
      // (Not "orders-…": program.test.ts counts the resources under "orders-".)
      for (const name of ["restored-orders", "a".repeat(40)]) {
        const rs = await deploys(name);
        for (const r of [...ofType(rs, T.nlb), ...ofType(rs, T.tg)]) assert.ok(String(r.inputs.name).length <= 32, r.inputs.name);
      }
    });

    it("two clusters in one account get distinct names, and a change that replaces a target group renames it", async () => {
      await freshAccount(async () => {
        const subnetIds = ["subnet-x1", "subnet-x2", "subnet-x3"];
        await deploys("n1", { clusterName: "orders-east", subnetIds });
        await deploys("n2", { clusterName: "orders-west", subnetIds });
      });
      const names = (n: string) => ofType(recordedUnder(n), T.tg).map((r) => r.inputs.name);
      await deploys("n3", { clusterName: "orders-east", routing: "direct", subnetIds: ["subnet-x1", "subnet-x2", "subnet-x3"] });
      // The target port changes with routing, which replaces the group: create-before-delete needs a new name.
      assert.notDeepEqual(names("n3").sort(), names("n1").sort());
      assert.equal(inputsOf(T.nlb, "n3-nlb").name, inputsOf(T.nlb, "n1-nlb").name, "the NLB keeps its name (and DNS name)");
    });
  });

  it("(2) an existing VPC with two subnets in one zone deploys: the NLB gets one subnet per zone", async () => {
    const rs = await deploys("z2", { subnetIds: ["subnet-a", "subnet-a2", "subnet-b"] });
    assert.deepEqual(ofType(rs, T.nlb)[0].inputs.subnets, ["subnet-a", "subnet-b"]);
    assert.deepEqual([...new Set(ofType(rs, T.group).flatMap((g) => g.inputs.vpcZoneIdentifiers))].sort(), ["subnet-a", "subnet-b"]);
  });

  it("(3) the largest accepted layout (40-character names, 9 nodes, 5 colocated etcd, from backup) fits in user-data", async () => {
    const long = (c: string, n: number) => c.repeat(n);
    await deploys("big", {
      clusterName: long("c", 40),
      nodeCount: 9,
      etcd: { members: 5, placement: "colocated" },
      ssmParameterPrefix: `/${long("p", 79)}/${long("q", 79)}`,
      backup: { bucketName: `${long("b", 53)}-eu-west-1`, prefix: long("r", 100) },
      bootstrap: {
        fromBackup: { clusterName: long("s", 40), bucketName: `${long("d", 53)}-eu-west-1` },
        targetTime: "2026-11-27T16:05:00Z",
      },
    });
    const ud = inputsOf(T.launchTemplate, "big-pg-0-lt").userData as string;
    const bytes = Buffer.from(ud, "base64").length;
    assert.ok(bytes <= 16384, `${bytes} bytes as EC2 gets them`);
    const plan = readWrittenFiles(ud).find((f) => f.path === "/etc/hapg/node-init.json");
    const plan0 = JSON.parse(plan!.content);
    // The agent starts from the bootstrap members; the topology it reads at run time lists all five.
    assert.equal(plan0.agentConfig.config.etcd.endpoints.length, 3, "the plan decodes to the full agent config");
    assert.equal(JSON.parse(inputsOf(T.param, "big-topology").insecureValue).etcd.length, 5);
  });

  describe("(5) placement", () => {
    it("places hosts only in zones that offer the instance type (us-east-1e offers no m7i, no t3)", async () => {
      const rs = await deploys("pl1", { subnetIds: ["subnet-a", "subnet-b", "subnet-e"] });
      assert.ok(
        ofType(rs, T.group).every((g) => !g.inputs.vpcZoneIdentifiers.includes("subnet-e")),
        "no host in us-east-1e",
      );
    });

    it("refuses when fewer than two zones offer the type, naming instanceType and the fix", () => {
      const subnets = [
        { id: "subnet-a", availabilityZone: "us-east-1a" },
        { id: "subnet-e", availabilityZone: "us-east-1e" },
      ];
      const offers = {
        nodes: { path: "instanceType", type: "m7i.large", zones: ["us-east-1a"] },
        etcd: { path: "etcd.instanceType", type: "t3.small", zones: ["us-east-1a"] },
      };
      assert.throws(
        () => validatePlacement(subnets, { nodes: 3, etcd: 3 }, offers),
        (e: unknown) =>
          e instanceof ClusterArgsError &&
          /instanceType: "m7i\.large" is offered in 1 zone of subnetIds \(us-east-1a; not in us-east-1e\).*pick/.test(e.message),
      );
    });

    it("refuses Xen instance types (no NVMe device) naming instanceType, and classifies a1 as arm64", () => {
      for (const [t, info] of Object.entries(INSTANCE_TYPES)) {
        const arch = info.arch;
        const args: HaPostgresClusterArgs = { instanceType: t, architecture: arch };
        if (info.hypervisor === "xen") assert.match(refusal("x1", args).join("\n"), new RegExp(`instanceType: "${t}" is a Xen`));
        else assert.equal(validateClusterArgs("x1", args).instanceType, t, `${t} (${arch}) is accepted`);
      }
      assert.match(refusal("x2", { etcd: { instanceType: "t2.micro" } }).join("\n"), /etcd\.instanceType: "t2\.micro" is a Xen/);
    });
  });

  describe("(6) egress endpoints", () => {
    it("in a VPC that has its S3 and SSM endpoints, creates only the missing ones", async () => {
      const rs = await deploys("ve1", { subnetIds: ["subnet-p1", "subnet-p2", "subnet-p3"], egress: "endpoints", amiId: "ami-custom" });
      assert.deepEqual(
        ofType(rs, T.vpce)
          .map((r) => String(r.inputs.serviceName).split(".").pop())
          .sort(),
        ["autoscaling", "ec2", "ec2messages", "ssmmessages"],
      );
    });

    it("a second cluster in the same VPC reuses the first one's endpoints", async () => {
      await freshAccount(async () => {
        const args: HaPostgresClusterArgs = {
          subnetIds: ["subnet-p1", "subnet-p2", "subnet-p3"],
          egress: "endpoints",
          amiId: "ami-custom",
        };
        await deploys("ve2", args);
        const second = await deploys("ve3", args);
        assert.equal(ofType(second, T.vpce).length, 0);
      });
    });
  });

  it("(9) an existing bucket in another region: pgBackRest signs for the bucket's region", async () => {
    await deploys("br1", { backup: { bucketName: "shared-backups-eu-west-1" } });
    const repo = planOf("br1", "pg-0").agentConfig.config.backup.repo;
    assert.deepEqual([repo.region, repo.endpoint], ["eu-west-1", "s3.eu-west-1.amazonaws.com"]);
  });

  it("(10) dedicated etcd hosts have their own role: their certificate and key, the CA and the bundle, nothing else", async () => {
    const rs = await deploys("ro1");
    assert.equal(ofType(rs, T.role).length, 2);
    const etcdProfile = ofType(rs, T.profile).find((p) => p.name === "ro1-etcd-profile");
    assert.ok(etcdProfile, "an etcd instance profile");
    assert.equal(inputsOf(T.launchTemplate, "ro1-etcd-0-lt").iamInstanceProfile.arn, "arn:aws:mock:::ro1-etcd-profile");
    const doc = JSON.parse(inputsOf(T.policy, "ro1-etcd-policy").policy);
    const actions = doc.Statement.flatMap((s: any) => s.Action);
    const resources: string[] = doc.Statement.flatMap((s: any) => s.Resource);
    assert.ok(!actions.some((a: string) => a.startsWith("s3:Put") || a.startsWith("s3:Delete")), "no backup write");
    const params = resources.filter((r) => r.includes(":parameter/")).map((r) => r.replace(/^.*:parameter/, ""));
    assert.deepEqual(
      params.sort(),
      [
        "/ha-postgres/ro1/tls/ca.crt",
        "/ha-postgres/ro1/tls/etcd-0.crt",
        "/ha-postgres/ro1/tls/etcd-0.key",
        "/ha-postgres/ro1/tls/etcd-1.crt",
        "/ha-postgres/ro1/tls/etcd-1.key",
        "/ha-postgres/ro1/tls/etcd-2.crt",
        "/ha-postgres/ro1/tls/etcd-2.key",
        "/ha-postgres/ro1/topology",
      ].sort(),
    );
    assert.ok(
      resources.some((r) => r.endsWith("agent/hapg-agent.zip")),
      "the agent bundle",
    );
  });

  describe("(13) smaller", () => {
    it("a dynamic config over 4 KB goes to the Advanced tier", async () => {
      const parameters = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`hapg.custom_setting_${i}`, `value-${"x".repeat(20)}`]));
      const rs = await deploys("dc1", { postgres: { parameters } });
      assert.equal(ofType(rs, T.param).find((p) => p.name === "dc1-dynamic-config")!.inputs.tier, "Advanced");
    });

    it("pg_hba admits every CIDR block of the VPC", async () => {
      await deploys("hb1", { subnetIds: ["subnet-x1", "subnet-x2", "subnet-x3"] });
      assert.deepEqual(planOf("hb1", "pg-0").agentConfig.config.postgres.allowedCidrs, ["10.20.0.0/16", "10.21.0.0/16"]);
    });

    it("refuses PostgreSQL versions Debian 13 does not ship, naming postgres.version", () => {
      assert.match(refusal("pv1", { postgres: { version: 16 } }).join("\n"), /postgres\.version: 16 .*Debian 13.*17/);
      assert.equal(validateClusterArgs("pv2", { postgres: { version: 17 } }).postgres.version, 17);
    });

    it("the clients' security group may reach the listeners", async () => {
      const rs = await deploys("cg1");
      const out = ofType(rs, T.egress).filter((r) => r.name.startsWith("cg1-out-clients-"));
      assert.deepEqual(out.map((r) => r.inputs.fromPort).sort(), [5432, 5433]);
    });
  });
});
