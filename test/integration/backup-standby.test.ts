/**
 * Backups taken on a replica (pgBackRest backup-from-standby) on a real local cluster with `--backup`:
 * every node runs pgBackRest's TLS server (a child of its agent, certificates made by `hapg local up`);
 * `hapg backup` with the default fromStandby is taken on the streaming replica, which reads the data
 * files itself and reaches the primary only to start and stop the backup and for the files a standby
 * lacks; a point-in-time restore from that backup finds exactly the rows committed before its target;
 * and when the replica cannot reach the primary's server, the leader takes the backup.
 */
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { backupPaths } from "../../sidecar/contract/backup-config";
import { EtcdDcs } from "../../sidecar/dcs/etcd";
import { clusterPrefix } from "../../sidecar/dcs/types";
import { localDown, localUp } from "../../local/cluster";
import { tempClusterDir } from "../../local/demo";
import { keepNodeLogs, waitHealthy } from "../../local/faults";
import { archiveNow } from "../../local/pitr";
import { type ClusterFile, findNode } from "../../local/state";
import { findPgBinDir } from "../../sidecar/postgres/bin";
import { backupView, pgbackrest } from "../helpers/backup";
import { nodeDsn } from "../helpers/node-dsn";
import { eventually, query } from "../helpers/pg-client";

// Port block 17200-17499 (below the ephemeral range 32768-60999): the cluster at P (its TLS servers at P+60..), the restored copy at P+290.
const BASE_PORT = 17200;
const RESTORED_PORT = 35390;
const CLI = path.join(__dirname, "../../sidecar/cli/main.js");

/** The CLI as a user runs it; asynchronous, so the test's own HTTP connections stay served meanwhile. */
function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 180_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

