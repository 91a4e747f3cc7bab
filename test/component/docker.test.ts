/**
 * `HaPostgresDockerCluster` under `pulumi.runtime.setMocks`: the resource graph (types, counts, names,
 * parents), the containers' fixed addresses, volumes and commands, the files each gets (an agent
 * config the agent's own schema accepts, the routing config every AWS node gets), and the settings:
 * the same desired config as the AWS component's for the same args, and every setting the AWS
 * component refuses refused here with the same message.
 */
// Mocks first: they must be in place before the component module is loaded.
import { recorded, valueOf, Recorded } from "./mocks";
import { buildDocker, Built, D } from "./docker-build";
import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { HaPostgresCluster, HaPostgresClusterArgs, HaPostgresDockerCluster, ClusterArgsError } from "../../lib";
import { validateClusterArgs } from "../../lib/args/validate";
import { validateDockerArgs, HaPostgresDockerClusterArgs } from "../../lib/docker/args";
import { DOCKER_COMPONENT_TYPE } from "../../lib/docker/component";
import { dockerfilePath } from "../../lib/docker/context";
import { DESIRED_CONFIG_DIR, DESIRED_CONFIG_FILE, DESIRED_CONFIG_UPLOAD, HAPROXY_CONFIG_FILE } from "../../lib/docker/plan";
import { NODE_PATHS } from "../../lib/userdata/paths";
import { validateAgentConfig } from "../../sidecar/contract/agent-config";
import { renderRoutingConfig } from "../../sidecar/contract/haproxy-config";

const ofType = (b: Built, type: string) => b.resources.filter((r) => r.type === type);
const upload = (c: Recorded, path: string): string => {
  const u = (c.inputs.uploads as Array<{ file: string; content: string }>).find((x) => x.file === path);
  assert.ok(u, `${c.name} gets ${path}`);
  return u.content;
};

/** The problems of a refused args object (throws if it was accepted). */
function refusal(validate: () => unknown): string[] {
  try {
    validate();
  } catch (e) {
    assert.ok(e instanceof ClusterArgsError, String(e));
    return e.problems;
  }
  assert.fail("accepted");
}

