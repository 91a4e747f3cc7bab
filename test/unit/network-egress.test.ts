/** How the hosts get out (egress): route tables in, a mode per subnet or a refusal naming the fix out. Pure. */
import * as assert from "node:assert/strict";
import { ClusterArgsError, validateClusterArgs } from "../../lib/args/validate";
import {
  decideEgress,
  defaultRoute,
  egressArgProblems,
  endpointDnsProblems,
  oneSubnetPerZone,
  ssmEndpointServices,
  SubnetRouteTable,
} from "../../lib/network/egress";
import { renderUserData } from "../../lib/userdata/render";
import { variants } from "../component/fixtures";

const table = (subnetId: string, routes: SubnetRouteTable["routes"], main = false): SubnetRouteTable => ({
  subnetId,
  routeTableId: `rtb-${subnetId}`,
  main,
  routes,
});
const local = { cidrBlock: "10.0.0.0/16", gatewayId: "" };
const toIgw = (subnet: string, main = false) => table(subnet, [local, { cidrBlock: "0.0.0.0/0", gatewayId: "igw-1" }], main);
const toNat = (subnet: string) => table(subnet, [local, { cidrBlock: "0.0.0.0/0", gatewayId: "", natGatewayId: "nat-1" }]);
const isolated = (subnet: string) => table(subnet, [local]);

describe("defaultRoute", () => {
  it("classifies the 0.0.0.0/0 target: internet gateway, the NAT kinds, unusable, none", () => {
    assert.deepEqual(defaultRoute([{ cidrBlock: "0.0.0.0/0", gatewayId: "igw-9" }]), { kind: "internetGateway", target: "igw-9" });
    for (const r of [
      { natGatewayId: "nat-1" },
      { instanceId: "i-1" },
      { networkInterfaceId: "eni-1" },
      { transitGatewayId: "tgw-1" },
      { gatewayId: "vgw-1" },
    ]) {
      assert.equal(defaultRoute([{ cidrBlock: "0.0.0.0/0", gatewayId: "", ...r }]).kind, "nat", JSON.stringify(r));
    }
    assert.deepEqual(defaultRoute([{ cidrBlock: "0.0.0.0/0", vpcPeeringConnectionId: "pcx-1" }]), { kind: "unusable", target: "pcx-1" });
    assert.deepEqual(
      defaultRoute([local, { cidrBlock: "10.9.0.0/16", natGatewayId: "nat-1" }]),
      { kind: "none" },
      "only the default route counts",
    );
    assert.deepEqual(defaultRoute([]), { kind: "none" });
  });
});

