/**
 * The second `pulumi up` (issue 16, part 2), under mocks: the program run twice with the same name,
 * first with the original args and then with a day-2 change, and the plan Pulumi's engine would make
 * derived from the two registrations (./second-up.ts models replace-on-change from the provider's
 * documented force-new properties; docs/day2.md cites each). What each test stands for:
 *  - launch templates change in place (a new version, `updateDefaultVersion`), never replaced;
 *  - Auto Scaling groups update in place (the version number), never replaced, no instance refresh;
 *  - no data volume or fixed IP of a surviving host is replaced or deleted;
 *  - the topology parameter's revisions change exactly for the hosts whose launch inputs changed;
 *  - scaling adds or removes exactly the hosts it should, and the etcd bootstrap members never change.
 */
import { childCollector, recorded, valueOf } from "./mocks";
import * as assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { HaPostgresCluster, HaPostgresClusterArgs } from "../../lib";
import { VOLUME_FORCE_NEW_IGNORED } from "../../lib/nodes/data-volume";
import { parse as parseYaml } from "yaml";
import { decodeUserData, HOST_TYPES } from "./hosts";
import { plan, PlannedStep, Run, topologyOf, up, withStep } from "./second-up";

const T = { ...HOST_TYPES, param: "aws:ssm/parameter:Parameter", instance: "aws:ec2/instance:Instance", eip: "aws:ec2/eip:Eip" };
const IGNORED = { [T.volume]: VOLUME_FORCE_NEW_IGNORED };

const base: HaPostgresClusterArgs = { clusterName: "orders" };

async function change(name: string, first: HaPostgresClusterArgs, second: HaPostgresClusterArgs) {
  const a = await up(name, first);
  const b = await up(name, second);
  return { a, b, steps: plan(a, b, IGNORED) };
}

const revisions = (run: Run, name: string) => {
  const t = topologyOf(run, name);
  return Object.fromEntries([...t.nodes, ...t.etcd].map((h) => [h.name, h.revision]));
};
const changedRevisions = (a: Run, b: Run, name: string) => {
  const ra = revisions(a, name);
  const rb = revisions(b, name);
  return Object.keys(rb)
    .filter((h) => ra[h] !== undefined && ra[h] !== rb[h])
    .sort();
};

/** Nothing a surviving host keeps outside its instances is replaced or deleted, and nothing is replaced at all. */
function assertNothingReplaced(steps: Map<string, PlannedStep>) {
  const replaced = [...steps].filter(([, s]) => s.step === "replace").map(([k, s]) => `${k} (${s.changed.join(", ")})`);
  assert.deepEqual(replaced, [], "no resource is replaced");
  for (const t of [T.volume, T.reservation, T.group, T.launchTemplate])
    assert.deepEqual(withStep(steps, t, "delete"), [], `no ${t} deleted`);
}

const PG = ["pg-0", "pg-1", "pg-2"];
const ETCD = ["etcd-0", "etcd-1", "etcd-2"];