describe("HaPostgresDockerCluster (mocks)", function () {
  this.timeout(60_000);
  let d: Built;
  before(async () => {
    d = await buildDocker("dock");
  });

  it("declares an image, a network, a volume and a container per node and etcd member, HAProxy and the config writer", () => {
    assert.equal(ofType(d, D.image).length, 1);
    assert.equal(ofType(d, D.network).length, 1);
    assert.deepEqual(
      ofType(d, D.volume)
        .map((v) => v.inputs.name)
        .sort(),
      ["dock-config", "dock-etcd-0-data", "dock-etcd-1-data", "dock-etcd-2-data", "dock-pg-0-data", "dock-pg-1-data", "dock-pg-2-data"],
    );
    assert.deepEqual(
      ofType(d, D.container)
        .map((c) => c.inputs.name)
        .sort(),
      ["dock-config", "dock-etcd-0", "dock-etcd-1", "dock-etcd-2", "dock-haproxy", "dock-pg-0", "dock-pg-1", "dock-pg-2"],
    );
    assert.equal(ofType(d, D.password).length, 3);
  });

  it("names every child ${name}-<role> and parents it to the component", () => {
    assert.ok(d.children.length >= 17);
    for (const c of d.children.filter((x) => x.resource !== d.cluster)) {
      assert.match(c.name, /^dock-/, c.name);
      assert.equal(c.parent, d.cluster, `${c.name} is parented to the component`);
    }
    assert.equal((d.cluster as unknown as { __pulumiType: string }).__pulumiType, DOCKER_COMPONENT_TYPE);
  });

  it("gives every container a fixed address in the subnet and each node and member its own volume on /srv/hapg", () => {
    const net = ofType(d, D.network)[0];
    assert.deepEqual(net.inputs.ipamConfigs, [{ subnet: "10.231.20.0/24", gateway: "10.231.20.1" }]);
    const addresses = ofType(d, D.container).map((c) => c.inputs.networksAdvanced[0].ipv4Address);
    assert.deepEqual(
      addresses.sort(),
      ["10.231.20.11", "10.231.20.12", "10.231.20.13", "10.231.20.2", "10.231.20.3", "10.231.20.21", "10.231.20.22", "10.231.20.23"].sort(),
    );
    for (const c of ofType(d, D.container).filter((x) => /-(pg|etcd)-/.test(x.inputs.name))) {
      assert.deepEqual(c.inputs.volumes[0], { volumeName: `${c.inputs.name}-data`, containerPath: NODE_PATHS.dataMount });
    }
  });

  it("starts etcd as a 3-member cluster on the fixed addresses", () => {
    const e = ofType(d, D.container).find((c) => c.inputs.name === "dock-etcd-1")!;
    assert.equal(e.inputs.user, "etcd");
    assert.ok(
      e.inputs.envs.includes(
        "ETCD_INITIAL_CLUSTER=etcd-0=http://10.231.20.11:2380,etcd-1=http://10.231.20.12:2380,etcd-2=http://10.231.20.13:2380",
      ),
    );
    assert.ok(e.inputs.envs.includes("ETCD_ADVERTISE_CLIENT_URLS=http://10.231.20.12:2379"));
  });

  it("gives each node an agent config the agent's schema accepts, on its own address, with every etcd member", () => {
    for (const [i, c] of ofType(d, D.container)
      .filter((x) => /pg-/.test(x.name))
      .entries()) {
      const config = validateAgentConfig(JSON.parse(upload(c, NODE_PATHS.agentConfig)));
      assert.equal(config.name, `pg-${i}`);
      assert.equal(config.cluster, "dock");
      assert.equal(config.postgres.connectAddress?.host, `10.231.20.${21 + i}`);
      assert.equal(config.etcd.endpoints.length, 3);
      assert.equal(config.desiredConfig?.file, DESIRED_CONFIG_FILE);
      assert.deepEqual(config.postgres.allowedCidrs, ["10.231.20.0/24"]);
      // The passwords are uploaded files, 0600 until the start script hands them to postgres.
      for (const f of [NODE_PATHS.superuserPasswordFile, NODE_PATHS.replicationPasswordFile, NODE_PATHS.apiPasswordFile]) {
        assert.match(upload(c, f), /^MOCKSECRET-password-/);
        assert.equal(c.inputs.uploads.find((u: { file: string }) => u.file === f).permissions, "0600");
      }
    }
  });

  it("publishes HAProxy's primary and replica listeners on 127.0.0.1:5432 and :5433, routed by the shared renderer", async () => {
    const h = ofType(d, D.container).find((c) => c.inputs.name === "dock-haproxy")!;
    assert.deepEqual(h.inputs.ports, [
      { internal: 5000, external: 5432, ip: "127.0.0.1" },
      { internal: 5001, external: 5433, ip: "127.0.0.1" },
    ]);
    const cfg = upload(h, HAPROXY_CONFIG_FILE);
    const servers = [0, 1, 2].map((i) => ({ name: `pg-${i}`, host: `10.231.20.${21 + i}`, pgPort: 5432, apiPort: 8008 }));
    assert.equal(
      cfg,
      renderRoutingConfig({
        header: "Written by HaPostgresDockerCluster dock.",
        bindHost: "*",
        primaryPort: 5000,
        replicaPort: 5001,
        servers,
      }),
    );
    assert.equal(await valueOf(d.cluster.primaryConnectionString), "postgresql://postgres@127.0.0.1:5432/postgres");
    assert.equal(await valueOf(d.cluster.replicaConnectionString), "postgresql://postgres@127.0.0.1:5433/postgres");
    assert.deepEqual(await valueOf(d.cluster.apiPasswordLocation), {
      containers: ["dock-pg-0", "dock-pg-1", "dock-pg-2"],
      file: NODE_PATHS.apiPasswordFile,
    });
  });

  it("builds the image from the repository's Dockerfile on the given base", async () => {
    const b = await buildDocker("dockb", {
      baseImage: "registry.example/debian:13",
      postgres: { version: 16 },
      nodeCount: 2,
      etcd: { members: 5 },
    });
    const img = ofType(b, D.image)[0];
    assert.equal(img.inputs.build.dockerfile, "Dockerfile");
    assert.equal(img.inputs.build.args.BASE_IMAGE, "registry.example/debian:13");
    assert.match(img.inputs.build.args.PACKAGES, /postgresql-16/);
    assert.equal(ofType(b, D.container).length, 2 + 5 + 1 + 1);
  });

  it("the Dockerfile takes every build arg the component passes, and prepares the data directories the nodes use", () => {
    const text = readFileSync(dockerfilePath(), "utf8");
    const img = ofType(d, D.image)[0];
    for (const arg of Object.keys(img.inputs.build.args)) assert.match(text, new RegExp(`^ARG ${arg}[=\\n]`, "m"), `ARG ${arg}`);
    for (const dir of [dirname(NODE_PATHS.pgData), dirname(NODE_PATHS.etcdData)]) assert.ok(text.includes(dir), dir);
    assert.ok(text.includes(`COPY start-agent.sh \${START_AGENT}`) && text.includes(`COPY app/ ${dirname(NODE_PATHS.appDir)}/app/`));
    assert.equal(NODE_PATHS.appDir, "/opt/hapg/app");
  });

  it("carries the HA settings as the AWS component does: the same desired config for the same args", async () => {
    const settings = {
      synchronousMode: "on",
      timing: { ttl: 10, loopWait: 2 },
      maximumLagOnFailover: 4096,
      postgres: { parameters: { work_mem: "8MB" } },
    } as const;
    const b = await buildDocker("docks", settings as HaPostgresDockerClusterArgs);
    const c = new HaPostgresCluster("awss", { ...(settings as HaPostgresClusterArgs), backup: { enabled: false } });
    await valueOf(c.primaryEndpoint);
    const param = recorded.find((r) => r.name === "awss-dynamic-config")!;
    const writer = ofType(b, D.container).find((x) => x.inputs.name === "docks-config")!;
    assert.deepEqual(JSON.parse(upload(writer, DESIRED_CONFIG_UPLOAD)), JSON.parse(param.inputs.insecureValue));
    assert.equal(JSON.parse(param.inputs.insecureValue).ttl, 10);
  });

  it("a changed setting changes only the config writer's file: no node, etcd or HAProxy container changes", async () => {
    const a = await buildDocker("chga", { postgres: { parameters: { work_mem: "4MB" } } });
    const b = await buildDocker("chgb", {
      postgres: { parameters: { work_mem: "16MB" } },
      timing: { ttl: 8, loopWait: 2 },
      synchronousMode: "off",
    });
    const same = (r: Recorded, name: string) => JSON.stringify(r.inputs).replaceAll(name, "NAME");
    const changed = a.resources
      .filter(
        (r) =>
          same(r, "chga") !==
          same(
            b.resources.find((x) => x.name === r.name.replace("chga", "chgb"))!,
            "chgb",
          ),
      )
      .map((r) => r.name);
    assert.deepEqual(changed, ["chga-config"]);
    // Every node reads the writer's volume, read-only, where its agent config points.
    for (const n of ofType(a, D.container).filter((x) => /-pg-/.test(x.name))) {
      assert.deepEqual(n.inputs.volumes[1], { volumeName: "chga-config", containerPath: DESIRED_CONFIG_DIR, readOnly: true });
      assert.ok(DESIRED_CONFIG_FILE.startsWith(`${DESIRED_CONFIG_DIR}/`));
    }
    assert.equal(ofType(a, D.container).find((x) => x.name === "chga-config")!.inputs.attach, true);
  });

  // Each refused by the AWS component; here with the same messages (only the component's name differs for unknown keys).
  const refused: Array<[string, object]> = [
    ["a lease shorter than the loop", { timing: { ttl: 3 } }],
    ["an unknown synchronous mode", { synchronousMode: "sometimes" }],
    ["a quorum above the replicas", { synchronousMode: "quorum", synchronousQuorum: 3 }],
    ["asynchronous commits with synchronous mode", { synchronousMode: "on", postgres: { parameters: { synchronous_commit: "local" } } }],
    ["a parameter the agent controls", { postgres: { parameters: { hot_standby: "off" } } }],
    ["a parameter the component sets", { postgres: { parameters: { ssl: "off" } } }],
    ["a negative lag limit", { maximumLagOnFailover: -1 }],
    ["an unknown watchdog mode", { watchdog: "sometimes" }],
    ["4 etcd members", { etcd: { members: 4 } }],
    ["1 node", { nodeCount: 1 }],
    ["PostgreSQL 12", { postgres: { version: 12 } }],
    ["one port for both listeners", { listenerPorts: { primary: 6000, replica: 6000 } }],
    ["a setting under its former name", { ttl: 10 }],
    ["a misspelt setting", { synchronousMod: "on" }],
  ];
  for (const [what, args] of refused) {
    it(`refuses ${what} with the AWS component's message, before any resource`, () => {
      const before = recorded.length;
      const aws = refusal(() => validateClusterArgs("orders", args as HaPostgresClusterArgs));
      const docker = refusal(() => new HaPostgresDockerCluster("orders", args as HaPostgresDockerClusterArgs));
      assert.deepEqual(
        docker,
        aws.map((p) => p.replace("HaPostgresCluster", "HaPostgresDockerCluster")),
      );
      assert.equal(recorded.length, before, "nothing declared");
    });
  }

  it("examples/docker-local declares the cluster with its outputs", async () => {
    const ex = require(resolve(__dirname, "../../examples/docker-local/index.js")) as Record<string, pulumi.Output<unknown>>;
    assert.equal(await valueOf(ex.primaryUrl), "postgresql://postgres@127.0.0.1:5432/postgres");
    assert.deepEqual(await valueOf(ex.containers), ["dev-pg-0", "dev-pg-1", "dev-pg-2"]);
    assert.ok(pulumi.Output.isInstance(ex.superuserPassword));
  });

  it("the package's index loads @pulumi/docker only when HaPostgresDockerCluster is used (an optional peer)", () => {
    const probe = (use: string) =>
      execFileSync(
        process.execPath,
        [
          "-e",
          `const l = require(${JSON.stringify(resolve(__dirname, "../../lib/index.js"))}); ${use}; console.log(Object.keys(require.cache).some((k) => k.includes("@pulumi/docker")))`,
        ],
        {
          encoding: "utf8",
        },
      ).trim();
    assert.equal(probe("l.HaPostgresCluster"), "false");
    assert.equal(probe("l.HaPostgresDockerCluster"), "true");
  });

  it("refuses its own bad args naming the field and the fix", () => {
    assert.deepEqual(
      refusal(() => validateDockerArgs("x", { subnet: "10.1.2.3/24" })),
      ['subnet: "10.1.2.3/24" has host bits set: write the network address, e.g. 10.1.2.0/24'],
    );
    assert.deepEqual(
      refusal(() => validateDockerArgs("x", { subnet: "10.1.0.0/28" })),
      ['subnet: "10.1.0.0/28" must be an IPv4 block from /16 to /26, e.g. 10.231.20.0/24'],
    );
    assert.deepEqual(
      refusal(() => validateDockerArgs("x", { hostAddress: "localhost" })),
      ["hostAddress: must be an IPv4 address, e.g. 127.0.0.1"],
    );
  });
});