describe("decideEgress", () => {
  it("auto: a public address where the subnet routes to an internet gateway, the NAT where it routes to one", () => {
    const d = decideEgress("auto", [toIgw("subnet-a", true), toNat("subnet-b"), toIgw("subnet-c")]);
    assert.deepEqual(d, { bySubnet: { "subnet-a": "publicIp", "subnet-b": "nat", "subnet-c": "publicIp" }, problems: [] });
  });

  it("auto: refuses a subnet without a default route, naming it, its route table and the fixes", () => {
    const d = decideEgress("auto", [toIgw("subnet-a"), isolated("subnet-b")]);
    assert.deepEqual(d.bySubnet, { "subnet-a": "publicIp" });
    assert.equal(d.problems.length, 1);
    assert.match(
      d.problems[0],
      /^egress: subnet subnet-b \(route table rtb-subnet-b\) has no route to 0\.0\.0\.0\/0, so a node there cannot reach S3, SSM/,
    );
    assert.match(
      d.problems[0],
      /add a route to a NAT gateway, use subnets with a route to an internet gateway, or set egress to "endpoints"/,
    );
  });

  it("says when the route table is the VPC's main one (the subnet has no association of its own)", () => {
    const [p] = decideEgress("auto", [table("subnet-m", [], true)]).problems;
    assert.match(p, /subnet subnet-m \(the VPC's main route table rtb-subnet-m\)/);
  });

  it("auto: refuses a default route through VPC peering (not transitive)", () => {
    const [p] = decideEgress("auto", [table("subnet-p", [{ cidrBlock: "0.0.0.0/0", vpcPeeringConnectionId: "pcx-7" }])]).problems;
    assert.match(p, /routes 0\.0\.0\.0\/0 to pcx-7, which does not reach the internet/);
  });

  it("publicIp: needs an internet gateway route in every subnet", () => {
    assert.deepEqual(decideEgress("publicIp", [toIgw("subnet-a"), toIgw("subnet-b")]).bySubnet, {
      "subnet-a": "publicIp",
      "subnet-b": "publicIp",
    });
    const d = decideEgress("publicIp", [toIgw("subnet-a"), toNat("subnet-b"), isolated("subnet-c")]);
    assert.equal(d.problems.length, 2);
    assert.match(
      d.problems[0],
      /egress: "publicIp" needs a route to an internet gateway, but subnet subnet-b .* routes 0\.0\.0\.0\/0 to nat-1: use egress "nat"/,
    );
    assert.match(d.problems[1], /subnet subnet-c .* has no route to 0\.0\.0\.0\/0/);
  });

  it("nat: needs a NAT route; a subnet routing to an internet gateway is refused (no public address there)", () => {
    assert.deepEqual(decideEgress("nat", [toNat("subnet-a")]).bySubnet, { "subnet-a": "nat" });
    const [p] = decideEgress("nat", [toIgw("subnet-a")]).problems;
    assert.match(
      p,
      /egress: "nat" needs a route to a NAT gateway, but subnet subnet-a .* routes 0\.0\.0\.0\/0 to the internet gateway igw-1/,
    );
    assert.match(p, /use egress "publicIp" \(or "auto"\), or subnets that route to a NAT gateway/);
  });

  it("endpoints: every subnet, whatever its routes (the endpoints carry S3 and SSM)", () => {
    assert.deepEqual(decideEgress("endpoints", [isolated("subnet-a"), toIgw("subnet-b")]), {
      bySubnet: { "subnet-a": "endpoints", "subnet-b": "endpoints" },
      problems: [],
    });
  });
});

describe("egress arg", () => {
  it('"endpoints" needs an amiId with the packages preinstalled; refused without, naming the fix', () => {
    assert.deepEqual(egressArgProblems("endpoints", "ami-1"), []);
    assert.deepEqual(egressArgProblems("auto", undefined), []);
    assert.throws(
      () => validateClusterArgs("db", { egress: "endpoints" }),
      (e: unknown) => {
        assert.ok(e instanceof ClusterArgsError);
        assert.match(
          e.message,
          /egress: "endpoints" leaves the nodes without a route to the Debian mirror.*set amiId to an AMI with the packages preinstalled/,
        );
        return true;
      },
    );
  });

  it('defaults to "auto" and rejects an unknown mode', () => {
    assert.equal(validateClusterArgs("db", {}).egress, "auto");
    assert.equal(validateClusterArgs("db", { egress: "endpoints", amiId: "ami-1" }).egress, "endpoints");
    assert.throws(
      () => validateClusterArgs("db", { egress: "internet" as never }),
      /egress: must be "auto" \(default\), "publicIp", "nat" or "endpoints"/,
    );
  });

  it("endpoints need the VPC's DNS support and DNS hostnames (private DNS)", () => {
    assert.deepEqual(endpointDnsProblems("vpc-1", { enableDnsSupport: true, enableDnsHostnames: true }), []);
    const [p] = endpointDnsProblems("vpc-1", { enableDnsSupport: true, enableDnsHostnames: false });
    assert.match(p, /vpc-1 has enableDnsHostnames off: turn them on for the VPC/);
  });
});

describe("endpoint placement", () => {
  it("one subnet per zone (AWS takes at most one per zone), stable", () => {
    const subnets = [
      { id: "subnet-b2", availabilityZone: "us-east-1b" },
      { id: "subnet-a1", availabilityZone: "us-east-1a" },
      { id: "subnet-b1", availabilityZone: "us-east-1b" },
    ];
    assert.deepEqual(oneSubnetPerZone(subnets), ["subnet-a1", "subnet-b1"]);
  });

  it("Session Manager's endpoints only when it is on", () => {
    assert.deepEqual(ssmEndpointServices(true), ["ssm", "ssmmessages", "ec2messages"]);
    assert.deepEqual(ssmEndpointServices(false), ["ssm"]);
  });

  it("user-data runs no apt step when the packages come with the AMI, and keeps it otherwise", () => {
    const spec = variants()[0].spec;
    assert.match(renderUserData(spec), /\npackage_update: true\npackages:\n {2}- curl/);
    const preinstalled = renderUserData({ ...spec, packagesPreinstalled: true });
    assert.ok(!/package_update|packages:/.test(preinstalled), "no apt-get update or install: the mirror is unreachable");
    assert.match(preinstalled, /runcmd:\n {2}- - \/usr\/local\/sbin\/hapg-boot/);
  });
});
