/**
 * Outbound access under mocks: the component reads each placement subnet's route table and gives
 * the hosts a way out to S3, SSM and the Debian mirror (an Elastic IP each behind an internet
 * gateway, nothing behind a NAT, VPC endpoints when asked), or refuses the placement, naming the fix.
 * The mocked route tables are in ./mocks.ts (default VPC → internet gateway, vpc-existing → NAT,
 * vpc-isolated → no default route).
 */
// Mocks first: they must be in place before the component module is loaded.
import { childCollector, recordedUnder, valueOf, Recorded } from "./mocks";
import { hostInputs, hostLaunchesIn } from "./hosts";
import * as assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { HaPostgresCluster, HaPostgresClusterArgs, ClusterArgsError } from "../../lib";

const T = {
  eip: "aws:ec2/eip:Eip",
  endpoint: "aws:ec2/vpcEndpoint:VpcEndpoint",
  instance: "aws:ec2/instance:Instance",
  group: "aws:autoscaling/group:Group",
  lt: "aws:ec2/launchTemplate:LaunchTemplate",
  eni: "aws:ec2/networkInterface:NetworkInterface",
  sg: "aws:ec2/securityGroup:SecurityGroup",
  ingress: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
} as const;

interface Built {
  cluster: HaPostgresCluster;
  resources: Recorded[];
  /** Each instance's dependsOn as declared, by child name. */
  dependsOn: Map<string, unknown>;
  nameOf: Map<pulumi.Resource, string>;
}

async function build(name: string, args: HaPostgresClusterArgs): Promise<Built> {
  const c = childCollector();
  const dependsOn = new Map<string, unknown>();
  const capture: pulumi.ResourceTransformation = (a) => {
    // A host's group waits for what its first boot needs.
    if (a.type === T.group) dependsOn.set(a.name.replace(/-asg$/, ""), a.opts.dependsOn);
    return undefined;
  };
  const cluster = new HaPostgresCluster(name, args, { transformations: [...(c.opts.transformations ?? []), capture] });
  await c.settle();
  await valueOf(cluster.nodePrivateIps);
  await c.settle();
  return { cluster, resources: recordedUnder(name), dependsOn, nameOf: new Map(c.children.map((x) => [x.resource, x.name])) };
}

const ofType = (b: Built, type: string) => b.resources.filter((r) => r.type === type);

/** Resolves an Output, rejecting when it failed (valueOf would wait forever). */
function settled<T>(o: pulumi.Output<T>): Promise<T> {
  return (o as unknown as { promise(): Promise<T> }).promise();
}

/** Names of the resources an instance waits for (its dependsOn, resolved). */
async function waitsFor(b: Built, instance: string): Promise<string[]> {
  const deps = (await settled(pulumi.output(b.dependsOn.get(instance) as pulumi.Input<pulumi.Resource[]>))) ?? [];
  return deps.map((r) => b.nameOf.get(r) ?? "?");
}

/**
 * Builds a cluster the component must refuse, and returns the refusal. A refused cluster's hosts
 * never register (their inputs wait on the refused placement): the CLI reports that as the program's
 * error, but under mocks nothing does, so Pulumi's exit-time check would count their pending
 * registrations as leaked promises and fail the run. The promises this one construction left
 * pending are forgotten; a leak anywhere else still fails the run.
 */
async function refusal(name: string, args: HaPostgresClusterArgs, opts?: pulumi.ComponentResourceOptions): Promise<ClusterArgsError> {
  const { getStore } = require("@pulumi/pulumi/runtime/state") as { getStore(): { leakCandidates: Set<Promise<unknown>> } };
  const candidates = getStore().leakCandidates;
  const before = new Set(candidates);
  const cluster = new HaPostgresCluster(name, args, opts);
  const error = await settled(cluster.egress).then(
    () => assert.fail(`${name} was not refused`),
    (e: unknown) => e,
  );
  await new Promise((r) => setTimeout(r, 300));
  for (const p of [...candidates]) if (!before.has(p)) candidates.delete(p);
  assert.ok(error instanceof ClusterArgsError, String(error));
  return error;
}

