/**
 * The roll (issue 16): every host of a local cluster (--topology, synchronous mode on) gets a new
 * revision, as a second `pulumi up` with a new image gives on AWS. Under a writer through HAProxy, the
 * leader's coordinator has the hosts replaced one at a time: the etcd members and replicas first, the
 * leader's host last after a switchover. No acknowledged write is lost; the write pause and the time
 * of each host's replacement are printed (figures, never asserted).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { localDown, localUp } from "../../local/cluster";
import { tempClusterDir } from "../../local/demo";
import { waitHealthy } from "../../local/faults";
import { clusterSnapshot, localRoll } from "../../local/roll";
import type { ClusterFile } from "../../local/state";
import { countLost, measureOutage, Writer } from "../../local/writer";

const BASE_PORT = 26700;

describe("the roll: every host replaced, one at a time, the leader last", function () {
  this.timeout(900_000);
  let dir: string;
  let c: ClusterFile;
  before(async () => {
    dir = tempClusterDir("hapg-itest-roll-");
    c = await localUp({ dir, basePort: BASE_PORT, synchronousMode: "on", topology: true, timeoutMs: 150_000 });
  });
  after(async () => {
    await localDown(dir).catch((e) => console.error(`localDown: ${(e as Error).message}`));
    fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  });

  it("replaces etcd members and replicas first, the leader after a switchover: 0 acknowledged writes lost", async () => {
    const leader = await waitHealthy(dir, 60_000);
    const writer = new Writer(c.dsn);
    await writer.start();
    await new Promise((r) => setTimeout(r, 1000));

    const r = await localRoll(dir, { revision: "r2", timeoutMs: 800_000, say: (l) => console.log(`      ${l}`) });
    await new Promise((res) => setTimeout(res, 1500));
    const result = await writer.stop();
    const { lost, sample } = await countLost(c.dsn, result.ackedIds);
    assert.equal(lost, 0, `acknowledged writes lost: ${sample.join(", ")}`);

    const order = r.steps.map((s) => s.host);
    assert.deepEqual([...order].sort(), ["etcd-1", "etcd-2", "etcd-3", "node1", "node2", "node3"], "each host replaced once");
    assert.equal(order[order.length - 1], leader, "the leader's host goes last");
    assert.ok(order.indexOf("etcd-3") < order.indexOf("node1"), "etcd members before PostgreSQL nodes");
    const now = await waitHealthy(dir, 60_000);
    assert.notEqual(now, leader, "the old leader handed over before its host was replaced");
    const s = await clusterSnapshot(dir);
    assert.equal(s.roll, undefined, "no step left in progress");
    const leaderLog = fs.readFileSync(path.join(dir, leader, "agent.log"), "utf8");
    assert.match(leaderLog, /only the leader \(.+\) is stale: handing over to /);

    for (const [i, step] of r.steps.entries()) {
      const until = r.steps[i + 1]?.requestedAt ?? Date.now();
      const pause = measureOutage(result, step.requestedAt, until).gapMs;
      console.log(
        `      ${step.host}: replaced in ${step.ms} ms (stopped after ${step.stoppedAt - step.requestedAt} ms); longest write pause ${pause ?? "-"} ms`,
      );
    }
  });
});
