/**
 * Planned switchover on a real local cluster (etcd, PostgreSQL, agents, HAProxy), asynchronous and
 * synchronous: POST /switchover to the leader's agent under a writer going through the proxy; the
 * candidate takes over, no acknowledged write is lost, and the old leader streams again on the new
 * timeline without pg_rewind or a base backup (its agent log says so).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { callApi, localApiCredentials } from "../../sidecar/api/client";
import { localDown, localUp } from "../../local/cluster";
import { tempClusterDir } from "../../local/demo";
import { waitHealthy } from "../../local/faults";
import { type ClusterFile, findNode, httpGet } from "../../local/state";
import { countLost, Writer } from "../../local/writer";
import type { SynchronousMode } from "../../sidecar/contract/settings/schema";
import { eventually } from "../helpers/pg-client";

const BASE_PORT = 25300;
const CLI = path.join(__dirname, "../../sidecar/cli/main.js");

/** The synchronous standby recorded in etcd's sync key (undefined: none yet). */
async function syncStandby(c: ClusterFile): Promise<string | undefined> {
  const key = Buffer.from("/service/local/sync").toString("base64");
  const res = await fetch(`${c.etcd[0].clientUrl}/v3/kv/range`, { method: "POST", body: JSON.stringify({ key }) });
  const body = (await res.json()) as { kvs?: { value: string }[] };
  if (!body.kvs?.length) return undefined;
  const value = JSON.parse(Buffer.from(body.kvs[0].value, "base64").toString()) as { sync_standby?: string | null };
  return value.sync_standby?.split(",")[0] || undefined;
}

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
      // In synchronous mode only the synchronous standby (etcd's sync key) may take over; another is refused.
      const candidate = await eventually("a candidate", 30_000, async () => {
        const sync = await syncStandby(c);
        return mode === "off" ? c.nodes.find((n) => n.name !== leader)?.name : sync;
      });
      if (mode !== "off") {
        const other = c.nodes.find((n) => n.name !== leader && n.name !== candidate)!.name;
        const r = await callApi(findNode(c, leader).apiUrl, "POST", "/switchover", { leader, candidate: other }, localApiCredentials(c));
        assert.equal(r.status, 412);
        assert.match(r.body.error!, /only the synchronous standby/);
      }
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
      // Still a streaming replica a while later: never demoted to be rewound after all.
      await new Promise((res) => setTimeout(res, 3000));
      const later = (await httpGet(`${findNode(c, leader).apiUrl}/patroni`)).body as { role?: string; replication_state?: string };
      assert.equal(later.replication_state, "streaming");
      const log = fs.readFileSync(path.join(dir, leader, "agent.log"), "utf8");
      assert.doesNotMatch(log, /"action":"(rewind|baseBackup)"/, "no pg_rewind and no base backup on the old leader");
      assert.match(log, /switchover to /);
    });

    it("hapg switchover / failover: bad input is refused naming the field, then both hand over", async () => {
      const leader = await waitHealthy(dir, 60_000);
      const hapg = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 60_000 });
      const unknown = hapg("switchover", "--dir", dir, "--candidate", "nobody", "--force");
      assert.equal(unknown.status, 1);
      assert.match(unknown.stderr, /switchover refused \(HTTP 412\): candidate: no member named "nobody"/);
      const badTime = hapg("switchover", "--dir", dir, "--scheduled", "soon", "--force");
      assert.equal(badTime.status, 1);
      assert.match(badTime.stderr, /scheduled_at: "soon" is not an ISO 8601 time/);
      const noAuth = hapg("failover", "--api", findNode(c, leader).apiUrl, "--candidate", "node1", "--force");
      assert.equal(noAuth.status, 1);
      assert.match(noAuth.stderr, /HTTP 401.*--password-file/);
      const both = hapg("failover", "--dir", dir, "--api", "http://127.0.0.1:1", "--candidate", "node1");
      assert.match(both.stderr, /only one of --dir DIR .* or --api URL/);

      const later = hapg("switchover", "--dir", dir, "--scheduled", "2999-01-01T00:00:00Z", "--force", "--json");
      assert.equal(later.status, 0, later.stderr);
      assert.equal((JSON.parse(later.stdout) as { status: number }).status, 202);
      const cancel = hapg("switchover", "--dir", dir, "--cancel", "--force");
      assert.equal(cancel.status, 0, cancel.stderr);

      // Every replica's log has the base backup it joined with: count only what the switchover adds.
      const rewindsIn = (name: string) =>
        (fs.readFileSync(path.join(dir, name, "agent.log"), "utf8").match(/"action":"(rewind|baseBackup)"/g) ?? []).length;
      const before = rewindsIn(leader);
      const sw = hapg("switchover", "--dir", dir, "--force", "--json");
      assert.equal(sw.status, 0, sw.stderr);
      const answer = JSON.parse(sw.stdout) as { status: number; message: string };
      assert.equal(answer.status, 200);
      const next = /to "(.+)"/.exec(answer.message)![1];
      assert.notEqual(next, leader);
      await waitHealthy(dir, 60_000);
      await new Promise((res) => setTimeout(res, 3000));
      // The leader picked the candidate itself: it still rejoined without a rewind.
      const rewinds = rewindsIn(leader) - before;
      assert.equal(rewinds, 0, `${leader} rewound after handing over to a candidate it picked`);
      // A manual failover to a member that may take over: the old leader (async) or the synchronous standby.
      const back = await eventually("an eligible member", 30_000, async () => {
        if (mode === "off") return leader;
        const sync = await syncStandby(c);
        return sync && sync !== next ? sync : undefined;
      });
      const fo = hapg("failover", "--dir", dir, "--candidate", back, "--force");
      assert.equal(fo.status, 0, fo.stderr);
      assert.match(fo.stdout, new RegExp(`failover: Successfully failed over to "${back}"`));
    });
  });
}
