/**
 * Nodes come and go at run time (issue 16, defect 8): a local cluster started with --topology scales
 * 3 → 5 → 3 under a writer through HAProxy. The new nodes join as streaming replicas, HAProxy's
 * backends follow the topology, a switchover to a new node moves writes there (HAProxy routes to it),
 * scaling back in hands the leader over first, the removed nodes' member keys go, and no
 * acknowledged write is lost.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { callApi, localApiCredentials } from "../../sidecar/api/client";
import { localDown, localUp } from "../../sidecar/local/cluster";
import { tempClusterDir } from "../../sidecar/local/demo";
import { waitHealthy } from "../../sidecar/local/faults";
import { computeLayout } from "../../sidecar/local/layout";
import { localScale } from "../../sidecar/local/scale";
import { type ClusterFile, fetchCluster, findNode, readClusterFile } from "../../sidecar/local/state";
import { readLocalTopology } from "../../sidecar/local/topology";
import { countLost, measureOutage, Writer } from "../../sidecar/local/writer";
import { eventually, query } from "../helpers/pg-client";

const BASE_PORT = 26400;

describe("scaling nodes at run time (--topology): 3 → 5 → 3", function () {
  this.timeout(600_000);
  let dir: string;
  let c: ClusterFile;
  before(async () => {
    dir = tempClusterDir("hapg-itest-scale-");
    c = await localUp({ dir, basePort: BASE_PORT, synchronousMode: "off", topology: true, timeoutMs: 150_000 });
  });
  after(async () => {
    await localDown(dir).catch((e) => console.error(`localDown: ${(e as Error).message}`));
    fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  });

  it("new nodes join, HAProxy routes to a new primary, scaling in hands over first: 0 lost", async () => {
    await waitHealthy(dir, 60_000);
    const say = (l: string) => console.log(`      ${l}`);
    const writer = new Writer(c.dsn);
    await writer.start();
    const haproxyConfig = computeLayout({ dir, nodes: 0, etcd: 0, basePort: BASE_PORT }).haproxyConfig;

    await localScale(dir, 5, say);
    assert.deepEqual(
      readLocalTopology(dir).nodes.map((n) => n.name),
      ["node1", "node2", "node3", "node4", "node5"],
    );
    assert.match(fs.readFileSync(haproxyConfig, "utf8"), /server node5 127\.0\.0\.1:26504/);
    const grown = readClusterFile(dir);
    const leader = await waitHealthy(dir, 60_000);

    const auth = localApiCredentials(grown);
    const r = await callApi(findNode(grown, leader).apiUrl, "POST", "/switchover", { leader, candidate: "node5" }, auth);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const port = await eventually("writes through HAProxy reach node5", 30_000, async () => {
      const rows = await query<{ port: number }>(c.dsn, "SELECT inet_server_port() AS port, pg_is_in_recovery() AS ro").catch(() => []);
      return rows[0]?.port === findNode(grown, "node5").pgPort ? rows[0].port : undefined;
    });
    assert.equal(port, findNode(grown, "node5").pgPort);

    const shrinkAt = Date.now();
    await localScale(dir, 3, say);
    assert.deepEqual(
      readLocalTopology(dir).nodes.map((n) => n.name),
      ["node1", "node2", "node3"],
    );
    assert.doesNotMatch(fs.readFileSync(haproxyConfig, "utf8"), /server node[45] /);
    const after = await waitHealthy(dir, 60_000);
    assert.ok(["node1", "node2", "node3"].includes(after), `the leader is one of the remaining nodes (${after})`);
    const members = await eventually("only the topology's members in etcd", 30_000, async () => {
      const v = await fetchCluster(readClusterFile(dir));
      const names = v?.members.map((m) => m.name).sort();
      return names?.length === 3 ? names : undefined;
    });
    assert.deepEqual(members, ["node1", "node2", "node3"]);
    const log = fs.readFileSync(path.join(dir, "node5.log.kept"), "utf8");
    assert.match(log, /planned stop of the leader: switching over to /);

    await new Promise((res) => setTimeout(res, 1500));
    const result = await writer.stop();
    const { lost, sample } = await countLost(c.dsn, result.ackedIds);
    assert.equal(lost, 0, `acknowledged writes lost: ${sample.join(", ")}`);
    console.log(`      scale-in with the leader on node5: longest write pause ${measureOutage(result, shrinkAt).gapMs} ms`);
  });
});