describe("egress (mocks)", function () {
  this.timeout(60_000);

  it("default VPC (route to an internet gateway): an auto-assigned public IPv4 per instance, no Elastic IP (defect 4)", async () => {
    const b = await build("eg1", {});
    // A fresh account has 5 Elastic IPs per region; auto-assigned public IPv4 addresses are not EIPs.
    assert.equal(ofType(b, T.eip).length, 0);
    const hosts = ["pg-0", "pg-1", "pg-2", "etcd-0", "etcd-1", "etcd-2"];
    for (const h of hosts) {
      const [nic] = hostInputs(`eg1-${h}`).networkInterfaces;
      assert.equal(nic.deviceIndex, 0);
      assert.equal(nic.associatePublicIpAddress, "true", `${h}'s instances get a public address on their primary interface`);
    }
    assert.deepEqual(await valueOf(b.cluster.egress), Object.fromEntries(hosts.map((h) => [h, "publicIp"])));
    assert.deepEqual(await valueOf(b.cluster.publicIps), Object.fromEntries(hosts.map((h) => [h, true])));
  });

  it("a public address opens nothing: no ingress from the internet, no endpoint", async () => {
    const b = await build("eg2", { etcd: { placement: "colocated" } });
    assert.equal(hostLaunchesIn(b.resources).length, 3, "colocated etcd: the 3 nodes only");
    assert.equal(ofType(b, T.eip).length, 0);
    const open = ofType(b, T.ingress).filter((r) => r.inputs.cidrIpv4 !== undefined || r.inputs.cidrIpv6 !== undefined);
    assert.deepEqual(open, []);
    assert.equal(ofType(b, T.endpoint).length, 0);
  });

  it("subnets routing to a NAT gateway: no Elastic IP, nothing added", async () => {
    const b = await build("eg3", { subnetIds: ["subnet-x1", "subnet-x2", "subnet-x3"] });
    assert.equal(ofType(b, T.eip).length, 0);
    assert.equal(ofType(b, T.endpoint).length, 0);
    assert.deepEqual(new Set(Object.values(await valueOf(b.cluster.egress))), new Set(["nat"]));
    assert.ok(
      Object.values(await valueOf(b.cluster.publicIps)).every((p) => p === false),
      "no public address behind a NAT",
    );
    assert.equal(hostLaunchesIn(b.resources).length, 6);
  });

  it("subnets with no default route: refused with the fix, and no host is declared", async () => {
    const c = childCollector();
    const e = await refusal("refused-1", { subnetIds: ["subnet-i1", "subnet-i2", "subnet-i3"] }, c.opts);
    assert.equal(e.problems.length, 3, "one problem per placement subnet");
    assert.match(
      e.problems[0],
      /^egress: subnet subnet-i1 \(route table rtb-isolated\) has no route to 0\.0\.0\.0\/0, so a node there cannot reach S3, SSM/,
    );
    assert.match(
      e.problems[0],
      /add a route to a NAT gateway, use subnets with a route to an internet gateway, or set egress to "endpoints"/,
    );
    const declared = recordedUnder("refused-1").map((r) => r.type);
    for (const t of [T.eni, T.instance, T.eip, T.group, T.lt]) assert.ok(!declared.includes(t), `no ${t} in a subnet without a way out`);
  });

  it('egress "publicIp" on subnets that route to a NAT is refused, naming the fix', async () => {
    const e = await refusal("refused-2", { egress: "publicIp", subnetIds: ["subnet-x1", "subnet-x2", "subnet-x3"] });
    assert.match(
      e.message,
      /"publicIp" needs a route to an internet gateway, but subnet subnet-x1 \(route table rtb-existing-private\) .* nat-0existing/,
    );
  });

  it('egress "nat" in the default VPC (internet gateway only) is refused, naming the fix', async () => {
    const e = await refusal("refused-3", { egress: "nat" });
    assert.match(
      e.message,
      /"nat" needs a route to a NAT gateway, but subnet subnet-a \(the VPC's main route table rtb-default-main\) .* igw-0dflt/,
    );
  });

  it('egress "endpoints": S3 gateway endpoint on the route tables, SSM endpoints (private DNS), HTTPS from hosts only', async () => {
    const b = await build("eg7", { egress: "endpoints", amiId: "ami-prebaked", subnetIds: ["subnet-x1", "subnet-x2", "subnet-x3"] });
    const endpoints = ofType(b, T.endpoint);
    const s3 = endpoints.find((e) => e.name === "eg7-vpce-s3") as Recorded;
    assert.deepEqual(
      [s3.inputs.serviceName, s3.inputs.vpcEndpointType, s3.inputs.routeTableIds],
      ["com.amazonaws.us-east-1.s3", "Gateway", ["rtb-existing-private"]],
    );
    const ifaces = endpoints.filter((e) => e.inputs.vpcEndpointType === "Interface");
    assert.deepEqual(ifaces.map((e) => e.inputs.serviceName).sort(), [
      // The boot claim calls EC2 and the roll EC2 Auto Scaling (docs/day2.md): no way out but endpoints.
      "com.amazonaws.us-east-1.autoscaling",
      "com.amazonaws.us-east-1.ec2",
      "com.amazonaws.us-east-1.ec2messages",
      "com.amazonaws.us-east-1.ssm",
      "com.amazonaws.us-east-1.ssmmessages",
    ]);
    for (const e of ifaces) {
      assert.equal(e.inputs.privateDnsEnabled, true, e.name);
      assert.deepEqual(e.inputs.subnetIds, ["subnet-x1", "subnet-x2", "subnet-x3"], "one subnet per zone");
      assert.deepEqual(e.inputs.securityGroupIds, ["eg7-sg-endpoints-id"]);
      assert.equal(e.inputs.vpcId, "vpc-existing");
    }
    const rules = ofType(b, T.ingress).filter((r) => r.inputs.securityGroupId === "eg7-sg-endpoints-id");
    assert.deepEqual(rules.map((r) => [r.inputs.fromPort, r.inputs.toPort, r.inputs.referencedSecurityGroupId]).sort(), [
      [443, 443, "eg7-sg-etcd-id"],
      [443, 443, "eg7-sg-nodes-id"],
    ]);
    assert.equal(ofType(b, T.eip).length, 0);
    for (const i of hostLaunchesIn(b.resources)) {
      assert.equal(i.inputs.imageId, "ami-prebaked");
      assert.ok(!/package_update|packages:/.test(i.inputs.userData), `${i.name}: no apt step (the mirror is unreachable)`);
    }
    const deps = await waitsFor(b, "eg7-pg-0");
    for (const e of ["eg7-vpce-s3", "eg7-vpce-ssm", "eg7-vpce-ssmmessages", "eg7-vpce-ec2messages"])
      assert.ok(deps.includes(e), `pg-0 boots after ${e}`);
  });

  it('egress "endpoints" without Session Manager: no Session Manager endpoints (ssm, and the hosts\' own EC2 and Auto Scaling)', async () => {
    const b = await build("eg8", { egress: "endpoints", amiId: "ami-prebaked", sessionManager: false });
    assert.deepEqual(
      ofType(b, T.endpoint)
        .map((e) => e.name)
        .sort(),
      ["eg8-vpce-autoscaling", "eg8-vpce-ec2", "eg8-vpce-s3", "eg8-vpce-ssm"],
    );
    assert.deepEqual(inputsRouteTables(b), ["rtb-default-main"]);
  });

  it('egress "endpoints" is refused without amiId (before any resource) and in a VPC without DNS hostnames', async () => {
    assert.throws(
      () => new HaPostgresCluster("eg9", { egress: "endpoints" }),
      /egress: "endpoints" .*set amiId to an AMI with the packages preinstalled/,
    );
    assert.equal(recordedUnder("eg9").length, 0);
    const e = await refusal("refused-4", { egress: "endpoints", amiId: "ami-1", subnetIds: ["subnet-i1", "subnet-i2"] });
    assert.match(e.message, /egress: "endpoints" needs private DNS for the SSM endpoints, but vpc-isolated has enableDnsHostnames off/);
  });
});

function inputsRouteTables(b: Built): string[] {
  return (ofType(b, T.endpoint).find((e) => e.name.endsWith("-vpce-s3")) as Recorded).inputs.routeTableIds;
}
