/**
 * Restore and clone with real PostgreSQL, pgBackRest, s3rver and etcd: a source cluster archives to
 * its S3 server; new clusters are created from its backups with `localUp({ restore })`, to a time
 * before a failover in the source and to a time after it (across the timeline switch). Each finds
 * exactly the rows committed before its target; its second member builds from the backup, not from
 * the new primary; and a restore that cannot work is refused before anything is created.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { localDown, localUp } from "../../local/cluster";
import { tempClusterDir } from "../../local/demo";
import { killNode, restartNode, waitForPrimary, waitHealthy } from "../../local/faults";
import { waitProxyWritable } from "../../local/health";
import { archiveNow, localBackups, sql, waitForBackups } from "../../local/pitr";
import { localFromBackup } from "../../local/restore";
import type { ClusterFile } from "../../local/state";
import { eventually } from "../helpers/pg-client";

// Port block 16400–16699 (below the ephemeral range 32768-60999): the source at P, each restored cluster at P + 30 (the layout uses P+0..23, P+100.., P+200..).
const SOURCE_PORT = 16400;
const CLONE_PORT = 16430;
const log = (s: string) => console.log(`      ${s}`);

/** Inserts `ids` one commit each; returns the database time right after the last commit. */
async function insert(dsn: string, ids: number[]): Promise<string> {
  for (const id of ids) await sql(dsn, "INSERT INTO orders (id) VALUES ($1)", [id]);
  const [{ t }] = await sql<{ t: string }>(
    dsn,
    "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS t",
  );
  return t;
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("restore from backup (real PostgreSQL, pgBackRest, s3rver, etcd)", function () {
  this.timeout(600_000);
  let sourceDir = "";
  let source: ClusterFile;
  let beforeFailover = "";
  let afterFailover = "";

  before(async function () {
    sourceDir = tempClusterDir("hapg-itest-restore-src-");
    source = await localUp({ dir: sourceDir, basePort: SOURCE_PORT, nodes: 2, etcd: 1, backup: true, timeoutMs: 150_000, progress: log });
    await waitForBackups(sourceDir, 1, 120_000);
    await sql(source.dsn, "CREATE TABLE orders (id int PRIMARY KEY)");
    await insert(source.dsn, range(1, 20));
    await new Promise((r) => setTimeout(r, 1100));
    beforeFailover = await insert(source.dsn, []);
    await new Promise((r) => setTimeout(r, 1100));
    await insert(source.dsn, range(21, 40));
    // Failover in the source: the other member promotes onto timeline 2 and archives from there.
    const old = await waitForPrimary(sourceDir, { timeoutMs: 10_000 });
    killNode(sourceDir, old);
    await waitForPrimary(sourceDir, { exclude: [old], timeoutMs: 60_000 });
    await waitProxyWritable(source.dsn, 60_000);
    await insert(source.dsn, range(41, 60));
    await new Promise((r) => setTimeout(r, 1100));
    afterFailover = await insert(source.dsn, []);
    await new Promise((r) => setTimeout(r, 1100));
    await insert(source.dsn, range(61, 80));
    await archiveNow(source.dsn, 60_000);
    restartNode(sourceDir, old);
    log(`source: rows 1–40 on timeline 1, failover, rows 41–80 on timeline 2; targets ${beforeFailover} and ${afterFailover}`);
  });

  after(async function () {
    if (sourceDir && fs.existsSync(sourceDir)) await localDown(sourceDir).catch((e) => console.error(`localDown: ${(e as Error).message}`));
    if (sourceDir) fs.rmSync(path.dirname(sourceDir), { recursive: true, force: true });
  });

  /** Restores a 2-node cluster next to the source, runs `check` on it, and tears it down. */
  async function withClone(target: { targetTime?: string }, check: (c: ClusterFile, dir: string) => Promise<void>): Promise<void> {
    const dir = tempClusterDir("hapg-itest-restore-");
    try {
      const restore = localFromBackup({ restoreFrom: sourceDir, ...target });
      const c = await localUp({ dir, basePort: CLONE_PORT, nodes: 2, etcd: 1, restore, timeoutMs: 240_000, progress: log });
      await check(c, dir);
    } finally {
      if (fs.existsSync(dir)) await localDown(dir).catch((e) => console.error(`localDown: ${(e as Error).message}`));
      fs.rmSync(path.dirname(dir), { recursive: true, force: true });
    }
  }

  const ids = async (dsn: string) => (await sql<{ id: number }>(dsn, "SELECT id FROM orders ORDER BY id")).map((r) => r.id);

  it("restores to a time: exactly the rows committed before it; the second member restored from the backup, not from the primary", async () => {
    await withClone({ targetTime: beforeFailover }, async (c, dir) => {
      assert.deepEqual(await ids(c.dsn), range(1, 20));
      await waitHealthy(dir, 120_000);
      const primary = await waitForPrimary(dir, { timeoutMs: 10_000 });
      const replica = c.nodes.find((n) => n.name !== primary)!;
      const replicaLog = fs.readFileSync(path.join(path.dirname(replica.dataDir), "agent.log"), "utf8");
      // From the source's backup, or from the clone's own first backup when it was already taken.
      assert.match(replicaLog, /restoring backup .* as a replica|replica restored from backup/);
      assert.doesNotMatch(replicaLog, /pg_basebackup/);
      // The replica streams from the new primary and has the same rows.
      await sql(c.dsn, "INSERT INTO orders (id) VALUES (1000)");
      const replicaDsn = c.dsn.replace(`:${c.proxy.port}/`, `:${replica.pgPort}/`);
      await eventually("the new row on the replica", 30_000, async () => ((await ids(replicaDsn)).includes(1000) ? true : undefined));
      // A new stanza of its own: the source's backups and archive are untouched.
      const [{ tl }] = await sql<{ tl: number }>(c.dsn, "SELECT timeline_id AS tl FROM pg_control_checkpoint()");
      assert.ok(tl >= 3, `a timeline of its own after the restore (the source has 1 and 2), got ${tl}`);
      const ownWal = await archiveNow(c.dsn, 60_000);
      assert.equal(parseInt(ownWal.slice(0, 8), 16), tl);
      const own = await waitForBackups(dir, 1, 120_000);
      assert.ok(own.archive?.max && own.archive.max >= ownWal, "the clone archives into its own repository");
      const src = await localBackups(sourceDir);
      assert.ok(
        src.archive?.max && parseInt(src.archive.max.slice(0, 8), 16) < tl,
        `the source's archive holds none of the clone's WAL (${src.archive?.max})`,
      );
    });
  });

  it("restores across a timeline switch: a time after the source's failover", async () => {
    await withClone({ targetTime: afterFailover }, async (c) => {
      assert.deepEqual(await ids(c.dsn), range(1, 60));
    });
  });

  it("refuses, before creating anything, a time before the first backup, a time in the future, a missing stanza and unreadable credentials", async () => {
    const dir = tempClusterDir("hapg-itest-restore-refused-");
    const refused = async (restore: ReturnType<typeof localFromBackup>, pattern: RegExp) => {
      await assert.rejects(localUp({ dir, basePort: CLONE_PORT, nodes: 1, etcd: 1, restore }), pattern);
      assert.ok(!fs.existsSync(dir), "nothing was created");
    };
    try {
      await refused(
        localFromBackup({ restoreFrom: sourceDir, targetTime: "2020-01-01T00:00:00Z" }),
        /target\.time: .* is before the end of the first backup/,
      );
      await refused(localFromBackup({ restoreFrom: sourceDir, targetTime: "2999-01-01T00:00:00Z" }), /target\.time: .* is in the future/);
      const src = localFromBackup({ restoreFrom: sourceDir })!;
      await refused({ ...src, stanza: "nope" }, /stanza: no stanza "nope" .*stanzas there: local/);
      const repo = { ...src.repo, credentials: { source: "keyFile" as const, file: path.join(path.dirname(dir), "missing-keys.json") } };
      await refused({ ...src, repo }, /repo\.credentials\.file: cannot read .*missing-keys\.json/);
    } finally {
      fs.rmSync(path.dirname(dir), { recursive: true, force: true });
    }
  });
});
