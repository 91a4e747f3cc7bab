/**
 * Replicas from the archive on a real local cluster with `--backup` (etcd, PostgreSQL, the agents,
 * pgBackRest, s3rver): a replica that was away while its slot was dropped and more WAL than
 * wal_keep_size was written catches up from the archive and streams again, without a base backup
 * from the primary; a rebuilt replica restores the latest backup from the repository instead of
 * copying the primary.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { localDown, localUp } from "../../local/cluster";
import { tempClusterDir } from "../../local/demo";
import { keepNodeLogs, reinitNode, restartNode, waitAgentGone, waitHealthy } from "../../local/faults";
import { type ClusterFile, findNode, httpGet } from "../../local/state";
import { backupView, logSince, logSize } from "../helpers/backup";
import { stopAgent } from "../helpers/faults";
import { nodeDsn } from "../helpers/node-dsn";
import { eventually, query } from "../helpers/pg-client";

const BASE_PORT = 16000; // below the ephemeral range (32768-60999): a client socket cannot take it

async function streams(c: ClusterFile, node: string): Promise<boolean> {
  const r = await httpGet(`${findNode(c, node).apiUrl}/patroni`, 2000).catch(() => undefined);
  return (r?.body as { replication_state?: string } | undefined)?.replication_state === "streaming";
}

describe("replicas from the archive (pgBackRest, s3rver)", function () {
  this.timeout(300_000);
  let dir: string;
  let c: ClusterFile;
  let leader: string;
  let replica: string;
  let failed = false;

  before(async () => {
    dir = tempClusterDir("hapg-itest-backup-replica-");
    c = await localUp({ dir, nodes: 2, basePort: BASE_PORT, synchronousMode: "off", backup: true, timeoutMs: 150_000 });
    leader = await waitHealthy(dir, 60_000);
    replica = c.nodes.find((n) => n.name !== leader)!.name;
    await eventually("the first full backup", 60_000, async () => {
      const v = await backupView(c, leader);
      return v.claim?.slot === "initial" && v.claim.state === "done" ? v.claim : undefined;
    });
  });
  afterEach(function () {
    if (this.currentTest?.state === "failed") failed = true;
  });
  after(async () => {
    if (failed && c) for (const n of c.nodes) console.error(`logs kept in ${keepNodeLogs(dir, n.name, "backup-replica")}`);
    await localDown(dir).catch((e) => console.error(`localDown: ${(e as Error).message}`));
    fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  });

  it("a replica whose slot was dropped while it was away catches up from the archive and streams, without a base backup", async () => {
    const primary = nodeDsn(c, findNode(c, leader));
    const rep = nodeDsn(c, findNode(c, replica));
    await query(primary, "CREATE TABLE IF NOT EXISTS t (v text)");
    const [at] = await query<{ lsn: string }>(rep, "SELECT pg_last_wal_replay_lsn()::text AS lsn");
    // pg_walfile_name does not run during recovery: the primary names the segment (same timeline).
    const [pos] = await query<{ wal: string }>(primary, "SELECT pg_walfile_name($1::pg_lsn) AS wal", [at.lsn]);
    stopAgent(dir, replica);
    await waitAgentGone(dir, replica, 30_000);
    // The replica's member key goes with its lease; the leader then drops the replica's slot.
    await eventually("the slot dropped", 30_000, async () => {
      const rows = await query(primary, "SELECT 1 FROM pg_replication_slots WHERE slot_name = $1", [replica]);
      return rows.length === 0 ? true : undefined;
    });
    // More WAL than wal_keep_size (128MB): 12 segments of 16MB, then a checkpoint recycles the old ones.
    for (let i = 0; i < 12; i++) {
      await query(primary, "INSERT INTO t SELECT 'away ' || g FROM generate_series(1, 100) g");
      await query(primary, "SELECT pg_switch_wal()");
    }
    await query(primary, "CHECKPOINT");
    const [last] = await query<{ n: string }>(primary, "SELECT count(*)::text AS n FROM t");
    await eventually("the segments archived", 60_000, async () => {
      const r = await httpGet(`${findNode(c, leader).apiUrl}/patroni`, 2000);
      return (r.body as { archive?: { ready_count: number } }).archive?.ready_count === 0 ? true : undefined;
    });
    await query(primary, "CHECKPOINT");
    const onPrimary = await query<{ name: string }>(primary, "SELECT name FROM pg_ls_waldir() WHERE name = $1", [pos.wal]);
    assert.equal(onPrimary.length, 0, `the primary no longer has ${pos.wal}, which the replica needs next`);

    const from = logSize(c, replica);
    restartNode(dir, replica);
    await eventually("the replica streaming again", 90_000, async () => ((await streams(c, replica)) ? true : undefined));
    const [seen] = await query<{ n: string }>(rep, "SELECT count(*)::text AS n FROM t");
    assert.equal(seen.n, last.n, "the replica has every row written while it was away");
    const log = logSince(c, replica, from);
    assert.doesNotMatch(log, /pg_basebackup|baseBackup|restoreFromArchive/, "no copy of the primary, no restore: WAL from the archive");
  });

  it("a rebuilt replica restores the latest backup from the repository instead of copying the primary", async () => {
    const from = logSize(c, replica);
    await reinitNode(dir, replica);
    await eventually("the rebuilt replica streaming", 90_000, async () => ((await streams(c, replica)) ? true : undefined));
    const log = logSince(c, replica, from);
    assert.match(log, /replica restored from backup \S+F in the repository/);
    assert.doesNotMatch(log, /"step":"pg_basebackup"/);
    const [a] = await query<{ n: string }>(nodeDsn(c, findNode(c, leader)), "SELECT count(*)::text AS n FROM t");
    const [b] = await query<{ n: string }>(nodeDsn(c, findNode(c, replica)), "SELECT count(*)::text AS n FROM t");
    assert.equal(b.n, a.n);
  });
});
