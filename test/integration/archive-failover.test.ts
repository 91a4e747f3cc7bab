/**
 * No hole in the WAL archive after a failover, nothing archived twice (real PostgreSQL, pgBackRest,
 * s3rver, etcd; two members in synchronous mode). While the leader archives, its replica never
 * uploads and lets go of what the leader archived. With S3 down, rows are committed in segments the
 * leader cannot archive; the leader crashes (agent and PostgreSQL SIGKILLed); its successor, which
 * kept those segments, archives them once S3 is back. A point-in-time restore to a moment between
 * those rows and the failover, and to one after it (across the timeline switch), finds exactly the
 * rows committed before it.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { Client } from "pg";
import type { ArchiveStatus } from "../../sidecar/backup/archive-status";
import { backupPaths } from "../../sidecar/contract/backup-config";
import { localDown, localUp } from "../../local/cluster";
import { tempClusterDir } from "../../local/demo";
import { keepNodeLogs, killNode, waitForPrimary, waitHealthy } from "../../local/faults";
import { archiveNow, sql, waitForBackups } from "../../local/pitr";
import { type ClusterFile, findNode, httpGet } from "../../local/state";
import { findPgBinDir } from "../../sidecar/postgres/bin";
import { pgbackrest, startClusterS3, stopClusterS3 } from "../helpers/backup";
import { nodeDsn } from "../helpers/node-dsn";
import { eventually } from "../helpers/pg-client";

// Port block 16800–17099 (below the ephemeral range 32768-60999): the cluster at P (the layout uses P+0..23, P+100.., P+200..), the restored server at P + 80.
const BASE_PORT = 16800;
const RESTORE_PORT = 16880;

async function archiveOf(c: ClusterFile, node: string): Promise<ArchiveStatus | undefined> {
  const r = await httpGet(`${findNode(c, node).apiUrl}/patroni`, 3000);
  return (r.body as { archive?: ArchiveStatus }).archive;
}

/** Inserts the ids (one commit each) through `dsn`; returns the database time right after, as pgBackRest takes a target. */
async function insert(dsn: string, ids: number[]): Promise<string> {
  for (const id of ids) await sql(dsn, "INSERT INTO orders (id) VALUES ($1)", [id]);
  const [{ t }] = await sql<{ t: string }>(dsn, "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') AS t");
  return `${t}+00`;
}

async function switchWal(dsn: string): Promise<string> {
  const [{ wal }] = await sql<{ wal: string }>(dsn, "SELECT pg_walfile_name(pg_switch_wal()) AS wal");
  return wal;
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** pgBackRest's archive-push logs of a node (the async pusher writes its own file when it runs). */
function pushLogs(c: ClusterFile, node: string): string[] {
  const dir = backupPaths(findNode(c, node).dataDir).logDir;
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.includes("archive-push")) : [];
}

/**
 * Restores the stanza to `target` into a scratch directory with pgBackRest, starts PostgreSQL there
 * (its own port and socket, archiving off), returns the ids it holds, and stops it by its pid.
 */
async function restoredIds(c: ClusterFile, node: string, scratch: string, target: string): Promise<number[]> {
  const owner = fs.statSync(path.dirname(findNode(c, node).dataDir));
  fs.rmSync(scratch, { recursive: true, force: true });
  const sock = `${scratch}.sock`;
  for (const d of [scratch, sock]) {
    fs.mkdirSync(d, { recursive: true, mode: 0o700 });
    fs.chownSync(d, owner.uid, owner.gid);
  }
  const r = pgbackrest(c, node, [`--pg1-path=${scratch}`, "--type=time", `--target=${target}`, "--target-action=promote", "restore"]);
  assert.equal(r.code, 0, `pgbackrest restore: ${r.out}`);
  const postgres = path.join(findPgBinDir(), "postgres");
  const args = [
    ...["--reuid", String(owner.uid), "--regid", String(owner.gid), "--clear-groups", postgres, "-D", scratch],
    ...["-c", `port=${RESTORE_PORT}`, "-c", "listen_addresses=", "-c", `unix_socket_directories=${sock}`],
    ...["-c", "archive_mode=off", "-c", `hba_file=${scratch}/pg_hba.conf`, "-c", `ident_file=${scratch}/pg_ident.conf`],
    ...["-c", "synchronous_standby_names=", "-c", "cluster_name=pitr"],
  ];
  const log = fs.openSync(`${scratch}.log`, "a");
  const child = spawn("setpriv", args, { stdio: ["ignore", log, log], cwd: "/" });
  fs.closeSync(log);
  const pid = child.pid!;
  try {
    return await eventually("the restored server promoted at its target", 60_000, async () => {
      const client = new Client({ host: sock, port: RESTORE_PORT, user: "postgres", database: "postgres", connectionTimeoutMillis: 2000 });
      client.on("error", () => undefined);
      try {
        await client.connect();
        const [{ rec }] = (await client.query<{ rec: boolean }>("SELECT pg_is_in_recovery() AS rec")).rows;
        if (rec) return undefined;
        return (await client.query<{ id: number }>("SELECT id FROM orders ORDER BY id")).rows.map((x) => x.id);
      } catch {
        return undefined;
      } finally {
        await client.end().catch(() => undefined);
      }
    });
  } finally {
    process.kill(pid, "SIGINT"); // fast shutdown, by pid
    await eventually("the restored server stopped", 30_000, async () =>
      child.exitCode !== null || child.signalCode !== null ? true : undefined,
    );
  }
}

