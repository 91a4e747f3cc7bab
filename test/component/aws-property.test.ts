/**
 * Property: every argument combination the validation accepts deploys under the mocks without a
 * refusal from AWS's rules (./aws-rules.ts), and every combination it refuses is refused before any
 * resource exists, each problem naming the argument and the fix. Bounded (fast-check, 25 runs).
 */
// Mocks first: they must be in place before the component module is loaded.
import { childCollector, recordedUnder, takeViolations, valueOf } from "./mocks";
import * as assert from "node:assert/strict";
import fc from "fast-check";
import { ClusterArgsError, HaPostgresCluster, HaPostgresClusterArgs } from "../../lib";
import { validateClusterArgs } from "../../lib/args/validate";
import { INSTANCE_TYPES } from "./aws-rules";

const types = Object.keys(INSTANCE_TYPES);
/** Mostly a Nitro type of the architecture (accepted), sometimes any type (Xen, the other architecture: refused). */
const typeFor = (arch: string) =>
  fc.oneof(
    {
      weight: 5,
      arbitrary: fc.constantFrom(...types.filter((t) => INSTANCE_TYPES[t].arch === arch && INSTANCE_TYPES[t].hypervisor === "nitro")),
    },
    { weight: 1, arbitrary: fc.constantFrom(...types) },
  );
const label = (min: number, max: number) =>
  fc.stringMatching(new RegExp(`^[a-z][a-z0-9-]{${min - 1},${max - 1}}$`)).filter((s) => !s.endsWith("-") && !s.includes("--"));

/** A network and the egress modes it supports (the default VPC routes to an internet gateway, vpc-existing to a NAT). */
const network = fc.constantFrom<Partial<HaPostgresClusterArgs>>(
  {},
  { subnetIds: ["subnet-a", "subnet-a2", "subnet-b"] },
  { subnetIds: ["subnet-a", "subnet-b", "subnet-e"], egress: "publicIp" },
  { subnetIds: ["subnet-x1", "subnet-x2", "subnet-x3"], egress: "nat" },
  { subnetIds: ["subnet-p1", "subnet-p2", "subnet-p3"], egress: "endpoints", amiId: "ami-custom" },
);

const args: fc.Arbitrary<HaPostgresClusterArgs> = fc
  .record(
    {
      clusterName: label(1, 40),
      nodeCount: fc.integer({ min: 2, max: 9 }),
      etcd: fc.record({
        members: fc.constantFrom(3, 5),
        placement: fc.constantFrom("dedicated", "colocated") as fc.Arbitrary<"dedicated" | "colocated">,
      }),
      routing: fc.constantFrom("haproxy", "direct") as fc.Arbitrary<"haproxy" | "direct">,
      publicLoadBalancer: fc.boolean(),
      ssmParameterPrefix: fc.array(label(1, 60), { minLength: 1, maxLength: 14 }).map((l) => `/${l.join("/")}`),
      postgres: fc.record({
        version: fc.oneof({ weight: 6, arbitrary: fc.constant(17) }, { weight: 1, arbitrary: fc.constant(16) }),
        parameters: fc.dictionary(
          label(1, 40).map((k) => `hapg.${k.replace(/-/g, "_")}`),
          label(1, 60),
          { maxKeys: 120 },
        ),
      }),
      backup: fc.oneof(
        fc.constant({}),
        fc.constant({ enabled: false }),
        fc.constantFrom({ bucketName: "shared-backups-eu-west-1" }, { bucketName: `b${"x".repeat(50)}-ap-southeast-4` }),
      ),
      bootstrap: fc.oneof(
        fc.constant(undefined),
        fc.record({ fromBackup: fc.record({ clusterName: label(1, 40), bucketName: fc.constant("acme-pg-backups-eu-west-1") }) }),
      ),
    },
    { requiredKeys: ["clusterName"] },
  )
  .chain((a) =>
    fc
      .tuple(network, fc.constantFrom("x86_64", "arm64") as fc.Arbitrary<"x86_64" | "arm64">)
      .chain(([n, architecture]) =>
        fc
          .tuple(typeFor(architecture), typeFor(architecture))
          .map(
            ([instanceType, etcdType]) =>
              ({ ...a, ...n, architecture, instanceType, etcd: { ...a.etcd, instanceType: etcdType } }) as HaPostgresClusterArgs,
          ),
      ),
  );

let run = 0;
let deployed = 0;

async function deploys(name: string, a: HaPostgresClusterArgs): Promise<void> {
  const c = childCollector();
  const cluster = new HaPostgresCluster(name, a, c.opts);
  const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error(`${name} did not settle: a deploy-time failure?`)), 30_000));
  await Promise.race([Promise.all([c.settle(), valueOf(cluster.nodePrivateIps)]), timeout]);
}

describe("property: accepted arguments satisfy AWS's rules, refused ones create nothing", function () {
  this.timeout(600_000);

  it("holds for 25 generated argument sets", async () => {
    await fc.assert(
      fc.asyncProperty(args, async (a) => {
        const name = `p${run++}`;
        let accepted = true;
        try {
          validateClusterArgs(name, a);
        } catch (e) {
          assert.ok(e instanceof ClusterArgsError, String(e));
          accepted = false;
          for (const p of e.problems) assert.match(p, /^[A-Za-z][\w.[\]]*: .+: .+/, `names the argument and the fix: ${p}`);
          assert.throws(() => new HaPostgresCluster(name, a), ClusterArgsError);
          assert.equal(recordedUnder(name).length, 0, "a refused cluster declares nothing");
        }
        if (accepted) {
          await deploys(name, a);
          deployed++;
          assert.deepEqual(
            takeViolations(name).map((v) => `${v.name}: ${v.message}`),
            [],
            `AWS accepts every resource of ${JSON.stringify(a)}`,
          );
        }
      }),
      { numRuns: 25, seed: Number(process.env.PROPERTY_SEED ?? 16), endOnFailure: true },
    );
    // Not vacuous: most generated sets are accepted and deployed.
    assert.ok(deployed >= 10, `${deployed} of 25 deployed`);
  });
});
