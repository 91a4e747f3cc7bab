import * as assert from "node:assert/strict";
import * as net from "node:net";
import { agentConfig } from "../../local/agents";
import { assertPortsFree, checkOptions, computeLayout, portsOf } from "../../local/layout";
import { inNetns, overlaps, planNetns } from "../../local/netns";

const opts = {
  dir: "/tmp/hapg-x",
  nodes: 3,
  etcd: 3,
  basePort: 15000,
  ttl: 4,
  loopWait: 1,
  retryTimeout: 1.5,
  synchronousMode: "off" as const,
  synchronousQuorum: 1,
  netns: false,
};

describe("local cluster layout", () => {
  it("lays ports out deterministically from the base port", () => {
    const l = computeLayout(opts);
    assert.deepEqual(
      l.etcd.map((e) => [e.name, e.clientPort, e.peerPort]),
      [
        ["etcd-1", 15000, 15010],
        ["etcd-2", 15001, 15011],
        ["etcd-3", 15002, 15012],
      ],
    );
    assert.deepEqual([l.proxyPort, l.replicaProxyPort, l.statsPort], [15020, 15021, 15022]);
    assert.deepEqual(
      l.nodes.map((n) => [n.name, n.pgPort, n.apiPort]),
      [
        ["node1", 15100, 15200],
        ["node2", 15101, 15201],
        ["node3", 15102, 15202],
      ],
    );
  });

  it("keeps each node's files under DIR/<node>", () => {
    const n = computeLayout(opts).nodes[1];
    assert.equal(n.dataDir, "/tmp/hapg-x/node2/data");
    assert.equal(n.configFile, "/tmp/hapg-x/node2/agent.json");
    assert.equal(n.logFile, "/tmp/hapg-x/node2/agent.log");
    assert.equal(computeLayout(opts).clusterJson, "/tmp/hapg-x/cluster.json");
  });

  it("uses every port once", () => {
    const ports = portsOf(computeLayout({ ...opts, nodes: 99, etcd: 9 })).map((p) => p.port);
    assert.equal(new Set(ports).size, ports.length);
    assert.ok(Math.max(...ports) <= 15000 + 299);
  });

  it("names each bad option", () => {
    assert.deepEqual(checkOptions(opts), []);
    const problems = checkOptions({ ...opts, dir: "rel", nodes: 0, etcd: 10, basePort: 65400, ttl: 0 });
    for (const flag of ["--dir", "--nodes", "--etcd", "--base-port", "--ttl"]) {
      assert.ok(
        problems.some((p) => p.startsWith(flag)),
        `${flag} in ${problems.join("; ")}`,
      );
    }
  });

  it("says which port is taken and what it was for", async () => {
    // A port the kernel picked is free of other tests; the layout is built around it.
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    const port = (srv.address() as net.AddressInfo).port;
    const l = computeLayout({ ...opts, basePort: port - 200 });
    try {
      await assert.rejects(assertPortsFree(l), new RegExp(`127\\.0\\.0\\.1:${port} \\(node1 agent API\\)`));
    } finally {
      srv.close();
    }
  });
});

describe("local cluster in network namespaces (--netns)", () => {
  const l = computeLayout({ ...opts, basePort: 28300, netns: true });

  it("gives every node and etcd member its own address in one /24 and a namespace named after the base port", () => {
    assert.equal(l.network?.bridge, "hapg28300");
    assert.equal(l.network?.subnet, "10.213.27.0/24");
    assert.equal(l.network?.gateway, "10.213.27.1");
    assert.deepEqual(
      l.etcd.map((e) => [e.host, e.netns]),
      [
        ["10.213.27.2", "hapg28300-etcd1"],
        ["10.213.27.3", "hapg28300-etcd2"],
        ["10.213.27.4", "hapg28300-etcd3"],
      ],
    );
    assert.deepEqual(
      l.nodes.map((n) => [n.host, n.netns]),
      [
        ["10.213.27.11", "hapg28300-node1"],
        ["10.213.27.12", "hapg28300-node2"],
        ["10.213.27.13", "hapg28300-node3"],
      ],
    );
    // Interface names must fit Linux's 15 characters, also for the largest cluster.
    const big = planNetns(65000, 9, 99);
    for (const h of [...big.etcd, ...big.nodes]) assert.ok(h.veth.length <= 15, h.veth);
    assert.equal(new Set([...big.etcd, ...big.nodes].map((h) => h.address)).size, 108);
  });

  it("points the agents at the namespace addresses and lets the subnet connect", () => {
    const c = agentConfig(l, l.nodes[1], opts);
    assert.deepEqual(c.etcd.endpoints, ["http://10.213.27.2:28300", "http://10.213.27.3:28301", "http://10.213.27.4:28302"]);
    assert.deepEqual(c.postgres.listen, { host: "10.213.27.12", port: 28401 });
    assert.deepEqual(c.api?.listen, { host: "10.213.27.12", port: 28501 });
    assert.deepEqual(c.postgres.allowedCidrs, ["127.0.0.1/32", "10.213.27.0/24"]);
  });

  it("checks only HAProxy's ports on the host's loopback", () => {
    assert.deepEqual(
      portsOf(l).map((p) => p.port),
      [28320, 28321, 28322],
    );
  });

  it("runs a program inside a namespace as the service user, keeping its pid (ip netns exec and setpriv exec)", () => {
    assert.deepEqual(inNetns(undefined, "/usr/bin/etcd", ["--name=x"]), { cmd: "/usr/bin/etcd", args: ["--name=x"] });
    assert.deepEqual(inNetns("ns1", "/usr/bin/node", ["a"], { uid: 101, gid: 102 }), {
      cmd: "ip",
      args: ["netns", "exec", "ns1", "setpriv", "--reuid=101", "--regid=102", "--clear-groups", "--", "/usr/bin/node", "a"],
    });
  });

  it("tells overlapping subnets apart", () => {
    assert.ok(overlaps("10.0.0.0/8", "10.213.27.0/24"));
    assert.ok(overlaps("10.213.27.128/25", "10.213.27.0/24"));
    assert.ok(overlaps("10.213.27.5", "10.213.27.0/24"));
    assert.ok(!overlaps("10.213.26.0/24", "10.213.27.0/24"));
    assert.ok(!overlaps("192.0.2.0/24", "10.213.27.0/24"));
  });
});
