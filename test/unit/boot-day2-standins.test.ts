/**
 * The boot rehearsal's EC2 and Auto Scaling stand-ins (test/boot/ec2-standin.ts, asg-standin.ts) hold
 * the day-2 calls to EC2's documented rules and to the component's own policies: a volume attached to
 * another live instance is refused (EC2 API Reference, AttachVolume: VolumeInUse), an address held by
 * another interface moves only with AllowReassignment (AssignPrivateIpAddresses), a group of one refuses
 * a termination that decrements its capacity (Auto Scaling API Reference,
 * TerminateInstanceInAutoScalingGroup), and another cluster's group is not this role's to terminate.
 * In-process HTTP servers on 127.0.0.1 (no process started). The rehearsal itself: npm run test:boot -- --day2.
 */
import assert from "node:assert/strict";
import { AddressInfo } from "node:net";
import { hostClaimPolicyDocument, hostReplacePolicyDocument } from "../../lib/iam/host-policies";
import { CLUSTER_TAG, HOST_TAG } from "../../lib/naming/names";
import { AsgStandin } from "../boot/asg-standin";
import { describeInstancesXml, Ec2Instance, Ec2Standin, instanceMatches, queryFilters } from "../boot/ec2-standin";
import { REGION } from "../boot/plan";

const creds = { accessKeyId: "ASIATEST", secretAccessKey: "s", token: "tok" };
const scope = { partition: "aws", region: REGION, accountId: "123456789012", clusterName: "main" };
const policies = [JSON.stringify(hostClaimPolicyDocument(scope)), JSON.stringify(hostReplacePolicyDocument(scope))];
const tags = (host: string, cluster = "main") => ({ [CLUSTER_TAG]: cluster, [HOST_TAG]: host });

/** A request as the AWS CLI signs it (the stand-ins check the credential scope and the session token). */
async function call(port: number, service: string, params: Record<string, string>): Promise<{ status: number; body: string }> {
  const r = await fetch(`http://127.0.0.1:${port}/`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      authorization: `AWS4-HMAC-SHA256 Credential=${creds.accessKeyId}/20261208/${REGION}/${service}/aws4_request, SignedHeaders=host, Signature=0`,
      "x-amz-security-token": creds.token,
    },
    body: new URLSearchParams(params).toString(),
  });
  return { status: r.status, body: await r.text() };
}

