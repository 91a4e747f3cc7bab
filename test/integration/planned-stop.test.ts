/**
 * A planned stop of the leader's node is a switchover first (issue 16): SIGTERM to the leader's agent
 * on a real local cluster (synchronous mode on) under a writer through HAProxy. The synchronous
 * standby takes over by a hand-over (the old leader's log says so, not "released the leader key"),
 * no acknowledged write is lost, and the write pause is printed (a figure, never asserted).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { localDown, localUp } from "../../sidecar/local/cluster";
import { tempClusterDir } from "../../sidecar/local/demo";
import { restartNode, waitAgentGone, waitHealthy } from "../../sidecar/local/faults";
import { type ClusterFile, findNode } from "../../sidecar/local/state";
import { countLost, measureOutage, Writer } from "../../sidecar/local/writer";

const BASE_PORT = 26100;

describe("planned stop of the leader (SIGTERM): a switchover first", function () {
  this.timeout(300_000);
  let dir: string;
  let c: ClusterFile;
  before(async () => {
    dir = tempClusterDir("hapg-itest-planned-stop-");
    c = await localUp({ dir, basePort: BASE_PORT, synchronousMode: "on", timeoutMs: 150_000 });
  });
  after(async () => {
    await localDown(dir).catch((e) => console.error(`localDown: ${(e as Error).message}`));
    fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  });

  it("hands over to the synchronous standby, then stops: 0 acknowledged writes lost", async () => {
    const leader = await waitHealthy(dir, 60_000);
    const writer = new Writer(c.dsn);
    await writer.start();
    await new Promise((r) => setTimeout(r, 1500));

    const at = Date.now();
    process.kill(findNode(c, leader).agentPid, "SIGTERM");
    await waitAgentGone(dir, leader, 60_000);
    const stoppedMs = Date.now() - at;
    const next = await waitHealthy(dir, 30_000, undefined, { exclude: [leader] });
    assert.notEqual(next, leader);
    await new Promise((r) => setTimeout(r, 2000));
    const result = await writer.stop();
    const { lost, sample } = await countLost(c.dsn, result.ackedIds);
    assert.equal(lost, 0, `acknowledged writes lost: ${sample.join(", ")}`);
    const outage = measureOutage(result, at);
    console.log(`      SIGTERM of the leader ${leader}: ${next} leads; write pause ${outage.gapMs} ms, agent gone after ${stoppedMs} ms`);

    const log = fs.readFileSync(path.join(dir, leader, "agent.log"), "utf8");
    assert.match(log, /planned stop of the leader: switching over to /);
    assert.match(log, /handed over before stopping/);
    assert.doesNotMatch(
      log,
      /released the leader key so a replica takes over now/,
      "a hand-over, not a stop that leaves the election to the others",
    );

    // The stopped node comes back as a replica of the new leader.
    restartNode(dir, leader);
    assert.equal(await waitHealthy(dir, 90_000), next);
  });
});
