/**
 * The pure pieces of the day-2 host design (docs/day2.md): fixed IP choice, the boot claim's volume
 * decision, the claim and replace IAM documents, host revisions and the topology document.
 */
import * as assert from "node:assert/strict";
import { validateClusterArgs, ClusterArgsError } from "../../lib/args/validate";
import { hostClaimPolicyDocument, hostReplacePolicyDocument } from "../../lib/iam/host-policies";
import { MAX_NODE_COUNT, nodeHostName, etcdHostName } from "../../lib/naming/names";
import { fixedIp, WINDOW } from "../../lib/nodes/fixed-ip";
import { etcdInitialMembers, topologyDocument } from "../../lib/topology/document";
import { topologyValue } from "../../lib/topology/parameter";
import { hostRevision, LaunchInputs } from "../../lib/topology/revision";
import { fixedIpEnv, interfaceWithMac, volumeClaimStep } from "../../sidecar/boot/claim";

const toInt = (ip: string) => ip.split(".").reduce((n, p) => n * 256 + Number(p), 0);

describe("fixed IPs (explicit subnet CIDR reservations)", () => {
  const hosts = [
    ...Array.from({ length: MAX_NODE_COUNT }, (_, i) => nodeHostName(i)),
    ...Array.from({ length: 5 }, (_, i) => etcdHostName(i)),
  ];

  it("gives every host of a cluster its own address inside the subnet, never one AWS reserves", () => {
    for (const cidr of ["10.0.1.0/24", "172.31.16.0/20", "10.20.0.0/26", "10.0.0.0/16"]) {
      const [base, bits] = cidr.split("/");
      const first = toInt(base);
      const last = first + 2 ** (32 - Number(bits)) - 1;
      const ips = hosts.map((h) => fixedIp(cidr, "orders", h));
      assert.equal(new Set(ips).size, ips.length, `${cidr}: distinct`);
      for (const ip of ips)
        assert.ok(toInt(ip) >= first + 4 && toInt(ip) <= last - 1, `${cidr}: ${ip} is usable (AWS keeps the first 4 and the last)`);
    }
  });

  it("is stable: the same cluster, host and subnet always give the same address (scaling moves nobody)", () => {
    assert.equal(fixedIp("10.0.1.0/24", "orders", "pg-1"), fixedIp("10.0.1.0/24", "orders", "pg-1"));
    // Counted down from the top: pg-1 sits just below pg-0, etcd members further below.
    assert.equal(toInt(fixedIp("10.0.1.0/24", "orders", "pg-0")) - toInt(fixedIp("10.0.1.0/24", "orders", "pg-1")), 1);
  });

  it("puts two clusters in one large subnet in different windows", () => {
    const a = new Set(hosts.map((h) => fixedIp("10.0.0.0/20", "orders", h)));
    const b = hosts.map((h) => fixedIp("10.0.0.0/20", "billing", h));
    assert.ok(
      b.every((ip) => !a.has(ip)),
      "no address shared",
    );
  });

  it("refuses a subnet too small for a cluster's window, naming subnetIds and the fix", () => {
    assert.throws(() => fixedIp("10.0.1.0/28", "orders", "pg-0"), /subnetIds: .*\/26 or larger/);
    assert.ok(WINDOW <= 2 ** 6 - 5);
  });
});

describe("the boot claim's volume decision", () => {
  const me = "i-new";
  const table: Array<[string, Parameters<typeof volumeClaimStep>[0], string]> = [
    ["available: attach", { State: "available", Attachments: [] }, "attach"],
    [
      "still attached to the terminating instance: wait",
      { State: "in-use", Attachments: [{ InstanceId: "i-old", State: "attached" }] },
      "wait",
    ],
    ["detaching from it: wait", { State: "in-use", Attachments: [{ InstanceId: "i-old", State: "detaching" }] }, "wait"],
    ["attaching to this instance: wait", { State: "in-use", Attachments: [{ InstanceId: me, State: "attaching" }] }, "wait"],
    ["attached to this instance: done", { State: "in-use", Attachments: [{ InstanceId: me, State: "attached" }] }, "done"],
    ["creating: wait", { State: "creating" }, "wait"],
  ];
  for (const [what, volume, action] of table) {
    it(what, () => assert.equal(volumeClaimStep(volume, me).action, action));
  }
  it("a deleted or failed volume is an error, not a wait", () => {
    assert.throws(() => volumeClaimStep({ State: "error" }, me), /data volume is error/);
    assert.throws(() => volumeClaimStep({ State: "deleted" }, me), /data volume is deleted/);
  });
  it("finds the interface by its MAC in iproute2's output (a veth's name carries @ifN)", () => {
    const out = [
      "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00",
      "2: eth0@if7: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT group default qlen 1000\\    link/ether 02:00:0a:e7:09:3e brd ff:ff:ff:ff:ff:ff link-netnsid 0",
      "3: ens5: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 9001 qdisc mq state UP mode DEFAULT group default qlen 1000\\    link/ether 0a:1b:2c:3d:4e:5f brd ff:ff:ff:ff:ff:ff",
    ].join("\n");
    assert.equal(interfaceWithMac(out, "02:00:0a:e7:09:3e"), "eth0");
    assert.equal(interfaceWithMac(out, "0A:1B:2C:3D:4E:5F"), "ens5");
    assert.equal(interfaceWithMac(out, "02:00:00:00:00:01"), undefined);
  });

  it("writes the fixed IP with the subnet's prefix for the boot unit", () => {
    assert.equal(fixedIpEnv("10.0.1.250", "10.0.1.0/24", "ens5"), "FIXED_IP=10.0.1.250/24\nIFACE=ens5\n");
  });
});