/** Runs a PostgreSQL tool as the owner of the node directories (the agents' user). */
function asOwner(c: ClusterFile, tool: string, args: string[]): { code: number | null; out: string } {
  const st = fs.statSync(path.dirname(findNode(c, "node1").dataDir));
  const r = spawnSync("setpriv", ["--reuid", String(st.uid), "--regid", String(st.gid), "--clear-groups", tool, ...args], {
    encoding: "utf8",
    timeout: 120_000,
    cwd: "/",
  });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

async function insert(dsn: string, from: number, to: number): Promise<string> {
  for (let id = from; id <= to; id++) await query(dsn, "INSERT INTO orders (id) VALUES ($1)", [id]);
  const [{ t }] = await query<{ t: string }>(
    dsn,
    `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00' AS t`,
  );
  return t;
}

describe("backups taken on a replica (pgBackRest backup-from-standby, s3rver)", function () {
  this.timeout(300_000);
  let dir: string;
  let c: ClusterFile;
  let leader: string;
  let replica: string;
  let label: string;
  let failed = false;

  before(async () => {
    dir = tempClusterDir("hapg-itest-backup-standby-");
    c = await localUp({ dir, nodes: 2, etcd: 1, basePort: BASE_PORT, synchronousMode: "off", backup: true, timeoutMs: 150_000 });
    leader = await waitHealthy(dir, 60_000);
    replica = c.nodes.find((n) => n.name !== leader)!.name;
    await eventually("the first full backup, on the leader", 90_000, async () => {
      const v = await backupView(c, leader);
      return v.claim?.slot === "initial" && v.claim.state === "done" ? v.claim : undefined;
    });
    await eventually("the replica reaching the leader's pgBackRest TLS server", 60_000, async () => {
      const v = await backupView(c, replica);
      return v.server?.reaches === leader ? v : undefined;
    });
  });
  afterEach(function () {
    if (this.currentTest?.state === "failed") failed = true;
  });
  after(async () => {
    if (failed && c) for (const n of c.nodes) console.error(`logs kept in ${keepNodeLogs(dir, n.name, "backup-standby")}`);
    await localDown(dir).catch((e) => console.error(`localDown: ${(e as Error).message}`));
    fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  });

  it("every node runs its TLS server; hapg backup is taken on the replica, which reads the data files itself", async () => {
    for (const n of c.nodes) assert.equal((await backupView(c, n.name)).server?.running, true, `${n.name}'s pgBackRest TLS server runs`);
    const primary = nodeDsn(c, findNode(c, leader));
    await query(primary, "CREATE TABLE orders (id int PRIMARY KEY)");
    await insert(primary, 1, 10);

    const taken = await cli(["backup", "--type", "full", "--dir", dir]);
    assert.equal(taken.code, 0, `${taken.stdout}\n${taken.stderr}`);
    assert.match(taken.stdout, new RegExp(`full backup started on ${replica}`), "the CLI names the replica");
    // The CLI follows the member's own view; the end reaches etcd's backup key a moment later.
    const claim = await eventually("the slot recorded as done in etcd", 30_000, async () => {
      const k = (await backupView(c, leader)).claim;
      return k?.state === "done" ? k : undefined;
    });
    assert.equal(claim.member, replica, "the backup key names the replica");
    label = claim.label!;
    assert.match(label, /F$/);

    // pgBackRest's own record of the backup: taken with backup-standby.
    const info = pgbackrest(c, leader, ["repo-get", "backup/local/backup.info"]);
    assert.equal(info.code, 0, info.out);
    const line = info.out.split("\n").find((l) => l.startsWith(`${label}=`));
    assert.ok(line, `${label} in backup.info`);
    assert.equal((JSON.parse(line.slice(label.length + 1)) as Record<string, unknown>)["option-backup-standby"], true);

    // Where each file was read (the replica's log file): the primary gave only what a standby lacks.
    const log = fs.readFileSync(path.join(backupPaths(findNode(c, replica).dataDir).logDir, "local-backup.log"), "utf8");
    const files = log.split("\n").filter((l) => l.includes("backup file "));
    const fromPrimary = files.filter((l) => l.includes(`${findNode(c, leader).host}:${findNode(c, leader).dataDir}/`));
    const fromReplica = files.filter((l) => l.includes(`backup file ${findNode(c, replica).dataDir}/`));
    console.log(`      ${fromReplica.length} files read on the replica, ${fromPrimary.length} on the primary`);
    assert.ok(fromReplica.filter((l) => l.includes("/base/")).length > 100, "the relation files come from the replica");
    assert.ok(fromPrimary.length > 0, "pg_control and the configuration files come from the primary");
    for (const l of fromPrimary) assert.doesNotMatch(l, /\/(base|pg_xact|pg_multixact)\//, `no data file from the primary: ${l}`);
  });

  it("a point-in-time restore from the replica's backup finds exactly the rows committed before its target", async () => {
    const primary = nodeDsn(c, findNode(c, leader));
    const target = await insert(primary, 11, 20);
    await new Promise((r) => setTimeout(r, 50));
    await insert(primary, 21, 30);
    await archiveNow(primary, 60_000);

    // A directory of the agents' user for the restored copy: its data, socket and log.
    const st = fs.statSync(path.dirname(findNode(c, leader).dataDir));
    const base = path.join(path.dirname(dir), "pitr");
    const restored = path.join(base, "data");
    const sock = path.join(base, "sock");
    for (const d of [base, restored, sock]) {
      fs.mkdirSync(d, { mode: 0o700 });
      fs.chownSync(d, st.uid, st.gid);
    }
    const r = pgbackrest(c, replica, [
      "restore",
      `--set=${label}`,
      "--type=time",
      `--target=${target}`,
      "--target-action=promote",
      `--pg1-path=${restored}`,
    ]);
    assert.equal(r.code, 0, r.out);
    const opts = `-p ${RESTORED_PORT} -k ${sock} -c listen_addresses='' -c archive_mode=off -c hot_standby=on`;
    const pgCtl = path.join(findPgBinDir(undefined), "pg_ctl");
    const started = asOwner(c, pgCtl, ["-D", restored, "-o", opts, "-l", path.join(base, "pg.log"), "-w", "-t", "60", "start"]);
    try {
      assert.equal(
        started.code,
        0,
        `${started.out}\n${fs.existsSync(path.join(base, "pg.log")) ? fs.readFileSync(path.join(base, "pg.log"), "utf8") : ""}`,
      );
      const dsn = `postgresql://postgres:${encodeURIComponent(new URL(c.dsn).password)}@/postgres?host=${sock}&port=${RESTORED_PORT}`;
      await eventually("the restored copy promoted at its target", 60_000, async () => {
        const [x] = await query<{ r: boolean }>(dsn, "SELECT pg_is_in_recovery() AS r");
        return x.r ? undefined : true;
      });
      const rows = await query<{ n: number; max: number }>(dsn, "SELECT count(*)::int AS n, max(id) AS max FROM orders");
      assert.deepEqual(rows[0], { n: 20, max: 20 }, "the rows committed before the target, none after");
    } finally {
      asOwner(c, pgCtl, ["-D", restored, "-m", "immediate", "-w", "stop"]);
    }
  });

  it("when the replica cannot reach the primary's TLS server, the leader takes the backup", async () => {
    const dcs = new EtcdDcs({ endpoints: c.etcd.map((e) => e.clientUrl), prefix: clusterPrefix("service", "local"), timeoutMs: 3000 });
    const pid = (await backupView(c, leader)).server?.pid;
    assert.ok(pid, "the leader's server runs");
    process.kill(pid, "SIGSTOP"); // it accepts connections (the kernel's backlog) but answers none
    try {
      await eventually("the replica's member key no longer saying it reaches the leader's server", 60_000, async () => {
        const m = (await dcs.load()).members.find((x) => x.name === replica);
        return m?.data.pgbackrest && m.data.pgbackrest.reaches === undefined ? m : undefined;
      });
      const taken = await cli(["backup", "--type", "diff", "--dir", dir]);
      assert.equal(taken.code, 0, `${taken.stdout}\n${taken.stderr}`);
      assert.match(taken.stdout, new RegExp(`diff backup started on ${leader}`));
    } finally {
      process.kill(pid, "SIGCONT");
      await dcs.close();
    }
    await eventually("the replica reaching it again", 60_000, async () => {
      const v = await backupView(c, replica);
      return v.server?.reaches === leader ? v : undefined;
    });
  });
});
