/**
 * Synchronous mode with real processes (`hapg local up --sync`): PostgreSQL waits for the standby
 * recorded in etcd; after kill -9 of the leader (agent and PostgreSQL) with a writer going through
 * the proxy, the synchronous standby takes over and no acknowledged write is lost.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { localDown, localUp } from "../../local/cluster";
import { tempClusterDir } from "../../local/demo";
import { killNode, waitForPrimary } from "../../local/faults";
import { ClusterFile, fetchCluster } from "../../local/state";
import { countLost, Writer } from "../../local/writer";
import { dsnWithPort, eventually, query } from "../helpers/pg-client";
import { promotionWait } from "../../sidecar/ha/promotion";
import { renderSynchronousStandbyNames } from "../../sidecar/postgres/conf";

const BASE_PORT = 29500;

async function syncState(c: ClusterFile): Promise<{ leader: string; standby: string; ssn: string }> {
  return eventually("a synchronous standby", 30_000, async () => {
    const cl = await fetchCluster(c);
    const leader = cl?.members.find((m) => m.role === "leader")?.name;
    if (!leader) return undefined;
    const pgPort = c.nodes.find((n) => n.name === leader)!.pgPort;
    const [row] = await query<{ ssn: string; standby: string | null }>(
      dsnWithPort(c.dsn, pgPort),
      "SELECT current_setting('synchronous_standby_names') AS ssn, (SELECT application_name FROM pg_stat_replication WHERE sync_state = 'sync' LIMIT 1) AS standby",
    );
    return row.standby ? { leader, standby: row.standby, ssn: row.ssn } : undefined;
  });
}

type SyncKey = { leader: string; sync_standby: string | null; quorum?: number };

/**
 * The sync key once the standby is confirmed: it alone may be promoted (quorum 0). Right after it is
 * recorded the key carries quorum 1 (nobody but the leader may be promoted) until it has replayed
 * everything acknowledged before PostgreSQL waited for it, about one loop.
 */
async function confirmedKey(c: ClusterFile, leader: string, standby: string): Promise<SyncKey> {
  return eventually("the confirmed sync key", 30_000, async () => {
    const key = Buffer.from("/service/local/sync").toString("base64");
    const res = await fetch(`${c.etcd[0].clientUrl}/v3/kv/range`, { method: "POST", body: JSON.stringify({ key }) });
    const body = (await res.json()) as { kvs?: { value: string }[] };
    if (!body.kvs?.length) return undefined;
    const value = JSON.parse(Buffer.from(body.kvs[0].value, "base64").toString()) as SyncKey;
    return value.leader === leader && value.sync_standby === standby && value.quorum === 0 ? value : undefined;
  });
}

describe("synchronous mode (real etcd, PostgreSQL, agents, HAProxy)", function () {
  this.timeout(240_000);
  let dir: string;
  let c: ClusterFile;
  before(async () => {
    dir = tempClusterDir("hapg-itest-sync-");
    c = await localUp({ dir, basePort: BASE_PORT, synchronousMode: "on", timeoutMs: 150_000 });
  });
  after(async () => {
    await localDown(dir).catch((e) => console.error(`localDown: ${(e as Error).message}`));
    fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  });

  it("waits for one standby, the one recorded in etcd's sync key", async () => {
    const s = await syncState(c);
    assert.equal(s.ssn, `FIRST 1 ("${s.standby}")`);
    // Patroni 4's layout: quorum = how many other members of the set a candidate must see (none: it is alone).
    assert.deepEqual(await confirmedKey(c, s.leader, s.standby), { leader: s.leader, sync_standby: s.standby, quorum: 0 });
  });

  it("every replica already runs with the wait its promotion starts with (a standby ignores it): promoting needs no reload", async () => {
    const s = await syncState(c);
    const want = renderSynchronousStandbyNames(promotionWait("on")!);
    for (const n of c.nodes.filter((x) => x.name !== s.leader)) {
      const [row] = await query<{ ssn: string; standby: boolean }>(
        dsnWithPort(c.dsn, n.pgPort),
        "SELECT current_setting('synchronous_standby_names') AS ssn, pg_is_in_recovery() AS standby",
      );
      assert.deepEqual(row, { ssn: want, standby: true }, n.name);
    }
  });

  it("kill -9 of the leader under a writer: the synchronous standby takes over and no acknowledged write is lost", async () => {
    const s = await syncState(c);
    await confirmedKey(c, s.leader, s.standby);
    const writer = new Writer(c.dsn);
    await writer.start();
    await new Promise((r) => setTimeout(r, 1500));
    killNode(dir, s.leader);
    const next = await waitForPrimary(dir, { exclude: [s.leader], timeoutMs: 30_000 });
    assert.equal(next, s.standby, "only the recorded synchronous standby may be promoted");
    await new Promise((r) => setTimeout(r, 2000));
    const result = await writer.stop();
    assert.ok(result.ackedIds.length > 10, `the writer got acknowledgements (${result.ackedIds.length})`);
    const { lost, sample } = await countLost(c.dsn, result.ackedIds);
    assert.equal(lost, 0, `acknowledged writes lost: ${sample.join(", ")}`);
  });
});
