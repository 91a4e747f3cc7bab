/**
 * `hapg local demo --pitr`: a point-in-time restore in one command. A cluster archives to its local
 * S3 server; a table is filled, then dropped by mistake; a new cluster is restored next to it to a
 * second before the DROP, and the rows are back. Both are torn down at the end (unless --keep).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { formatStatus, localDown, localStatus, localUp, newTable } from "./cluster";
import { tempClusterDir } from "./demo";
import { archiveNow, sql, waitForBackups } from "./pitr";
import { localFromBackup } from "./restore";
import { DEFAULT_BASE_PORT } from "./layout";

export interface PitrDemoOptions {
  dir?: string;
  basePort?: number;
  keep: boolean;
  out?: (line: string) => void;
}

/** The restored cluster's ports: 30 above the source's (see the layout: both fit in P..P+299). */
export const RESTORED_PORT_OFFSET = 30;

const ROWS = 1000;

export async function runPitrDemo(o: PitrDemoOptions): Promise<void> {
  const out = o.out ?? ((l: string) => console.log(l));
  const dir = o.dir ?? tempClusterDir("hapg-demo-pitr-");
  const restoredDir = `${dir}-restored`;
  const basePort = o.basePort ?? DEFAULT_BASE_PORT;
  const t0 = Date.now();
  const step = (n: number, s: string) => out(`\n[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${n}/6 ${s}`);
  const say = (l: string) => out(`    ${l}`);
  let failed = true;
  const interrupted = () => {
    out("\ninterrupted: tearing down");
    void teardown(true).finally(() => process.exit(130));
  };
  const teardown = async (keepFiles: boolean) => {
    for (const d of [restoredDir, dir]) {
      if (fs.existsSync(path.join(d, "cluster.json")))
        await localDown(d, say, { keepFiles }).catch((e) => say(`down ${d}: ${(e as Error).message}`));
    }
  };
  process.once("SIGINT", interrupted);
  try {
    step(1, `Starting a cluster that archives to a local S3 server (s3rver) in ${dir}`);
    const c = await localUp({ dir, basePort, backup: true, progress: say });
    const first = await waitForBackups(dir, 1, 180_000);
    say(`first full backup: ${first.backups[0].label} (${(first.backups[0].repoSize / 1e6).toFixed(1)} MB in the repository)`);

    step(2, `Writing ${ROWS} orders through the proxy ${c.proxy.host}:${c.proxy.port}`);
    await sql(c.dsn, "CREATE TABLE orders (id int PRIMARY KEY, item text NOT NULL)");
    await sql(c.dsn, `INSERT INTO orders SELECT g, 'item ' || g FROM generate_series(1, ${ROWS}) g`);
    say(`orders: ${(await count(c.dsn)) ?? "?"} rows`);
    await new Promise((r) => setTimeout(r, 1000));
    const [{ t }] = await sql<{ t: string }>(
      c.dsn,
      `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS t`,
    );
    await new Promise((r) => setTimeout(r, 1500));

    step(3, "Oops: DROP TABLE orders");
    await sql(c.dsn, "DROP TABLE orders");
    say(`orders: ${(await count(c.dsn)) === undefined ? "gone" : "still there?"}`);
    const wal = await archiveNow(c.dsn, 120_000);
    say(`WAL up to the DROP is in the archive (segment ${wal})`);

    step(4, `Restoring a new cluster to ${t}, a second before the DROP: hapg local up --restore-from ${dir} --target-time ${t}`);
    const restore = localFromBackup({ restoreFrom: dir, targetTime: t });
    const tr = Date.now();
    const r = await localUp({ dir: restoredDir, basePort: basePort + RESTORED_PORT_OFFSET, nodes: 2, etcd: 1, restore, progress: say });
    const restoredMs = Date.now() - tr;

    step(5, "The rows are back");
    const back = await count(r.dsn);
    const table = newTable();
    table.push(
      { "restored to": t },
      { "orders in the restored cluster": back ?? "table missing" },
      { "orders in the original cluster": (await count(c.dsn)) ?? "gone (dropped)" },
      { "restore took (both members streaming)": `${(restoredMs / 1000).toFixed(1)} s` },
      { "restored cluster": `psql '${r.dsn.replace(/:[^:@/]+@/, ":***@")}'` },
    );
    out(table.toString());
    out(formatStatus(await localStatus(restoredDir)));
    if (back !== ROWS) throw new Error(`expected ${ROWS} orders in the restored cluster, found ${back ?? "no table"}`);
    failed = false;
    if (o.keep) step(6, `Leaving both running (--keep): hapg local down --dir ${restoredDir}; hapg local down --dir ${dir}`);
  } finally {
    process.removeListener("SIGINT", interrupted);
    if (failed) {
      step(6, "Stopping everything (the demo failed; data and logs stay for reading)");
      await teardown(true);
      out(`    logs: ${dir}, ${restoredDir}; remove with: rm -rf ${path.dirname(dir)}`);
    } else if (!o.keep) {
      step(6, "Tearing down both clusters");
      await teardown(false);
      if (!o.dir) fs.rmSync(path.dirname(dir), { recursive: true, force: true });
      out("\nDone.");
    }
  }
}

async function count(dsn: string): Promise<number | undefined> {
  try {
    const [{ n }] = await sql<{ n: string }>(dsn, "SELECT count(*) AS n FROM orders");
    return Number(n);
  } catch (e) {
    if (/does not exist/.test((e as Error).message)) return undefined;
    throw e;
  }
}
