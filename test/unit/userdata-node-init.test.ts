/**
 * node-init (sidecar/boot): the boot step the user-data runs. Fake SSM, real files in a temp dir:
 * modes, contents, the agent config validated before anything is written, errors without secrets,
 * and the plan the component renders is one node-init accepts.
 */
import * as assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HA_DEFAULTS } from "../../sidecar/contract/settings/schema";
import { hostSpecs } from "../../lib/userdata/hosts";
import { renderNodeInitPlan } from "../../lib/userdata/render";
import { nodeInit, NodeInitDeps, parseNodeInitPlan, parsePasswd, runNodeInit } from "../../sidecar/boot/node-init";
import { validateAgentConfig } from "../../sidecar/contract/agent-config";

const SECRET = "s3cr3t-Value_xyz";

function fakeDeps(values: Record<string, string>, reads: string[] = []): NodeInitDeps {
  return {
    async readParameter(name) {
      reads.push(name);
      if (!(name in values)) throw new Error(`ParameterNotFound: ${name}`);
      return values[name];
    },
    lookupUser: () => undefined,
    log: () => undefined,
  };
}

function agentConfig(dir: string) {
  return {
    cluster: "orders",
    name: "pg-0",
    etcd: { endpoints: ["https://10.0.1.10:2379"] },
    postgres: {
      dataDir: "/srv/hapg/postgres/data",
      listen: { host: "0.0.0.0" },
      superuser: { passwordFile: join(dir, "su") },
      replication: { passwordFile: join(dir, "repl") },
    },
    api: { listen: { host: "0.0.0.0" } },
  };
}

