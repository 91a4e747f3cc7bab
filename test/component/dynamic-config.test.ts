/**
 * `pulumi up` with changed settings updates the running cluster without replacing a node: the
 * settings a running cluster may change (PostgreSQL parameters, timing, lag limit, synchronous mode)
 * reach the nodes through one non-secret SSM parameter the instance role may read, and are not in
 * the user-data. Two programs differing only in those settings declare the same resources with the
 * same inputs, except that parameter's value.
 */
import { Recorded } from "./mocks";
import { hostLaunchesIn } from "./hosts";
import { up } from "./second-up";
import * as assert from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import { HaPostgresClusterArgs } from "../../lib";
import { validateAgentConfig } from "../../sidecar/contract/agent-config";
import { effectiveSettings } from "../../sidecar/contract/settings/dynamic";
import { HA_DEFAULTS } from "../../sidecar/contract/settings/schema";

const PARAM = "aws:ssm/parameter:Parameter";

/**
 * Each resource by its name without the component's prefix, with its inputs as JSON: the prefix
 * removed, and the addresses the mocks hand out (from one counter) numbered in order of appearance.
 */
function byRole(name: string, resources: Recorded[]): Map<string, string> {
  const ips = new Map<string, string>();
  const ip = (a: string) => ips.get(a) ?? (ips.set(a, `IP${ips.size}`), ips.get(a)!);
  return new Map(
    resources.map((r) => [
      `${r.type} ${r.name.slice(name.length)}`,
      JSON.stringify(r.inputs)
        .replaceAll(name, "NAME")
        .replace(/\b(10\.0|203\.0\.113)\.\d+(\.\d+)?\b/g, ip),
    ]),
  );
}

describe("HaPostgresCluster (mocks): settings changed on a running cluster", function () {
  this.timeout(120_000);

  const first: HaPostgresClusterArgs = { clusterName: "orders", postgres: { parameters: { work_mem: "4MB" } } };
  const changed: HaPostgresClusterArgs = {
    clusterName: "orders",
    postgres: { parameters: { work_mem: "16MB", shared_buffers: "512MB" } },
    timing: { ttl: 6, loopWait: 2, retryTimeout: 1.5 },
    maximumLagOnFailover: 4 * 1024 * 1024,
    synchronousMode: "off",
  };
  let a: Map<string, string>;
  let b: Map<string, string>;
  let bResources: Recorded[];

  before(async () => {
    // The same program twice (same name, so the same URNs): the second \`pulumi up\` (./second-up.ts).
    a = byRole("dyn", [...(await up("dyn", first)).values()]);
    bResources = [...(await up("dyn", changed)).values()];
    b = byRole("dyn", bResources);
  });

  it("changes only the desired-config parameter's value: same resources, same user-data (no node is replaced)", () => {
    assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort(), "the same resources");
    const changed = [...a.keys()].filter((k) => a.get(k) !== b.get(k));
    assert.deepEqual(changed, [`${PARAM} -dynamic-config`]);
    const instances = [...a.keys()].filter((k) => k.startsWith("aws:ec2/launchTemplate:LaunchTemplate"));
    assert.equal(instances.length, 6);
    for (const k of instances) assert.equal(JSON.parse(a.get(k)!).userData, JSON.parse(b.get(k)!).userData, k);
  });

  it("publishes the settings as a String parameter in the config key's layout, which the agents' schema accepts", () => {
    const p = bResources.find((r) => r.type === PARAM && r.name === "dyn-dynamic-config")!;
    assert.equal(p.inputs.type, "String", "not secret: readable in the console, no KMS needed");
    assert.equal(p.inputs.name, "/ha-postgres/orders/agent/dynamic-config");
    const doc = JSON.parse(p.inputs.insecureValue);
    assert.deepEqual(doc, {
      ttl: 6,
      loop_wait: 2,
      retry_timeout: 1.5,
      maximum_lag_on_failover: 4194304,
      synchronous_mode: "off",
      synchronous_node_count: 1,
      failsafe_mode: true,
      postgresql: { parameters: { work_mem: "16MB", shared_buffers: "512MB" } },
    });
    const r = effectiveSettings(HA_DEFAULTS, doc);
    assert.ok(r.ok, JSON.stringify(r));
  });

  it("names that parameter in every node's agent config, and the instance role may read it", () => {
    const nodes = hostLaunchesIn(bResources).filter((r) => /-pg-\d$/.test(r.name));
    assert.equal(nodes.length, 3);
    for (const n of nodes) {
      const config = validateAgentConfig(agentConfigOf(n.inputs.userData));
      assert.equal(config.desiredConfig?.ssmParameter, "/ha-postgres/orders/agent/dynamic-config");
      assert.deepEqual(config.postgres.parameters.work_mem, undefined, "user parameters are not in the user-data");
    }
    const policy = bResources.find((r) => r.type === "aws:iam/rolePolicy:RolePolicy" && r.name.endsWith("-node-policy"))!;
    const read = JSON.parse(policy.inputs.policy).Statement.find((s: { Sid: string }) => s.Sid === "ReadClusterParameters");
    assert.ok(read.Resource.includes("arn:aws:ssm:us-east-1:123456789012:parameter/ha-postgres/orders/agent/dynamic-config"));
  });
});

/** The agent config out of a user-data document (cloud-config YAML with the node-init plan as a file). */
function agentConfigOf(userData: string): unknown {
  const doc = parseYaml(userData) as { write_files: Array<{ path: string; content: string }> };
  const file = doc.write_files.find((f) => f.path === "/etc/hapg/node-init.json")!;
  return (JSON.parse(file.content) as { agentConfig: { config: unknown } }).agentConfig.config;
}