describe("the second pulumi up (mocks)", function () {
  this.timeout(180_000);

  it("declares no EC2 instance, interface or Elastic IP: Pulumi's state holds groups, templates, IPs and volumes", async () => {
    const a = await up("d0", base);
    const types = [...a.values()].map((r) => r.type);
    for (const t of [T.instance, "aws:ec2/networkInterface:NetworkInterface", T.eip, "aws:ec2/volumeAttachment:VolumeAttachment"]) {
      assert.ok(!types.includes(t), `no ${t}`);
    }
    for (const g of [...a.values()].filter((r) => r.type === T.group)) {
      assert.deepEqual([g.inputs.minSize, g.inputs.maxSize, g.inputs.desiredCapacity], [1, 1, 1], g.name);
      assert.equal(g.inputs.vpcZoneIdentifiers.length, 1, `${g.name}: one subnet, the host's zone`);
      assert.equal(g.inputs.instanceRefresh, undefined, `${g.name}: Pulumi never replaces instances itself`);
    }
  });

  it("a new AMI: every launch template and group updates in place, every revision changes, nothing is replaced", async () => {
    const { a, b, steps } = await change("d1", { ...base, amiId: "ami-0old" }, { ...base, amiId: "ami-0new" });
    assertNothingReplaced(steps);
    assert.deepEqual(withStep(steps, T.launchTemplate, "update").length, 6);
    assert.ok(withStep(steps, T.launchTemplate, "update").every((n) => steps.get(`${T.launchTemplate} ${n}`)!.changed.includes("imageId")));
    assert.equal(withStep(steps, T.group, "update").length, 6, "each group follows its template's new version");
    assert.deepEqual(withStep(steps, T.volume, "update"), []);
    assert.deepEqual(changedRevisions(a, b, "d1"), [...ETCD, ...PG].sort());
  });

  it("a new instance type for the nodes: only the nodes' templates and revisions change", async () => {
    const { a, b, steps } = await change("d2", base, { ...base, instanceType: "m7i.xlarge" });
    assertNothingReplaced(steps);
    assert.deepEqual(
      withStep(steps, T.launchTemplate, "update"),
      PG.map((h) => `d2-${h}-lt`),
    );
    assert.deepEqual(changedRevisions(a, b, "d2"), PG);
  });

  it("a user-data change (Session Manager off): templates change in place, revisions change, volumes and IPs stay", async () => {
    const { a, b, steps } = await change("d3", base, { ...base, sessionManager: false });
    assertNothingReplaced(steps);
    for (const n of withStep(steps, T.launchTemplate, "update"))
      assert.ok(steps.get(`${T.launchTemplate} ${n}`)!.changed.includes("userData"));
    assert.deepEqual(withStep(steps, T.reservation, "update"), []);
    assert.deepEqual(changedRevisions(a, b, "d3"), [...ETCD, ...PG].sort());
  });

  it("a larger data volume with more IOPS: the volumes modify in place, the nodes' revisions change (the file system grows at boot)", async () => {
    const first = { ...base, dataVolume: { sizeGiB: 100, type: "gp3" as const, iops: 3000 } };
    const { a, b, steps } = await change("d4", first, { ...base, dataVolume: { sizeGiB: 200, type: "gp3" as const, iops: 6000 } });
    assertNothingReplaced(steps);
    assert.deepEqual(
      withStep(steps, T.volume, "update"),
      PG.map((h) => `d4-${h}-data`),
    );
    for (const n of withStep(steps, T.volume, "update")) assert.deepEqual(steps.get(`${T.volume} ${n}`)!.changed, ["iops", "size"]);
    assert.deepEqual(changedRevisions(a, b, "d4"), PG);
  });

  it("a new KMS key replaces no volume (ignored after creation) — the one force-new change a user can make", async () => {
    const { steps } = await change("d5", base, { ...base, kmsKeyId: "key-new" });
    assert.deepEqual(withStep(steps, T.volume, "replace"), []);
    assert.deepEqual(withStep(steps, T.volume, "delete"), []);
  });

  it("nodeCount 3 → 5 → 3: exactly pg-3 and pg-4 come and go; the others' templates, revisions, IPs and volumes stay", async () => {
    const a = await up("d6", base);
    const b = await up("d6", { ...base, nodeCount: 5 });
    const c = await up("d6", base);
    const grow = plan(a, b, IGNORED);
    const shrink = plan(b, c, IGNORED);
    assertNothingReplaced(grow);
    for (const t of [T.group, T.launchTemplate, T.volume, T.reservation]) {
      const created = withStep(grow, t, "create");
      assert.equal(created.length, 2, `${t}: ${created.join(", ")}`);
      assert.ok(
        created.every((n) => /d6-pg-[34]-/.test(n)),
        created.join(", "),
      );
      assert.deepEqual(withStep(shrink, t, "delete"), created, `${t}: the same two go`);
    }
    for (const t of [T.launchTemplate, T.group, T.volume, T.reservation])
      assert.deepEqual(withStep(grow, t, "update"), [], `${t}: survivors untouched`);
    assert.deepEqual(changedRevisions(a, b, "d6"), [], "scaling changes no surviving host's revision");
    assert.deepEqual(
      topologyOf(b, "d6").nodes.map((n: { name: string }) => n.name),
      ["pg-0", "pg-1", "pg-2", "pg-3", "pg-4"],
    );
    assert.deepEqual(topologyOf(c, "d6"), topologyOf(a, "d6"), "back to 3: the same topology");
  });

  it("etcd.members 3 → 5: two etcd hosts join; the bootstrap members stay etcd-0..2; no surviving host changes", async () => {
    const { a, b, steps } = await change("d7", base, { ...base, etcd: { members: 5 } });
    assertNothingReplaced(steps);
    assert.deepEqual(withStep(steps, T.group, "create"), ["d7-etcd-3-asg", "d7-etcd-4-asg"]);
    assert.deepEqual(withStep(steps, T.launchTemplate, "update"), []);
    assert.deepEqual(changedRevisions(a, b, "d7"), []);
    assert.deepEqual(topologyOf(b, "d7").etcdInitialMembers, ETCD);
    assert.deepEqual(topologyOf(a, "d7").etcdInitialMembers, ETCD);
  });

  it("colocated etcd 3 → 5 members on 5 nodes: the etcd list grows, bootstrap members and survivors' revisions stay", async () => {
    const first = { ...base, nodeCount: 5, etcd: { placement: "colocated" as const, members: 3 } };
    const { a, b } = await change("d8", first, { ...first, etcd: { placement: "colocated" as const, members: 5 } });
    assert.deepEqual(
      topologyOf(b, "d8").etcd.map((m: { name: string }) => m.name),
      ["pg-0", "pg-1", "pg-2", "pg-3", "pg-4"],
    );
    assert.deepEqual(topologyOf(b, "d8").etcdInitialMembers, PG);
    // pg-3 and pg-4 now run etcd: their user-data (etcd units) and so their revisions change; pg-0..2 stay.
    assert.deepEqual(changedRevisions(a, b, "d8"), ["pg-3", "pg-4"]);
  });

  it("no host boots before its permissions exist: every group waits for the node, claim and replace policies (defect 13)", async () => {
    const c = childCollector();
    const deps = new Map<string, unknown>();
    const capture: pulumi.ResourceTransformation = (a) => {
      if (a.type === T.group) deps.set(a.name, a.opts.dependsOn);
      return undefined;
    };
    const cluster = new HaPostgresCluster("d10", base, { transformations: [...(c.opts.transformations ?? []), capture] });
    await c.settle();
    await valueOf(cluster.topologyParameterName);
    const nameOf = new Map(c.children.map((x) => [x.resource, x.name]));
    assert.equal(deps.size, 6);
    for (const [group, d] of deps) {
      const resolved = await (
        pulumi.output(d as pulumi.Input<pulumi.Resource[]>) as unknown as { promise(): Promise<pulumi.Resource[]> }
      ).promise();
      const names = resolved.map((r) => nameOf.get(r));
      for (const p of ["d10-node-policy", "d10-claim-policy", "d10-replace-policy", "d10-node-profile", "d10-topology"]) {
        assert.ok(names.includes(p), `${group} waits for ${p}`);
      }
      assert.ok(
        names.includes(group.replace(/-asg$/, "-data")) && names.includes(group.replace(/-asg$/, "-ip")),
        `${group} waits for its volume and fixed IP`,
      );
    }
  });

  it("the user-data carries the host's own revision, the one the topology publishes", async () => {
    const a = await up("d9", base);
    const t = topologyOf(a, "d9");
    for (const h of [...t.nodes, ...t.etcd]) {
      const lt = a.get(`${T.launchTemplate} d9-${h.name}-lt`)!;
      const ud = decodeUserData(lt.inputs.userData as string);
      const doc = parseYaml(ud) as { write_files: Array<{ path: string; content: string }> };
      const plan = JSON.parse(doc.write_files.find((f) => f.path === "/etc/hapg/node-init.json")!.content);
      assert.deepEqual(plan.host, { name: h.name, revision: h.revision }, `${h.name} boots knowing revision ${h.revision}`);
      assert.equal(plan.topology.ssmParameter, "/ha-postgres/orders/topology");
    }
    assert.ok(recorded.length > 0);
  });
});
