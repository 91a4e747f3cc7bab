/**
 * `npm run bench:commit [-- --runs 3] [--seconds 20] [--modes off,on,quorum] [--clients 1,8] [--json]`
 *
 * What synchronous replication costs a commit: one local cluster per synchronous mode ("quorum" with
 * k = 1: any one of the two standbys), pgbench's
 * TPC-B-like transaction through the proxy, with 1 and 8 clients; prints TPS and latency (average
 * and p99, from pgbench's per-transaction log), the median of N runs each. Never asserts.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Command } from "commander";
import { findPgBinDir } from "../../sidecar/postgres/bin";
import { localUp, newTable } from "../../local/cluster";
import { SYNCHRONOUS_MODES as SYNC_MODES, type SynchronousMode as SyncMode } from "../../sidecar/contract/settings/schema";
import { percentile } from "../../sidecar/ha/renewal-stats";
import { tempClusterWithTeardown } from "../helpers/temp-cluster";

const progress = (s: string) => process.stderr.write(`[commit ${new Date().toISOString().slice(11, 19)}] ${s}\n`);

interface RunFigures {
  tps: number;
  avgMs: number;
  p99Ms: number;
}

function run(bin: string, args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const ch = spawn(bin, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    ch.stdout.on("data", (d: Buffer) => (out += d.toString()));
    ch.stderr.on("data", (d: Buffer) => (err += d.toString()));
    ch.once("exit", (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${path.basename(bin)} ${args[0]} failed: ${err.trim().slice(-400)}`)),
    );
  });
}

/** One pgbench run; latencies come from its per-transaction log (-l: column 3 is the latency in µs). */
async function pgbenchRun(bin: string, dsn: string, clients: number, seconds: number): Promise<RunFigures> {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "hapg-commit-"));
  try {
    const out = await run(bin, ["-n", "-l", "-c", String(clients), "-j", String(Math.min(clients, 2)), "-T", String(seconds), dsn], cwd);
    const tps = Number(/tps = ([\d.]+)/.exec(out)?.[1]);
    const lat: number[] = [];
    for (const f of fs.readdirSync(cwd).filter((x) => x.startsWith("pgbench_log"))) {
      for (const line of fs.readFileSync(path.join(cwd, f), "utf8").split("\n")) {
        const us = Number(line.split(" ")[2]);
        if (Number.isFinite(us) && line) lat.push(us / 1000);
      }
    }
    lat.sort((a, b) => a - b);
    const avg = lat.reduce((a, b) => a + b, 0) / Math.max(1, lat.length);
    return { tps: Math.round(tps), avgMs: round(avg), p99Ms: round(percentile(lat, 0.99) ?? NaN) };
  } finally {
    fs.rmSync(cwd, { recursive: true, force: true });
  }
}

const round = (x: number) => Math.round(x * 100) / 100;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : round((s[m - 1] + s[m]) / 2);
};

async function main(): Promise<void> {
  const opts = new Command("bench:commit")
    .option("--runs <n>", "pgbench runs per mode and client count (the median is shown)", (v) => Number(v), 3)
    .option("--seconds <n>", "length of one pgbench run", (v) => Number(v), 20)
    .option("--modes <list>", `synchronous modes to compare (${SYNC_MODES.join(", ")})`, "off,on,quorum")
    .option("--clients <list>", "pgbench client counts", "1,8")
    .option("--base-port <port>", "first port of the local cluster (P..P+299)", (v) => Number(v), 31400)
    .option("--json", "print only the JSON on stdout (progress stays on stderr)")
    .parse(process.argv)
    .opts<{ runs: number; seconds: number; modes: string; clients: string; basePort: number; json?: boolean }>();
  const modes = opts.modes.split(",").map((m) => m.trim()) as SyncMode[];
  for (const m of modes) if (!SYNC_MODES.includes(m)) throw new Error(`--modes: "${m}" is not one of ${SYNC_MODES.join(", ")}`);
  const clients = opts.clients.split(",").map(Number);
  if (clients.some((c) => !Number.isInteger(c) || c < 1))
    throw new Error("--clients: a comma-separated list of positive integers, e.g. 1,8");
  const pgbench = path.join(findPgBinDir(), "pgbench");

  const rows: { mode: SyncMode; clients: number; runs: RunFigures[]; median: RunFigures }[] = [];
  for (const mode of modes) {
    const { dir, teardown } = tempClusterWithTeardown("hapg-commit-", progress);
    try {
      progress(`synchronous mode ${mode}: starting a 3-node cluster (base port ${opts.basePort})`);
      const c = await localUp({ dir, basePort: opts.basePort, synchronousMode: mode, progress: (l) => progress(`up: ${l}`) });
      await run(pgbench, ["-i", "-q", "-s", "10", c.dsn], os.tmpdir());
      for (const n of clients) {
        const runs: RunFigures[] = [];
        for (let i = 1; i <= opts.runs; i++) {
          const r = await pgbenchRun(pgbench, c.dsn, n, opts.seconds);
          progress(`mode ${mode}, ${n} client(s), run ${i}/${opts.runs}: ${r.tps} TPS, avg ${r.avgMs} ms, p99 ${r.p99Ms} ms`);
          runs.push(r);
        }
        rows.push({
          mode,
          clients: n,
          runs,
          median: { tps: median(runs.map((r) => r.tps)), avgMs: median(runs.map((r) => r.avgMs)), p99Ms: median(runs.map((r) => r.p99Ms)) },
        });
      }
    } finally {
      await teardown();
    }
  }
  if (!opts.json) {
    console.log(`Commit cost: pgbench (TPC-B-like, scale 10) through the proxy, 3 nodes, median of ${opts.runs} × ${opts.seconds} s`);
    const t = newTable(["synchronous mode", "clients", "TPS", "latency avg ms", "latency p99 ms"]);
    for (const r of rows) t.push([r.mode, r.clients, r.median.tps, r.median.avgMs, r.median.p99Ms]);
    console.log(t.toString());
  }
  console.log(JSON.stringify({ runs: opts.runs, seconds: opts.seconds, rows }, null, opts.json ? 2 : undefined));
}

main().catch((e: unknown) => {
  console.error(`bench:commit: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
