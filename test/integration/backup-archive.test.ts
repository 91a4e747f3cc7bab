/**
 * Continuous archiving and backups on a real local cluster with `--backup`: etcd, PostgreSQL, the
 * agents, pgBackRest and an S3 server (s3rver over HTTPS on 127.0.0.1). One cluster for every case:
 * the first full backup right after bootstrap and `hapg backup` / `hapg backup list`; an S3 outage
 * that loses no WAL and heals by itself; archiving that goes on from the new leader after a failover
 * (the new timeline's WAL and history file reach the repository, `pgbackrest check` passes).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import type { ArchiveStatus } from "../../sidecar/backup/archive-status";
import { localDown, localUp } from "../../local/cluster";
import { tempClusterDir } from "../../local/demo";
import { keepNodeLogs, killNode, waitHealthy } from "../../local/faults";
import { type ClusterFile, findNode, httpGet } from "../../local/state";
import { backupView, pgbackrest, repoInfo, startClusterS3, stopClusterS3 } from "../helpers/backup";
import { nodeDsn } from "../helpers/node-dsn";
import { eventually, query } from "../helpers/pg-client";

const BASE_PORT = 16000; // below the ephemeral range (32768-60999): a client socket cannot take it
const CLI = path.join(__dirname, "../../sidecar/cli/main.js");

function cli(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function archiveOf(c: ClusterFile, node: string): Promise<ArchiveStatus | undefined> {
  const r = await httpGet(`${findNode(c, node).apiUrl}/patroni`, 3000);
  return (r.body as { archive?: ArchiveStatus }).archive;
}

/** Writes a row and switches WAL on the node; returns the segment that was switched away from. */
async function writeAndSwitch(c: ClusterFile, node: string, v: string): Promise<string> {
  const dsn = nodeDsn(c, findNode(c, node));
  await query(dsn, "CREATE TABLE IF NOT EXISTS t (v text)");
  await query(dsn, "INSERT INTO t VALUES ($1)", [v]);
  const [r] = await query<{ wal: string }>(dsn, "SELECT pg_walfile_name(pg_switch_wal()) AS wal");
  return r.wal;
}

describe("archiving and backups on a real cluster (pgBackRest, s3rver)", function () {
  this.timeout(300_000);
  let dir: string;
  let c: ClusterFile;
  let leader: string;
  let failed = false;

  before(async () => {
    dir = tempClusterDir("hapg-itest-backup-");
    c = await localUp({ dir, basePort: BASE_PORT, synchronousMode: "off", backup: true, timeoutMs: 150_000 });
    leader = await waitHealthy(dir, 60_000);
  });
  afterEach(function () {
    if (this.currentTest?.state === "failed") failed = true;
  });
  after(async () => {
    if (failed && c) for (const n of c.nodes) console.error(`logs kept in ${keepNodeLogs(dir, n.name, "backup")}`);
    await localDown(dir).catch((e) => console.error(`localDown: ${(e as Error).message}`));
    fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  });

  it("takes a full backup right after bootstrap; hapg backup takes a differential; hapg backup list shows both", async () => {
    const first = await eventually("the first full backup", 60_000, async () => {
      const v = await backupView(c, leader);
      return v.claim?.slot === "initial" && v.claim.state === "done" ? v.claim : undefined;
    });
    assert.equal(first.type, "full");
    assert.equal(first.member, leader, "the first backup is taken on the leader (no replica streams yet)");

    const taken = cli(["backup", "--type", "diff", "--dir", dir]);
    assert.equal(taken.code, 0, taken.stderr);
    assert.match(taken.stdout, /diff backup started on /);
    assert.match(taken.stdout, /backup \S+D done in \d+ s/);

    const list = cli(["backup", "list", "--dir", dir, "--json"]);
    assert.equal(list.code, 0, list.stderr);
    const rows = JSON.parse(list.stdout) as { label: string; type: string; size: number; wal_start: string; wal_stop: string }[];
    assert.deepEqual(
      rows.map((r) => r.type),
      ["full", "diff"],
    );
    for (const r of rows) {
      assert.ok(r.size > 0, `${r.label} has a size`);
      assert.match(r.wal_start, /^[0-9A-F]{24}$/);
      assert.ok(r.wal_stop >= r.wal_start);
    }
    const table = cli(["backup", "list", "--dir", dir]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /Stanza: local/);
    assert.match(table.stdout, new RegExp(rows[1].label));
  });

  it("keeps the WAL while S3 is down, says why, and archives it by itself once S3 is back", async () => {
    await stopClusterS3(dir);
    let segment: string;
    try {
      segment = await writeAndSwitch(c, leader, "during the outage");
      const failing = await eventually("archiving to fail", 60_000, async () => {
        const a = await archiveOf(c, leader);
        return a?.problem ? a : undefined;
      });
      assert.ok(failing.ready_count >= 1, `the segment waits in pg_wal (${failing.ready_count} ready)`);
      assert.match(failing.problem!, /WAL is kept/);
      const list = cli(["list", "--dir", dir]);
      assert.match(list.stdout, /WAL archive FAILING/);
      assert.ok(fs.existsSync(path.join(findNode(c, leader).dataDir, "pg_wal", segment)), `${segment} is still in pg_wal`);
    } finally {
      await startClusterS3(dir); // also when an assertion failed: the next case needs S3
    }
    const healed = await eventually("archiving to resume", 90_000, async () => {
      const a = await archiveOf(c, leader);
      return a && !a.problem && a.ready_count === 0 && (a.last_archived_wal ?? "") >= segment ? a : undefined;
    });
    assert.ok(healed.last_archived_wal! >= segment);
    const info = await repoInfo(c, leader);
    assert.ok((info.archive?.max ?? "") >= segment, `the repository holds ${segment} (max ${info.archive?.max})`);
  });

  it("archives from the new leader after a failover: its history file and new timeline reach the repository", async () => {
    killNode(dir, leader);
    const next = await eventually("a new leader", 60_000, async () => {
      const r = await httpGet(`${c.nodes.find((n) => n.name !== leader)!.apiUrl}/cluster`, 2000).catch(() => undefined);
      const m = (r?.body as { members?: { name: string; role: string; state: string }[] })?.members?.find((x) => x.role === "leader");
      return m && m.name !== leader && m.state === "running" ? m.name : undefined;
    });
    const segment = await writeAndSwitch(c, next, "after the failover");
    assert.ok(segment.startsWith("00000002"), `the new leader writes timeline 2 (${segment})`);
    await eventually("the new timeline archived", 60_000, async () => {
      const a = await archiveOf(c, next);
      return a && (a.last_archived_wal ?? "") >= segment ? a : undefined;
    });
    const ls = pgbackrest(c, next, ["repo-ls", "--recurse", "archive/local"]);
    assert.equal(ls.code, 0, ls.out);
    assert.match(ls.out, /00000002\.history/);
    assert.match(ls.out, new RegExp(`${segment}-[0-9a-f]{40}`));
    const check = pgbackrest(c, next, ["check"]);
    assert.equal(check.code, 0, `pgbackrest check: ${check.out}`);
  });
});