describe("boot rehearsal: day-2 stand-ins", () => {
  it("DescribeInstances' tag and state filters select the host's live instance", () => {
    const form = new URLSearchParams({
      "Filter.1.Name": `tag:${HOST_TAG}`,
      "Filter.1.Value.1": "pg-1",
      "Filter.2.Name": "instance-state-name",
      "Filter.2.Value.1": "pending",
      "Filter.2.Value.2": "running",
    });
    const f = queryFilters(form);
    assert.deepEqual(f.get("instance-state-name"), ["pending", "running"]);
    const i: Ec2Instance = { id: "i-1", host: "pg-1", state: "running", tags: tags("pg-1"), eni: "eni-1", addresses: ["10.0.0.9"] };
    assert.ok(instanceMatches(i, f));
    assert.ok(!instanceMatches({ ...i, state: "shutting-down" }, f));
    assert.ok(!instanceMatches({ ...i, tags: tags("pg-2") }, f));
    assert.match(describeInstancesXml([i]), /<instanceId>i-1<\/instanceId>.*<name>running<\/name>/);
  });

  it("EC2: a volume attaches to one live instance at a time; an address moves only with AllowReassignment", async () => {
    const seen: string[] = [];
    const ec2 = new Ec2Standin([{ credentials: creds, policies }], {
      onAddresses: (i) => seen.push(`${i.id}:${i.addresses.join(",")}`),
      onAttach: (v, i) => seen.push(`attach ${v.id} ${i.id}`),
      onDetach: (v) => seen.push(`detach ${v.id}`),
    });
    await ec2.start("127.0.0.1", 0);
    const port = (ec2 as unknown as { server: { address(): AddressInfo } }).server.address().port;
    try {
      ec2.addVolume("vol-1", "pg-1", { ...tags("pg-1"), "ha-postgres:role": "data" }, "/dev/loop9");
      const old = ec2.launch({ id: "i-old", host: "pg-1", tags: tags("pg-1"), eni: "eni-old", addresses: ["10.0.0.200"] });
      assert.equal(
        (await call(port, "ec2", { Action: "AttachVolume", VolumeId: "vol-1", InstanceId: old.id, Device: "/dev/xvdf" })).status,
        200,
      );
      await new Promise((r) => setTimeout(r, 1100));
      assert.equal(ec2.volumes.get("vol-1")!.attachment!.state, "attached");
      const ip = { Action: "AssignPrivateIpAddresses", NetworkInterfaceId: "eni-old", "PrivateIpAddress.1": "10.0.0.9" };
      assert.equal((await call(port, "ec2", ip)).status, 200);

      // The replacement, while the old instance still runs (or shuts down): refused, as on EC2.
      const next = ec2.launch({ id: "i-new", host: "pg-1", tags: tags("pg-1"), eni: "eni-new", addresses: ["10.0.0.201"] });
      const attach = { Action: "AttachVolume", VolumeId: "vol-1", InstanceId: next.id, Device: "/dev/xvdf" };
      assert.match((await call(port, "ec2", attach)).body, /VolumeInUse/);
      ec2.shuttingDown(old.id);
      assert.match((await call(port, "ec2", { Action: "DescribeVolumes", "VolumeId.1": "vol-1" })).body, /<status>detaching<\/status>/);
      assert.match((await call(port, "ec2", attach)).body, /VolumeInUse/);
      const move = { Action: "AssignPrivateIpAddresses", NetworkInterfaceId: "eni-new", "PrivateIpAddress.1": "10.0.0.9" };
      assert.match((await call(port, "ec2", move)).body, /PrivateIpAddressInUse/);
      assert.equal((await call(port, "ec2", { ...move, AllowReassignment: "true" })).status, 200);
      assert.deepEqual(ec2.instances.get("i-new")!.addresses, ["10.0.0.201", "10.0.0.9"]);
      assert.deepEqual(ec2.instances.get("i-old")!.addresses, ["10.0.0.200"]);
      ec2.terminated(old.id);
      assert.equal((await call(port, "ec2", attach)).status, 200);

      // Another cluster's volume is not this role's to attach (the claim policy's tag condition).
      ec2.addVolume("vol-2", "pg-1", { ...tags("pg-1", "other"), "ha-postgres:role": "data" }, "/dev/loop8");
      const foreign = await call(port, "ec2", { ...attach, VolumeId: "vol-2" });
      assert.equal(foreign.status, 403);
      assert.match(foreign.body, /UnauthorizedOperation/);
      assert.ok(seen.includes("detach vol-1"));
    } finally {
      await ec2.stop();
    }
  });

  it("Auto Scaling: a group of one replaces a terminated instance; it refuses a decrement and another cluster's group", async () => {
    const terminated: string[] = [];
    const live: Record<string, string> = { "pg-1": "i-1", "pg-9": "i-9" };
    const asg = new AsgStandin(
      [{ credentials: creds, policies }],
      (host) => live[host],
      (g, id) => terminated.push(`${g.name} ${id}`),
    );
    asg.setGroup({ name: "main-pg-1-asg", host: "pg-1", tags: tags("pg-1") });
    asg.setGroup({ name: "other-pg-9-asg", host: "pg-9", tags: tags("pg-9", "other") });
    await asg.start("127.0.0.1", 0);
    const port = (asg as unknown as { server: { address(): AddressInfo } }).server.address().port;
    try {
      const req = (id: string, decrement: string) => ({
        Action: "TerminateInstanceInAutoScalingGroup",
        InstanceId: id,
        ShouldDecrementDesiredCapacity: decrement,
      });
      assert.match((await call(port, "autoscaling", req("i-1", "true"))).body, /min size constraint/);
      assert.match((await call(port, "autoscaling", req("i-9", "false"))).body, /AccessDenied/);
      assert.equal((await call(port, "ec2", req("i-1", "false"))).status, 403, "signed for another service");
      const ok = await call(port, "autoscaling", req("i-1", "false"));
      assert.equal(ok.status, 200);
      assert.match(ok.body, /<StatusCode>InProgress<\/StatusCode>/);
      assert.deepEqual(terminated, ["main-pg-1-asg i-1"]);
    } finally {
      await asg.stop();
    }
  });
});
