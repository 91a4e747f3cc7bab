/**
 * The agent config's `topology` source and the topology document: bad input is refused naming the
 * field; a good document reads the same from a file as the component publishes it to SSM.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { validateAgentConfig } from "../../sidecar/config/schema";
import { agentConfig } from "../../sidecar/local/agents";
import { computeLayout, DEFAULTS } from "../../sidecar/local/layout";
import { parseTopology, topologySource } from "../../sidecar/topology/source";

const topology = {
  version: 1,
  nodes: [{ name: "pg-0", ip: "10.0.1.10", revision: "aaaa" }],
  etcd: [{ name: "pg-0", ip: "10.0.1.10", revision: "aaaa" }],
  etcdInitialMembers: ["pg-0"],
};

describe("topology source", () => {
  const l = computeLayout({ ...DEFAULTS, dir: "/tmp/hapg-x" });
  const base = () => agentConfig(l, l.nodes[0], DEFAULTS);

  it("agent config: accepts a file or an SSM parameter, with the interval defaulted", () => {
    assert.deepEqual(validateAgentConfig({ ...base(), topology: { file: "/x/topology.json" } }).topology, {
      file: "/x/topology.json",
      intervalSeconds: 30,
    });
    const ssm = validateAgentConfig({ ...base(), topology: { ssmParameter: "/hapg/main/topology", intervalSeconds: 60 } });
    assert.equal(ssm.topology?.ssmParameter, "/hapg/main/topology");
    assert.equal(validateAgentConfig(base()).topology, undefined);
  });

  const bad: [string, unknown, RegExp][] = [
    ["both sources", { file: "/a.json", ssmParameter: "/a" }, /set exactly one of topology\.file or topology\.ssmParameter/],
    ["a relative file", { file: "a.json" }, /topology\.file: must be an absolute path/],
    ["an SSM name without a slash", { ssmParameter: "topology" }, /topology\.ssmParameter: must be an SSM parameter name such as/],
    ["an unknown field", { file: "/a.json", every: 3 }, /topology: unknown field/],
  ];
  for (const [what, value, message] of bad) {
    it(`agent config: refuses a topology source with ${what}`, () => {
      assert.throws(() => validateAgentConfig({ ...base(), topology: value }), message);
    });
  }

  it("reads and validates the document from its file", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hapg-topo-"));
    try {
      const f = path.join(dir, "topology.json");
      fs.writeFileSync(f, JSON.stringify(topology));
      assert.deepEqual(await topologySource({ file: f })!.read(), topology);
      fs.writeFileSync(f, JSON.stringify({ ...topology, nodes: [{ name: "PG 0", ip: "10.0.1.10", revision: "a" }] }));
      await assert.rejects(topologySource({ file: f })!.read(), /not a topology: nodes\.0\.name: must be a host name/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses malformed JSON and a wrong version naming the source", () => {
    assert.throws(() => parseTopology("{", "file:/t.json"), /file:\/t\.json: not valid JSON/);
    assert.throws(
      () => parseTopology(JSON.stringify({ ...topology, version: 2 }), "ssm:/t"),
      /ssm:\/t: not a topology: version: must be 1/,
    );
  });
});
