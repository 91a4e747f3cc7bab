/**
 * The operator CLI's default config (/etc/hapg/cli.json on a node): which file is used, and a bad
 * file refused naming the field, before anything is contacted.
 */
import * as assert from "node:assert/strict";
import { CLI_CONFIG_ENV, DEFAULT_CLI_CONFIG, defaultCliConfigFile, parseCliConfig } from "../../sidecar/contract/cli-config";
import { sourceFromFlags } from "../../sidecar/cli/ops-source";

describe("operator CLI config (cli.json)", () => {
  it("uses $HAPG_CLI_CONFIG (which must exist), else /etc/hapg/cli.json when present, else none", () => {
    const has =
      (...files: string[]) =>
      (f: string) =>
        files.includes(f);
    assert.equal(defaultCliConfigFile({ [CLI_CONFIG_ENV]: "/x/cli.json" }, has("/x/cli.json", DEFAULT_CLI_CONFIG)), "/x/cli.json");
    assert.throws(() => defaultCliConfigFile({ [CLI_CONFIG_ENV]: "/nope.json" }, has()), /HAPG_CLI_CONFIG=\/nope\.json: no such file/);
    assert.equal(defaultCliConfigFile({}, has(DEFAULT_CLI_CONFIG)), DEFAULT_CLI_CONFIG);
    assert.equal(defaultCliConfigFile({}, has()), undefined);
  });

  it("accepts what a node's user-data writes, with the API user's default", () => {
    const c = parseCliConfig("f", { cluster: "orders", api: { urls: ["https://10.0.1.10:8008"], caFile: "/etc/ca.crt" } });
    assert.equal(c.api.username, "hapg");
  });

  it("refuses a bad file naming the field and the fix", () => {
    const bad = (raw: unknown) => () => parseCliConfig("/etc/hapg/cli.json", raw);
    assert.throws(bad({ cluster: "c", api: { urls: [] } }), /cli\.json: invalid CLI config: api\.urls: list at least one member's API URL/);
    assert.throws(bad({ cluster: "c", api: { urls: ["https://h:8008"], caFile: "ca.crt" } }), /api\.caFile: must be the absolute path/);
    assert.throws(bad({ cluster: "c", api: { urls: ["https://h:8008"] }, extra: 1 }), /\(top level\): .*extra/);
    assert.throws(bad({ api: { urls: ["https://h:8008"] } }), /cluster: /);
  });

  it("an https --api with --cacert names an unreadable CA file before contacting anything", () => {
    assert.throws(
      () => sourceFromFlags({ api: "https://127.0.0.1:1", cacert: "/nonexistent/ca.crt" }),
      /--cacert \/nonexistent\/ca\.crt: cannot read it/,
    );
  });
});
