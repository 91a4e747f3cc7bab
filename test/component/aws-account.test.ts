/**
 * The mocks' AWS rules themselves (each refuses what AWS refuses, with AWS's wording), the README's
 * program in a fresh account, and the repository's own Pulumi programs (issue 16, defect 12).
 */
// Mocks first: they must be in place before the component module is loaded.
import { childCollector, freshAccount, takeViolations, valueOf } from "./mocks";
import * as assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { HaPostgresCluster } from "../../lib";
import { nameViolation, ssmViolation, USER_DATA_MAX_BYTES } from "./aws-rules";
import { checkCreate } from "./aws-account";

const ROOT = resolve(__dirname, "../../..");
const world = { zoneOf: (s: string) => (s.endsWith("a") || s === "subnet-a2" ? "us-east-1a" : "us-east-1b"), created: new Map() };

describe("the mocks' AWS rules", () => {
  afterEach(() => takeViolations("rule"));

  it("auto-names as the provider does and refuses load balancer and target group names over 32 characters", () => {
    assert.equal(nameViolation("aws:lb/targetGroup:TargetGroup", "orders-tg-primary", {}), undefined, "17 + 8 = 25");
    assert.match(String(nameViolation("aws:lb/targetGroup:TargetGroup", "orders-restored-tg-primary", {})), /cannot be longer than '32'/);
    assert.match(String(nameViolation("aws:lb/loadBalancer:LoadBalancer", "x", { name: "internal-db" })), /internal-/);
    assert.match(String(nameViolation("aws:lb/loadBalancer:LoadBalancer", "x", { name: "db-" })), /must not begin or end/);
    assert.match(String(nameViolation("aws:iam/role:Role", "r".repeat(57), {})), /less than or equal to 64/);
    assert.match(String(nameViolation("aws:s3/bucket:Bucket", "x", { bucket: "Bad_Bucket" })), /InvalidBucketName/);
    assert.equal(nameViolation("aws:s3/bucket:Bucket", "Orders-backup", {}), undefined, "the provider lower-cases bucket auto-names");
  });

  it("refuses user-data over 16384 bytes, SSM values over their tier, two subnets of one zone for a load balancer", () => {
    const instance = (userData: string) =>
      checkCreate("aws:ec2/instance:Instance", "rule-i", { userData, instanceType: "m7i.large" }, world);
    assert.equal(instance("x".repeat(USER_DATA_MAX_BYTES)), undefined);
    assert.match(String(instance("x".repeat(USER_DATA_MAX_BYTES + 1))), /User data is limited to 16384 bytes/);
    assert.equal(ssmViolation({ name: "/a/b", value: "x".repeat(4096) }), undefined);
    assert.match(String(ssmViolation({ name: "/a/b", value: "x".repeat(4097) })), /Standard tier .* 4096/);
    assert.equal(ssmViolation({ name: "/a/b", value: "x".repeat(8192), tier: "Advanced" }), undefined);
    assert.match(String(ssmViolation({ name: "/aws/b", value: "x" })), /can't be prefixed with "aws"/);
    const lb = (subnets: string[]) => checkCreate("aws:lb/loadBalancer:LoadBalancer", "rule-lb", { name: "db", subnets }, world);
    assert.equal(lb(["subnet-a", "subnet-b"]), undefined);
    assert.match(String(lb(["subnet-a", "subnet-a2", "subnet-b"])), /multiple subnets in the same Availability Zone/);
  });

  it("refuses a sixth Elastic IP and a second interface endpoint with private DNS for one service in a VPC", async () => {
    await freshAccount(async () => {
      const eip = () => checkCreate("aws:ec2/eip:Eip", "rule-eip", { domain: "vpc" }, world);
      for (let i = 0; i < 5; i++) assert.equal(eip(), undefined);
      assert.match(String(eip()), /AddressLimitExceeded/);
      const ssm = { vpcId: "vpc-x", serviceName: "com.amazonaws.us-east-1.ssm", vpcEndpointType: "Interface", privateDnsEnabled: true };
      assert.equal(checkCreate("aws:ec2/vpcEndpoint:VpcEndpoint", "rule-e", ssm, world), undefined);
      assert.match(
        String(checkCreate("aws:ec2/vpcEndpoint:VpcEndpoint", "rule-e", ssm, world)),
        /conflicting DNS domain for ssm\.us-east-1/,
      );
    });
  });
});

describe("a fresh account", function () {
  this.timeout(60_000);
  // Defect 4: six hosts took an Elastic IP each, and a fresh account has 5 per Region. Hosts now get
  // an auto-assigned public IPv4 from their launch template where the subnet needs one.
  it("the README's five-line program deploys in a fresh account under default quotas", async () => {
    await freshAccount(async () => {
      const c = childCollector();
      // The README names it "orders"; another name here, since program.test.ts reads the examples' "orders-" resources.
      const db = new HaPostgresCluster("fresh", { nodeCount: 3 }, c.opts);
      await c.settle();
      await valueOf(db.primaryEndpoint);
    });
    assert.deepEqual(
      takeViolations("fresh").map((v) => v.message),
      [],
    );
  });
});

describe("the repository's Pulumi programs (defect 12)", () => {
  const projects = ["Pulumi.yaml", ...readdirSync(resolve(ROOT, "examples")).map((d) => `examples/${d}/Pulumi.yaml`)];
  const library = resolve(ROOT, JSON.parse(readFileSync(resolve(ROOT, "package.json"), "utf8")).main);

  for (const p of projects) {
    it(`${p} names its program as main (not the library that package.json's main is)`, () => {
      const doc = parseYaml(readFileSync(resolve(ROOT, p), "utf8")) as { main?: string };
      assert.ok(doc.main, `${p} has a main`);
      const program = resolve(ROOT, dirname(p), doc.main);
      assert.notEqual(program, library);
      assert.ok(existsSync(program), `${program} exists after npm run build`);
      assert.match(readFileSync(program, "utf8"), /new [\w.]*HaPostgres(Docker)?Cluster\(/, "the program declares a cluster");
    });
  }
});
