/**
 * Bad input for the desired dynamic configuration: `hapg local up --desired-config FILE` and the
 * agent config's `desiredConfig` are refused naming the flag or field, before anything starts.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ConfigError, validateAgentConfig } from "../../sidecar/contract/agent-config";
import { agentConfig } from "../../local/agents";
import { readDesiredConfigFlag } from "../../local/desired";
import { computeLayout, DEFAULTS } from "../../local/layout";
import { parseDesired } from "../../sidecar/dynamic/source";

describe("desired dynamic config: bad input", () => {
  let tmp: string;
  before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), "hapg-desired-"))));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const file = (name: string, text: string) => {
    const f = path.join(tmp, name);
    fs.writeFileSync(f, text);
    return f;
  };

  it("accepts a YAML or JSON document the schema accepts", () => {
    assert.deepEqual(
      readDesiredConfigFlag(file("ok.yaml", "loop_wait: 0.5\npostgresql:\n  parameters:\n    work_mem: 8MB\n"), DEFAULTS).doc,
      {
        loop_wait: 0.5,
        postgresql: { parameters: { work_mem: "8MB" } },
      },
    );
  });

  const cases: [string, string | undefined, RegExp][] = [
    ["a missing file", undefined, /--desired-config: cannot read .*missing\.json/],
    ["a list", "[1, 2]", /--desired-config: .* must hold an object/],
    ["malformed YAML", "a: [1,", /--desired-config: cannot read/],
    ["a controlled parameter", '{"postgresql": {"parameters": {"port": 1}}}', /postgresql\.parameters\.port: set by the agent/],
    ["a ttl etcd cannot grant", '{"ttl": 1}', /ttl: .*smallest useful lease/],
    ["pause (an operator's switch)", '{"pause": true}', /pause: maintenance mode is an operator's switch/],
    ["an unknown key", '{"loopwait": 1}', /loopwait: unknown key/],
  ];
  for (const [what, text, message] of cases) {
    it(`refuses ${what}, naming --desired-config`, () => {
      const f = text === undefined ? path.join(tmp, "missing.json") : file(`${what.replace(/\W+/g, "-")}.json`, text);
      const r = readDesiredConfigFlag(f, DEFAULTS);
      assert.equal(r.doc, undefined);
      assert.match(r.problem!, message);
      assert.match(r.problem!, /^--desired-config: /);
    });
  }

  it("the local agents read DIR/desired-config.json every second when a desired config is given", () => {
    const l = computeLayout({ ...DEFAULTS, dir: "/tmp/hapg-x" });
    const c = validateAgentConfig(agentConfig(l, l.nodes[0], { ...DEFAULTS, desiredConfig: "/somewhere/desired.yaml" }));
    assert.deepEqual(c.desiredConfig, { file: "/tmp/hapg-x/desired-config.json", intervalSeconds: 1 });
    assert.equal(validateAgentConfig(agentConfig(l, l.nodes[0], DEFAULTS)).desiredConfig, undefined);
  });

  const agentCases: [string, unknown, RegExp][] = [
    [
      "both a file and an SSM parameter",
      { file: "/a.json", ssmParameter: "/p" },
      /set exactly one of desiredConfig\.file or desiredConfig\.ssmParameter/,
    ],
    ["neither", {}, /set exactly one/],
    ["a relative file", { file: "a.json" }, /desiredConfig\.file: must be an absolute path/],
    ["an SSM name without a slash", { ssmParameter: "dynamic-config" }, /desiredConfig\.ssmParameter: must be an SSM parameter name/],
    ["a zero interval", { file: "/a.json", intervalSeconds: 0 }, /desiredConfig\.intervalSeconds: must be a number of seconds above 0/],
  ];
  for (const [what, desiredConfig, message] of agentCases) {
    it(`agent config: refuses desiredConfig with ${what}`, () => {
      const l = computeLayout({ ...DEFAULTS, dir: "/tmp/hapg-x" });
      const input = { ...agentConfig(l, l.nodes[0], DEFAULTS), desiredConfig };
      assert.throws(
        () => validateAgentConfig(input),
        (e: unknown) => e instanceof ConfigError && e.problems.some((p) => message.test(p)),
      );
    });
  }

  it("a desired document that is not an object is refused naming its source", async () => {
    await assert.rejects(parseDesired("[1]", "ssm:/x"), /ssm:\/x: must be an object/);
    await assert.rejects(parseDesired("{", "ssm:/x"), /ssm:\/x: not valid JSON/);
    assert.deepEqual(await parseDesired("null", "ssm:/x"), {});
  });
});