describe("node-init", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "hapg-node-init-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("writes secrets 0600 and certificates 0644 from SSM, then the agent config 0600", async () => {
    const reads: string[] = [];
    const plan = parseNodeInitPlan({
      version: 1,
      files: [
        { parameter: "/p/su", path: join(dir, "secrets/su"), owner: "postgres", mode: "0600" },
        { parameter: "/p/repl", path: join(dir, "secrets/repl"), owner: "postgres", mode: "0600" },
        { parameter: "/p/ca", path: join(dir, "tls/pg/ca.crt"), owner: "postgres", mode: "0644" },
        { parameter: "/p/ca", path: join(dir, "tls/etcd/ca.crt"), owner: "etcd", mode: "0644" },
      ],
      agentConfig: { path: join(dir, "agent.json"), owner: "postgres", mode: "0600", config: agentConfig(dir) },
    });
    const r = await nodeInit(
      plan,
      fakeDeps({ "/p/su": SECRET, "/p/repl": "r3pl", "/p/ca": "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n" }, reads),
    );
    assert.equal(r.written.length, 5);
    assert.deepEqual(reads, ["/p/su", "/p/repl", "/p/ca"], "each parameter is read once");
    assert.equal(readFileSync(join(dir, "secrets/su"), "utf8"), `${SECRET}\n`);
    assert.equal(statSync(join(dir, "secrets/su")).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, "tls/etcd/ca.crt")).mode & 0o777, 0o644);
    assert.equal(statSync(join(dir, "agent.json")).mode & 0o777, 0o600);
    const written = JSON.parse(readFileSync(join(dir, "agent.json"), "utf8"));
    assert.equal(validateAgentConfig(written).name, "pg-0");
  });

  it("reads a parameter in the region its entry names (a restore source's passphrase), the others in the plan's", async () => {
    const reads: string[] = [];
    const deps = fakeDeps({ "/src/pass": SECRET, "/p/su": "x" });
    const read = deps.readParameter;
    deps.readParameter = (name, region) => (reads.push(`${region} ${name}`), read(name, region));
    const plan = parseNodeInitPlan({
      version: 1,
      region: "us-east-1",
      files: [
        { parameter: "/p/su", path: join(dir, "su"), owner: "postgres", mode: "0600" },
        { parameter: "/src/pass", path: join(dir, "src-pass"), owner: "postgres", mode: "0600", region: "eu-west-1" },
      ],
    });
    await nodeInit(plan, deps);
    assert.deepEqual(reads, ["us-east-1 /p/su", "eu-west-1 /src/pass"]);
    assert.equal(statSync(join(dir, "src-pass")).mode & 0o777, 0o600);
    assert.equal(readFileSync(join(dir, "src-pass"), "utf8"), `${SECRET}\n`);
  });

  it("writes nothing when the agent config is invalid, and names the field", async () => {
    const bad = { ...agentConfig(dir), ttl: 1 };
    const plan = parseNodeInitPlan({
      version: 1,
      files: [{ parameter: "/p/su", path: join(dir, "su"), owner: "postgres", mode: "0600" }],
      agentConfig: { path: join(dir, "agent.json"), owner: "postgres", mode: "0600", config: bad },
    });
    await assert.rejects(nodeInit(plan, fakeDeps({ "/p/su": SECRET })), /ttl/);
    assert.ok(!existsSync(join(dir, "su")) && !existsSync(join(dir, "agent.json")));
  });

  it("fails on a missing or empty parameter without writing a partial set or echoing values", async () => {
    const plan = parseNodeInitPlan({
      version: 1,
      files: [
        { parameter: "/p/su", path: join(dir, "su"), owner: "postgres", mode: "0600" },
        { parameter: "/p/missing", path: join(dir, "missing"), owner: "postgres", mode: "0600" },
      ],
    });
    await assert.rejects(nodeInit(plan, fakeDeps({ "/p/su": SECRET })), (e: Error) => {
      assert.match(e.message, /\/p\/missing/);
      assert.ok(!e.message.includes(SECRET));
      return true;
    });
    assert.ok(!existsSync(join(dir, "su")), "all parameters are fetched before the first write");
    const empty = parseNodeInitPlan({ version: 1, files: [{ parameter: "/p/e", path: join(dir, "e"), owner: "postgres", mode: "0600" }] });
    await assert.rejects(nodeInit(empty, fakeDeps({ "/p/e": "" })), /SSM parameter \/p\/e: is empty/);
  });

  it("rejects a bad plan, naming the field", () => {
    assert.throws(() => parseNodeInitPlan({ version: 2 }), /version: must be 1/);
    assert.throws(
      () => parseNodeInitPlan({ version: 1, files: [{ parameter: "p", path: "rel", owner: "postgres", mode: "600" }] }),
      (e: Error) => {
        assert.match(e.message, /files\.0\.parameter/);
        assert.match(e.message, /files\.0\.path: must be an absolute path/);
        assert.match(e.message, /files\.0\.mode: must be an octal mode/);
        return true;
      },
    );
  });

  it("runNodeInit reads the plan file", async () => {
    const planFile = join(dir, "plan.json");
    writeFileSync(
      planFile,
      JSON.stringify({ version: 1, files: [{ parameter: "/p/x", path: join(dir, "x"), owner: "postgres", mode: "0600" }] }),
    );
    await runNodeInit(planFile, fakeDeps({ "/p/x": "v" }));
    assert.equal(readFileSync(join(dir, "x"), "utf8"), "v\n");
    await assert.rejects(runNodeInit(join(dir, "nope.json"), fakeDeps({})), /cannot read the node-init plan/);
  });

  it("parses /etc/passwd", () => {
    const passwd = "root:x:0:0:root:/root:/bin/bash\npostgres:x:105:110:PostgreSQL:/var/lib/postgresql:/bin/bash\n";
    assert.deepEqual(parsePasswd(passwd, "postgres"), { uid: 105, gid: 110 });
    assert.equal(parsePasswd(passwd, "etcd"), undefined);
  });

  it("accepts the plan the component renders for every host kind", () => {
    const specs = hostSpecs({
      clusterName: "orders",
      ssmParameterPrefix: "/ha-postgres",
      architecture: "x86_64",
      sessionManager: true,
      bundle: { bucket: "b", key: "k" },
      nodes: [
        { name: "pg-0", privateIp: "10.0.0.1" },
        { name: "pg-1", privateIp: "10.0.0.2" },
        { name: "pg-2", privateIp: "10.0.0.3" },
      ],
      etcdMembers: [
        { name: "pg-0", privateIp: "10.0.0.1" },
        { name: "pg-1", privateIp: "10.0.0.2" },
        { name: "pg-2", privateIp: "10.0.0.3" },
      ],
      etcdPlacement: "colocated",
      volumeIds: { "pg-0": "vol-1", "pg-1": "vol-2", "pg-2": "vol-3" },
      postgres: { version: 17, allowedCidrs: ["10.0.0.0/16"], settings: HA_DEFAULTS, routing: "haproxy" },
    });
    for (const s of specs) {
      const plan = parseNodeInitPlan(renderNodeInitPlan(s));
      assert.ok(
        plan.files.every((f) => f.mode === "0600" || f.path.endsWith(".crt")),
        "only certificates are not 0600",
      );
      assert.ok(plan.agentConfig);
      validateAgentConfig(plan.agentConfig.config);
    }
  });
});
