import * as assert from "node:assert/strict";
import * as net from "node:net";
import { assertPortsFree, checkOptions, computeLayout, portsOf } from "../../sidecar/local/layout";

const opts = { dir: "/tmp/hapg-x", nodes: 3, etcd: 3, basePort: 15000, ttl: 4, loopWait: 1, retryTimeout: 1.5, synchronousMode: "off" as const };

describe("local cluster layout", () => {
  it("lays ports out deterministically from the base port", () => {
    const l = computeLayout(opts);
    assert.deepEqual(
      l.etcd.map((e) => [e.name, e.clientPort, e.peerPort]),
      [["etcd-1", 15000, 15010], ["etcd-2", 15001, 15011], ["etcd-3", 15002, 15012]],
    );
    assert.deepEqual([l.proxyPort, l.replicaProxyPort, l.statsPort], [15020, 15021, 15022]);
    assert.deepEqual(
      l.nodes.map((n) => [n.name, n.pgPort, n.apiPort]),
      [["node1", 15100, 15200], ["node2", 15101, 15201], ["node3", 15102, 15202]],
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
      assert.ok(problems.some((p) => p.startsWith(flag)), `${flag} in ${problems.join("; ")}`);
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
