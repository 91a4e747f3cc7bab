import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { cutNode, cutPeers } from "../../local/partition";
import { ClusterFile, writeClusterFile } from "../../local/state";

const node = (i: number, netns?: string) => ({
  name: `node${i}`,
  host: `10.213.27.${10 + i}`,
  pgPort: 28400 + i,
  apiUrl: `http://10.213.27.${10 + i}:${28500 + i}`,
  dataDir: `/x/node${i}/data`,
  agentPid: 1000 + i,
  netns,
});
const cluster: ClusterFile = {
  proxy: { host: "127.0.0.1", port: 28320 },
  replicaProxy: { host: "127.0.0.1", port: 28321 },
  dsn: "postgresql://postgres:pw@127.0.0.1:28320/postgres",
  synchronousMode: "on",
  etcd: [1, 2, 3].map((i) => ({
    name: `etcd-${i}`,
    clientUrl: `http://10.213.27.${1 + i}:${28299 + i}`,
    pid: 900 + i,
    netns: `hapg28300-etcd${i}`,
  })),
  nodes: [1, 2, 3].map((i) => node(i, `hapg28300-node${i}`)),
  network: { bridge: "hapg28300", subnet: "10.213.27.0/24", gateway: "10.213.27.1", etcd: [], nodes: [] },
};

describe("local cluster partitions", () => {
  it("cuts a node off from every etcd member, or from every other node, never from itself or the clients", () => {
    assert.deepEqual(cutPeers(cluster, "node2", "etcd"), ["10.213.27.2", "10.213.27.3", "10.213.27.4"]);
    assert.deepEqual(cutPeers(cluster, "node2", "peers"), ["10.213.27.11", "10.213.27.13"]);
  });

  it("refuses a cluster whose members share the host's loopback, saying how to get one that can be cut", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hapg-partition-"));
    try {
      writeClusterFile(dir, { ...cluster, network: undefined, nodes: cluster.nodes.map((n) => ({ ...n, netns: undefined })) });
      assert.throws(
        () => cutNode(dir, "node1", "etcd"),
        /node1 has no network namespace of its own: start the cluster with hapg local up --netns/,
      );
      assert.throws(() => cutNode(dir, "node9", "etcd"), /no node "node9"/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
