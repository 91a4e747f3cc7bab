/** The agent's config file: defaults, and bad input refused with the field and the fix named. */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadAgentConfig, readCredential } from "../../sidecar/config/load";
import { ConfigError, validateAgentConfig } from "../../sidecar/contract/agent-config";

const good = {
  cluster: "main",
  name: "node1",
  etcd: { endpoints: ["http://127.0.0.1:2379"] },
  postgres: {
    dataDir: "/var/lib/hapg/data",
    listen: { host: "127.0.0.1", port: 5432 },
    superuser: { passwordFile: "/etc/hapg/superuser" },
    replication: { passwordEnv: "REPL_PW" },
  },
  api: { listen: { host: "127.0.0.1" } },
};

function problems(raw: unknown): string[] {
  try {
    validateAgentConfig(raw);
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    return e.problems;
  }
  assert.fail("expected the config to be refused");
}

describe("agent config", () => {
  it("fills the documented defaults", () => {
    const c = validateAgentConfig(good);
    assert.equal(c.namespace, "service");
    assert.deepEqual([c.timing.ttl, c.timing.loopWait, c.timing.retryTimeout], [4, 1, 1.5]);
    assert.equal(c.synchronousMode, "quorum");
    assert.equal(c.postgres.usePgRewind, true);
    assert.equal(c.maximumLagOnFailover, 1048576);
    assert.equal(c.api.listen.port, 8008);
    assert.equal(c.postgres.superuser.username, "postgres");
    assert.equal(c.postgres.replication.username, "replicator");
    assert.deepEqual(c.tags, { nofailover: false, noloadbalance: false, failoverPriority: 1 });
    assert.deepEqual(
      c.watchdog,
      { mode: "automatic", device: "/dev/watchdog" },
      "safetyMargin defaults to half the fence margin (sidecar/contract/settings/timing.ts)",
    );
  });

  it("takes a watchdog safety margin that leaves the live leader time to fence first", () => {
    assert.equal(validateAgentConfig({ ...good, watchdog: { safetyMargin: 0.75 } }).watchdog.safetyMargin, 0.75);
    assert.equal(validateAgentConfig({ ...good, watchdog: { mode: "off", safetyMargin: 5 } }).watchdog.mode, "off", "not checked when off");
  });

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each row reaches into a different part of the config
  const bad: [string, (c: any) => void, RegExp][] = [
    ["missing name", (c) => delete c.name, /^name: is required/],
    [
      "etcd endpoint not a URL",
      (c) => (c.etcd.endpoints = ["127.0.0.1:2379"]),
      /^etcd\.endpoints\.0: must be an http:\/\/ or https:\/\/ URL/,
    ],
    ["no etcd endpoints", (c) => (c.etcd.endpoints = []), /^etcd\.endpoints: list at least one etcd client URL/],
    ["port out of range", (c) => (c.postgres.listen.port = 70000), /^postgres\.listen\.port:/],
    ["relative data dir", (c) => (c.postgres.dataDir = "data"), /^postgres\.dataDir: must be an absolute path/],
    [
      "both password sources",
      (c) => (c.postgres.superuser.passwordEnv = "X"),
      /^postgres\.superuser: set exactly one of passwordFile or passwordEnv/,
    ],
    [
      "API authentication without a password source",
      (c) => (c.api.authentication = { username: "hapg" }),
      /^api\.authentication: set exactly one of passwordFile or passwordEnv/,
    ],
    [
      "API authentication without a user",
      (c) => (c.api.authentication = { passwordFile: "/p" }),
      /^api\.authentication\.username: is required/,
    ],
    ["a typo'd field", (c) => (c.tags = { nofailvoer: true }), /^tags: unknown field\(s\) "nofailvoer": remove them or fix the spelling/],
    [
      "inconsistent timing",
      (c) => (c.timing = { ttl: 3, loopWait: 2, retryTimeout: 1 }),
      /^timing\.ttl: 3 s must be at least timing\.loopWait \+ 2 × timing\.retryTimeout \(4 s\)/,
    ],
    ["ttl below etcd's minimum", (c) => (c.timing = { ttl: 1 }), /^timing\.ttl: etcd's smallest useful lease is about 2 s/],
    ["ttl at top level (the former place)", (c) => (c.ttl = 4), /^ttl: unknown field: moved to timing\.ttl$/],
    [
      "a boolean synchronousMode (the former form)",
      (c) => (c.synchronousMode = true),
      /^synchronousMode: must be "off", "on", "strict" or "quorum" \(default\), not true: use "on"$/,
    ],
    ["bad CIDR", (c) => (c.postgres.allowedCidrs = ["10.0.0.0/33"]), /^postgres\.allowedCidrs\.0:/],
    [
      "synchronous_commit off in synchronous mode",
      (c) => Object.assign(c, { synchronousMode: "on", postgres: { ...c.postgres, parameters: { synchronous_commit: "off" } } }),
      /^postgres\.parameters\.synchronous_commit: "off" does not wait for the standby/,
    ],
    [
      "synchronousModeStrict (the former form)",
      (c) => (c.synchronousModeStrict = true),
      /^synchronousModeStrict: unknown field: .*set synchronousMode: "strict"$/,
    ],
    ["a parameter the agent sets", (c) => (c.postgres.parameters = { port: 5433 }), /^postgres\.parameters\.port: set by the agent/],
    ["etcd username without password", (c) => (c.etcd.username = "root"), /^etcd: etcd\.username and etcd\.passwordFile go together/],
    [
      "an unknown watchdog mode",
      (c) => (c.watchdog = { mode: "on" }),
      /^watchdog\.mode: must be "off", "automatic" \(default\) or "required"/,
    ],
    [
      "a relative watchdog device",
      (c) => (c.watchdog = { device: "watchdog" }),
      /^watchdog\.device: must be the absolute path of the device/,
    ],
    [
      "a watchdog safety margin the fence margin cannot hold",
      (c) => (c.watchdog = { safetyMargin: 1 }),
      /^watchdog\.safetyMargin: 1 s must be above 0 and at most 0\.75 s: .*set watchdog\.mode to off$/,
    ],
    [
      "a watchdog safety margin that leaves no timeout",
      (c) => (c.watchdog = { mode: "required", safetyMargin: 3 }),
      /^timing\.ttl: 4 s − watchdog\.safetyMargin \(3 s\) .* under 1 s/,
    ],
    [
      "a watchdog safety margin of 0",
      (c) => (c.watchdog = { safetyMargin: 0 }),
      /^watchdog\.safetyMargin: must be a number of seconds above 0/,
    ],
  ];
  for (const [name, mutate, expected] of bad) {
    it(`refuses ${name}, naming the field`, () => {
      const c = structuredClone(good);
      mutate(c);
      const p = problems(c);
      assert.ok(
        p.some((line) => expected.test(line)),
        `got: ${p.join(" | ")}`,
      );
    });
  }

  it("reads YAML and JSON files, and says which file is unreadable or malformed", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "hapg-config-"));
    try {
      const json = path.join(dir, "agent.json");
      writeFileSync(json, JSON.stringify(good));
      assert.equal(loadAgentConfig(json).name, "node1");
      const yaml = path.join(dir, "agent.yaml");
      writeFileSync(yaml, "cluster: main\nname: [unclosed\n");
      assert.throws(() => loadAgentConfig(yaml), /agent\.yaml: not valid YAML/);
      assert.throws(() => loadAgentConfig(path.join(dir, "missing.yaml")), /cannot read the config file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reads credentials from a file or the environment, and never puts the secret in an error", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "hapg-config-"));
    try {
      const f = path.join(dir, "pw");
      writeFileSync(f, "s3cret\n", { mode: 0o600 });
      assert.deepEqual(readCredential("postgres.superuser", { username: "postgres", passwordFile: f }), {
        username: "postgres",
        password: "s3cret",
      });
      assert.deepEqual(readCredential("postgres.replication", { username: "r", passwordEnv: "PW" }, { PW: "x" }), {
        username: "r",
        password: "x",
      });
      assert.throws(
        () => readCredential("postgres.replication", { username: "r", passwordEnv: "PW" }, {}),
        /postgres\.replication\.passwordEnv: environment variable PW is not set/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
