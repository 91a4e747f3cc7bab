/**
 * etcd membership by runtime reconfiguration (issue 16): a local cluster (--topology) goes from 3 to
 * 5 etcd members and back to 3 under a writer while the agents keep the leader. New members join by
 * `member add` (state existing, as node-init's etcd-join does), never by a new bootstrap; removed
 * ones are removed by the leader's coordinator; the agents follow the topology's endpoints.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { EtcdMembers } from "../../sidecar/membership/etcd-members";
import { localDown, localUp } from "../../local/cluster";
import { tempClusterDir } from "../../local/demo";
import { waitHealthy } from "../../local/faults";
import { localScaleEtcd } from "../../local/scale-etcd";
import { type ClusterFile, readClusterFile } from "../../local/state";
import { countLost, Writer } from "../../local/writer";
import { eventually } from "../helpers/pg-client";

const BASE_PORT = 27000;

describe(`etcd members 3 → 5 → 3 by member add / remove (${execFileSync("etcd", ["--version"], { encoding: "utf8" }).split("\n")[0]})`, function () {
  this.timeout(600_000);
  let dir: string;
  let c: ClusterFile;
  before(async () => {
    dir = tempClusterDir("hapg-itest-etcd-members-");
    c = await localUp({ dir, basePort: BASE_PORT, synchronousMode: "on", topology: true, timeoutMs: 150_000 });
  });
  after(async () => {
    await localDown(dir).catch((e) => console.error(`localDown: ${(e as Error).message}`));
    fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  });

  it("joins two members and removes them again while the leader stays: 0 lost", async () => {
    const leader = await waitHealthy(dir, 60_000);
    const writer = new Writer(c.dsn);
    await writer.start();
    const say = (l: string) => console.log(`      ${l}`);
    const list = async () => (await new EtcdMembers(readClusterFile(dir).etcd.map((e) => e.clientUrl)).list()).map((m) => m.name).sort();

    await localScaleEtcd(dir, 5, say);
    assert.deepEqual(await list(), ["etcd-1", "etcd-2", "etcd-3", "etcd-4", "etcd-5"]);
    const etcd5 = fs.readFileSync(path.join(dir, "etcd", "etcd-5.log"), "utf8");
    assert.match(etcd5, /"initial-cluster-state":"existing"/, "joined, not bootstrapped");
    await eventually(
      "the agents on the topology's 5 endpoints",
      15_000,
      async () =>
        c.nodes.every((n) =>
          /"endpoints":\[[^\]]*27004[^\]]*\],.*etcd endpoints changed/.test(fs.readFileSync(path.join(dir, n.name, "agent.log"), "utf8")),
        ) || undefined,
    );

    await localScaleEtcd(dir, 3, say);
    assert.deepEqual(await list(), ["etcd-1", "etcd-2", "etcd-3"]);
    const leaderLog = fs.readFileSync(path.join(dir, leader, "agent.log"), "utf8");
    assert.match(leaderLog, /etcd member etcd-5 is no longer in the topology: removing it/);

    assert.equal(await waitHealthy(dir, 30_000), leader, "the leader kept its key throughout");
    const result = await writer.stop();
    const { lost, sample } = await countLost(c.dsn, result.ackedIds);
    assert.equal(lost, 0, `acknowledged writes lost: ${sample.join(", ")}`);
  });
});
