/**
 * Planned switchover on a real local cluster (etcd, PostgreSQL, agents, HAProxy), asynchronous and
 * synchronous: POST /switchover to the leader's agent under a writer going through the proxy; the
 * candidate takes over, no acknowledged write is lost, and the old leader streams again on the new
 * timeline without pg_rewind or a base backup (its agent log says so).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { callApi, localApiCredentials } from "../../sidecar/api/client";
import { localDown, localUp } from "../../sidecar/local/cluster";
import { tempClusterDir } from "../../sidecar/local/demo";
import { waitHealthy } from "../../sidecar/local/faults";
import { type ClusterFile, findNode, httpGet } from "../../sidecar/local/state";
import { countLost, Writer } from "../../sidecar/local/writer";
import type { SynchronousMode } from "../../sidecar/settings/schema";
import { eventually } from "../helpers/pg-client";

const BASE_PORT = 25300;

for (const mode of ["off", "on"] as SynchronousMode[]) {
  describe(`switchover on a real cluster (synchronousMode ${mode})`, function () {
    this.timeout(300_000);
    let dir: string;
    let c: ClusterFile;
    before(async () => {
      dir = tempClusterDir(`hapg-itest-switchover-${mode}-`);
      c = await localUp({ dir, basePort: BASE_PORT, synchronousMode: mode, timeoutMs: 150_000 });
    });
    after(async () => {
      await localDown(dir).catch((e) => console.error(`localDown: ${(e as Error).message}`));
      fs.rmSync(path.dirname(dir), { recursive: true, force: true });
    });

    it("hands over under a writer: 0 acknowledged writes lost, the old leader streams on the new timeline without a rewind", async () => {
      const leader = await waitHealthy(dir, 60_000);
      const auth = localApiCredentials(c);
      assert.ok(auth, "local up generated API credentials");
      const candidate = await eventually("a candidate", 30_000, async () => {
        const r = await httpGet(`${findNode(c, leader).apiUrl}/cluster`);
        const members = (r.body as { members: { name: string; role: string }[] }).members;
        // In synchronous mode only the synchronous standby may take over (Patroni names its role sync_standby).
        return members.find((m) => (mode === "off" ? m.role === "replica" || m.role === "sync_standby" : m.role === "sync_standby"))?.name;
      });
      const writer = new Writer(c.dsn);
      await writer.start();
      await new Promise((r) => setTimeout(r, 1500));

      const refused = await callApi(
        findNode(c, leader).apiUrl,
        "POST",
        "/switchover",
        { leader, candidate },
        { ...auth, password: "wrong" },
      );
      assert.equal(refused.status, 401);
      const r = await callApi(findNode(c, leader).apiUrl, "POST", "/switchover", { leader, candidate }, auth);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.message, `Successfully switched over to "${candidate}"`);

      await new Promise((res) => setTimeout(res, 2000));
      const result = await writer.stop();
      assert.ok(result.ackedIds.length > 10, `the writer got acknowledgements (${result.ackedIds.length})`);
      const { lost, sample } = await countLost(c.dsn, result.ackedIds);
      assert.equal(lost, 0, `acknowledged writes lost: ${sample.join(", ")}`);

      const newLeader = await waitHealthy(dir, 30_000);
      assert.equal(newLeader, candidate);
      const old = await eventually("the old leader streaming", 30_000, async () => {
        const p = (await httpGet(`${findNode(c, leader).apiUrl}/patroni`)).body as {
          role?: string;
          replication_state?: string;
          timeline?: number;
        };
        return p.role === "replica" && p.replication_state === "streaming" ? p : undefined;
      });
      const fresh = (await httpGet(`${findNode(c, candidate).apiUrl}/patroni`)).body as { timeline?: number };
      assert.equal(old.timeline, fresh.timeline, "the old leader follows the new timeline");
      const log = fs.readFileSync(path.join(dir, leader, "agent.log"), "utf8");
      assert.doesNotMatch(log, /"action":"(rewind|baseBackup)"/, "no pg_rewind and no base backup on the old leader");
      assert.match(log, /switchover to /);
    });
  });
}