describe("day-2 IAM: claim and replace, least privilege", () => {
  const scope = { partition: "aws", region: "us-east-1", accountId: "123456789012", clusterName: "orders" };

  it("claims only interfaces, volumes and instances tagged with this cluster (data volumes by role)", () => {
    const doc = hostClaimPolicyDocument(scope);
    for (const s of doc.Statement) {
      const mutating = s.Action.some((a) => !a.startsWith("ec2:Describe"));
      if (!mutating) continue;
      assert.notEqual(s.Resource, "*", `${s.Sid}: no wildcard resource`);
      assert.equal(s.Condition?.StringEquals["aws:ResourceTag/ha-postgres:cluster"], "orders", `${s.Sid}: this cluster only`);
    }
    const volume = doc.Statement.find((s) => s.Sid === "ClaimDataVolume")!;
    assert.deepEqual(volume.Resource, ["arn:aws:ec2:us-east-1:123456789012:volume/*"]);
    assert.equal(volume.Condition?.StringEquals["aws:ResourceTag/ha-postgres:role"], "data", "never the root volumes");
    assert.deepEqual(
      doc.Statement.map((s) => s.Action)
        .flat()
        .sort(),
      ["ec2:AssignPrivateIpAddresses", "ec2:AttachVolume", "ec2:AttachVolume", "ec2:DescribeNetworkInterfaces", "ec2:DescribeVolumes"],
    );
  });

  it("replaces hosts only by terminating instances of this cluster's groups, nothing else", () => {
    const doc = hostReplacePolicyDocument(scope);
    const terminate = doc.Statement.find((s) => s.Sid === "ReplaceClusterHosts")!;
    assert.deepEqual(terminate.Action, ["autoscaling:TerminateInstanceInAutoScalingGroup"]);
    assert.equal(terminate.Condition?.StringEquals["aws:ResourceTag/ha-postgres:cluster"], "orders");
    const all = doc.Statement.flatMap((s) => s.Action);
    assert.ok(!all.includes("ec2:TerminateInstances"), "never EC2's own terminate: the group must replace the instance");
    assert.deepEqual(all.sort(), [
      "autoscaling:DescribeAutoScalingInstances",
      "autoscaling:TerminateInstanceInAutoScalingGroup",
      "ec2:DescribeInstances",
    ]);
  });
});

describe("host revisions and the topology document", () => {
  const inputs: LaunchInputs = {
    ami: "ami-1",
    instanceType: "m7i.large",
    userData: "#cloud-config\n",
    dataVolume: { sizeGiB: 100, type: "gp3" },
  };

  it("digests every launch input: any change changes it, nothing else does", () => {
    const r = hostRevision(inputs);
    assert.match(r, /^[0-9a-f]{16}$/);
    assert.equal(hostRevision({ ...inputs }), r);
    for (const changed of [
      { ...inputs, ami: "ami-2" },
      { ...inputs, instanceType: "m7i.xlarge" },
      { ...inputs, userData: "#cloud-config\n# x\n" },
      { ...inputs, dataVolume: { sizeGiB: 200, type: "gp3" } },
      { ...inputs, dataVolume: { sizeGiB: 100, type: "gp3", iops: 6000 } },
      { ...inputs, dataVolume: { sizeGiB: 100, type: "gp3", throughputMiBps: 250 } },
      { ...inputs, dataVolume: { sizeGiB: 100, type: "io2" } },
    ]) {
      assert.notEqual(hostRevision(changed), r, JSON.stringify(changed));
    }
  });

  it("bootstraps etcd with the first three members, however many there are", () => {
    const m = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `etcd-${i}` }));
    assert.deepEqual(etcdInitialMembers(m(3)), ["etcd-0", "etcd-1", "etcd-2"]);
    assert.deepEqual(etcdInitialMembers(m(5)), ["etcd-0", "etcd-1", "etcd-2"]);
  });

  it("the largest topology (9 nodes, 5 etcd members) fits SSM's Standard tier", () => {
    const host = (name: string, i: number) => ({ name, ip: `10.255.255.${200 + i}`, revision: "0123456789abcdef" });
    const t = topologyDocument({
      nodes: Array.from({ length: MAX_NODE_COUNT }, (_, i) => host(nodeHostName(i), i)),
      etcd: Array.from({ length: 5 }, (_, i) => host(etcdHostName(i), 20 + i)),
    });
    assert.ok(Buffer.byteLength(topologyValue(t)) < 4096);
  });

  it("MAX_NODE_COUNT is the validation's limit (the backup server admits every name it allows)", () => {
    assert.doesNotThrow(() => validateClusterArgs("c", { nodeCount: MAX_NODE_COUNT }));
    assert.throws(() => validateClusterArgs("c", { nodeCount: MAX_NODE_COUNT + 1 }), ClusterArgsError);
  });
});