describe("no hole in the WAL archive after a failover (pgBackRest, s3rver)", function () {
  this.timeout(300_000);
  let dir: string;
  let c: ClusterFile;
  let failed = false;
  let s3Down = false;

  before(async () => {
    dir = tempClusterDir("hapg-itest-archivegap-");
    try {
      c = await localUp({ dir, basePort: BASE_PORT, nodes: 2, etcd: 1, synchronousMode: "on", backup: true, timeoutMs: 150_000 });
      await waitHealthy(dir, 60_000);
      await waitForBackups(dir, 1, 120_000);
    } catch (e) {
      failed = true;
      throw e;
    }
  });
  afterEach(function () {
    if (this.currentTest?.state === "failed") failed = true;
  });
  after(async () => {
    if (s3Down) await startClusterS3(dir).catch(() => undefined);
    if (failed && c) for (const n of c.nodes) console.error(`logs kept in ${keepNodeLogs(dir, n.name, "archivegap")}`);
    await localDown(dir).catch((e) => console.error(`localDown: ${(e as Error).message}`));
    fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  });

  let leader = "";
  let replica = "";
  let beforeFailover = "";
  let afterFailover = "";
  const outageSegments: string[] = [];

  it("while the leader archives, its replica uploads nothing and lets go of what the leader archived", async () => {
    leader = await waitForPrimary(dir, { timeoutMs: 30_000 });
    replica = c.nodes.find((n) => n.name !== leader)!.name;
    await sql(c.dsn, "CREATE TABLE orders (id int PRIMARY KEY)");
    await insert(c.dsn, range(1, 10));
    const archived = await archiveNow(c.dsn, 60_000);
    const kept = await eventually("the replica to let go of the archived segments", 60_000, async () => {
      const a = await archiveOf(c, replica);
      const stillReady = fs.existsSync(path.join(findNode(c, replica).dataDir, "pg_wal", "archive_status", `${archived}.ready`));
      return a?.role === "replica" && a.kept_for_leader === 0 && !stillReady ? a : undefined;
    });
    assert.equal(
      kept.leader_last_archived_wal! >= archived,
      true,
      `the replica saw the leader's progress (${kept.leader_last_archived_wal})`,
    );
    assert.ok(pushLogs(c, leader).length > 0, "the leader pushed through pgBackRest");
    assert.deepEqual(pushLogs(c, replica), [], "the replica never ran archive-push");
  });

  it("keeps the segments the leader could not archive on its successor, which archives them after a crash failover", async () => {
    await stopClusterS3(dir);
    s3Down = true;
    const leaderDsn = nodeDsn(c, findNode(c, leader));
    await insert(leaderDsn, range(11, 20));
    outageSegments.push(await switchWal(leaderDsn));
    await insert(leaderDsn, range(21, 30));
    outageSegments.push(await switchWal(leaderDsn));
    await insert(leaderDsn, range(31, 40));
    await pause(1100);
    beforeFailover = await insert(leaderDsn, []);
    await pause(1100);
    await insert(leaderDsn, range(41, 50)); // after the target: committed, replicated, not restored to it
    const waiting = await eventually("the replica to keep the unarchived segments", 30_000, async () => {
      const a = await archiveOf(c, replica);
      return a && (a.kept_for_leader ?? 0) >= outageSegments.length ? a : undefined;
    });
    assert.ok(waiting.oldest_kept! <= outageSegments[0], `the replica keeps ${outageSegments[0]} (oldest kept ${waiting.oldest_kept})`);

    killNode(dir, leader);
    const next = await waitForPrimary(dir, { exclude: [leader], timeoutMs: 60_000 });
    assert.equal(next, replica);
    const nextDsn = nodeDsn(c, findNode(c, next));
    await insert(nextDsn, range(51, 60));
    await pause(1100);
    afterFailover = await insert(nextDsn, []);
    await pause(1100);
    await insert(nextDsn, range(61, 70));
    // The new leader pushes now (no replica status), with the old leader's segments waiting; that a
    // failing push is reported is backup-archive.test.ts's case (it takes the push timeout, 30 s).
    await eventually("the new leader to push, the kept segments waiting", 60_000, async () => {
      const a = await archiveOf(c, next);
      return a && a.role === undefined && a.ready_count >= outageSegments.length ? a : undefined;
    });

    await startClusterS3(dir);
    s3Down = false;
    const last = await archiveNow(nextDsn, 120_000);
    assert.ok(last.startsWith("00000002"), `the new leader writes timeline 2 (${last})`);
    const ls = pgbackrest(c, next, ["repo-ls", "--recurse", "archive/local"]);
    assert.equal(ls.code, 0, ls.out);
    for (const s of outageSegments) assert.match(ls.out, new RegExp(`${s}-[0-9a-f]{40}`), `the old timeline's ${s} is in the archive`);
    assert.match(ls.out, /00000002\.history/);
    const get = pgbackrest(c, next, ["archive-get", outageSegments[0], path.join(path.dirname(findNode(c, next).dataDir), "got-segment")]);
    assert.equal(get.code, 0, `archive-get ${outageSegments[0]}: ${get.out}`);
  });

  it("a point-in-time restore before the failover and one after it find exactly the rows committed before their target", async () => {
    assert.ok(beforeFailover && afterFailover, "the targets come from the case before");
    const scratch = path.join(path.dirname(findNode(c, replica).dataDir), "pitr");
    assert.deepEqual(await restoredIds(c, replica, scratch, beforeFailover), range(1, 40), `restored to ${beforeFailover}`);
    assert.deepEqual(
      await restoredIds(c, replica, scratch, afterFailover),
      [...range(1, 50), ...range(51, 60)],
      `restored to ${afterFailover}`,
    );
  });
});
