/**
 * `npm run bench:backup [-- --runs 3] [--scale 50] [--rpo-seconds 70] [--json]`
 *
 * Backup figures on a local cluster that archives to its S3 server (s3rver, pgBackRest, lz4), with
 * a pgbench database of the given scale (50 ≈ 750 MB): full backup time and size, restore time and
 * size, the recovery point (largest gap between an acknowledged commit and its WAL being in the
 * archive, under a steady pgbench load), and the time to rebuild a replica from the archive versus a
 * base backup from the primary. The median of N runs each; prints a table. Never asserts.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { Command } from "commander";
import { backupPaths, resolvedRepo } from "../../sidecar/contract/backup-config";
import { validateAgentConfig } from "../../sidecar/contract/agent-config";
import { serviceOwner } from "../../local/agents";
import { localUp, newTable } from "../../local/cluster";
import { restartNode, waitForPrimary, waitHealthy } from "../../local/faults";
import { localBackups, sql, waitForBackups } from "../../local/pitr";
import { fetchCluster, findNode, readClusterFile, type ClusterFile } from "../../local/state";
import { findPgBinDir } from "../../sidecar/postgres/bin";
import { isRunning, runTool } from "../../sidecar/postgres/process";
import { tempClusterWithTeardown } from "../helpers/temp-cluster";

const progress = (s: string) => process.stderr.write(`[backup ${new Date().toISOString().slice(11, 19)}] ${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`;
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

function run(bin: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const ch = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
    let out = "";
    let err = "";
    ch.stdout.on("data", (d: Buffer) => (out += d.toString()));
    ch.stderr.on("data", (d: Buffer) => (err += d.toString()));
    ch.once("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`${path.basename(bin)} failed: ${err.trim().slice(-400)}`))));
  });
}

/** pgBackRest with a node's own config, as the user the agents run as (its files are theirs). */
async function pgbackrest(c: ClusterFile, node: string, args: string[]): Promise<string> {
  const n = findNode(c, node);
  const config = validateAgentConfig(JSON.parse(fs.readFileSync(path.join(path.dirname(n.dataDir), "agent.json"), "utf8")));
  const stanza = resolvedRepo(config.backup!, config.cluster).stanza;
  const owner = serviceOwner();
  const r = await runTool(
    "pgbackrest",
    [`--config=${backupPaths(n.dataDir).confFile}`, `--stanza=${stanza}`, "--log-level-file=off", ...args],
    {
      runAs: owner ? { uid: owner.uid, gid: owner.gid } : undefined,
    },
  );
  if (r.code !== 0) throw new Error(`pgbackrest ${args.join(" ")}: ${(r.stderr || r.stdout).trim().slice(-400)}`);
  return r.stdout;
}

function duBytes(dir: string): number {
  let total = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) total += duBytes(p);
    else if (e.isFile()) total += fs.statSync(p).size;
  }
  return total;
}

interface Figures {
  backupMs: number;
  dbBytes: number;
  backupBytes: number;
  restoreMs: number;
  restoredBytes: number;
}

/** A full backup on the primary, then a restore of it into a scratch directory: times and sizes. */
async function backupAndRestore(c: ClusterFile, dir: string, primary: string): Promise<Figures> {
  const t0 = Date.now();
  await pgbackrest(c, primary, ["--type=full", "backup"]);
  const backupMs = Date.now() - t0;
  const info = await localBackups(dir, primary);
  const last = info.backups.at(-1)!;
  const scratch = path.join(dir, "bench-restore");
  fs.rmSync(scratch, { recursive: true, force: true });
  fs.mkdirSync(scratch, { mode: 0o700 });
  const owner = serviceOwner();
  if (owner) fs.chownSync(scratch, owner.uid, owner.gid);
  const t1 = Date.now();
  await pgbackrest(c, primary, [`--pg1-path=${scratch}`, `--set=${last.label}`, "--type=immediate", "restore"]);
  const restoreMs = Date.now() - t1;
  const restoredBytes = duBytes(scratch);
  fs.rmSync(scratch, { recursive: true, force: true });
  return { backupMs, dbBytes: last.size, backupBytes: last.repoSize, restoreMs, restoredBytes };
}

/**
 * The recovery point under a steady pgbench load: a probe commits a row every 200 ms through the
 * proxy and notes its WAL segment once acknowledged; another connection watches pg_stat_archiver.
 * The gap of a commit is from its acknowledgement to the first look that finds its segment archived.
 * One load of `windows` × `seconds`; the largest gap of each window (by acknowledgement time).
 */
async function recoveryPoint(c: ClusterFile, pgbench: string, seconds: number, windows: number): Promise<number[]> {
  await sql(c.dsn, "CREATE TABLE IF NOT EXISTS rpo_probe (id bigserial PRIMARY KEY, at timestamptz DEFAULT clock_timestamp())");
  const start = Date.now();
  const end = start + windows * seconds * 1000;
  const load = run(pgbench, ["-n", "-c", "2", "-j", "1", "-R", "200", "-T", String(windows * seconds), c.dsn]);
  const pending: { seg: string; ackAt: number }[] = [];
  const maxGap = Array.from({ length: windows }, () => 0);
  const record = (p: { ackAt: number }, at: number) => {
    const w = Math.min(windows - 1, Math.floor((p.ackAt - start) / (seconds * 1000)));
    maxGap[w] = Math.max(maxGap[w], at - p.ackAt);
  };
  let producing = true;
  const watcher = (async () => {
    // After the load the last segment is closed by archive_timeout, which the gap includes.
    while (producing || (pending.length && Date.now() < end + 180_000)) {
      const [a] = await sql<{ last: string | null }>(c.dsn, "SELECT last_archived_wal AS last FROM pg_stat_archiver");
      const now = Date.now();
      const archived = a.last?.slice(0, 24) ?? "";
      while (pending.length && archived >= pending[0].seg) record(pending.shift()!, now);
      await sleep(100);
    }
  })();
  while (Date.now() < end) {
    await sql(c.dsn, "INSERT INTO rpo_probe DEFAULT VALUES");
    const ackAt = Date.now();
    const [{ seg }] = await sql<{ seg: string }>(c.dsn, "SELECT pg_walfile_name(pg_current_wal_insert_lsn()) AS seg");
    pending.push({ seg, ackAt });
    await sleep(200);
  }
  producing = false;
  await load;
  await watcher;
  for (const p of pending) record(p, Date.now()); // never archived within 3 minutes: counted as that long
  return maxGap;
}

/** Re-creates a replica's data directory from scratch and times it until it streams; `fromArchive` keeps its backup section. */
async function rebuildReplica(dir: string, node: string, fromArchive: boolean): Promise<number> {
  const c = readClusterFile(dir);
  const n = findNode(c, node);
  const configFile = path.join(path.dirname(n.dataDir), "agent.json");
  const original = fs.readFileSync(configFile, "utf8");
  process.kill(n.agentPid, "SIGTERM");
  while (isRunning(n.agentPid)) await sleep(100);
  try {
    if (!fromArchive) {
      const { backup: _drop, ...rest } = JSON.parse(original) as Record<string, unknown>;
      fs.writeFileSync(configFile, JSON.stringify(rest, null, 2));
    }
    for (const e of fs.readdirSync(n.dataDir)) fs.rmSync(path.join(n.dataDir, e), { recursive: true, force: true });
    // The stopped agent's member key lives until its lease expires: until then the cluster still looks healthy.
    for (;;) {
      const m = (await fetchCluster(c))?.members.find((x) => x.name === node);
      if (!m || m.state !== "streaming") break;
      await sleep(200);
    }
    const logFile = path.join(path.dirname(n.dataDir), "agent.log");
    const logFrom = fs.statSync(logFile).size;
    const t0 = Date.now();
    restartNode(dir, node);
    await waitHealthy(dir, 600_000);
    const ms = Date.now() - t0;
    // Which way it went, from what the agent logged: a figure taken the wrong way would mislead.
    const log = fs.readFileSync(logFile, "utf8").slice(logFrom);
    const way = /replica restored from backup/.test(log) ? "archive" : /pg_basebackup/.test(log) ? "base backup" : "unknown";
    if (way !== (fromArchive ? "archive" : "base backup"))
      throw new Error(`${node} was rebuilt from: ${way} (expected ${fromArchive ? "archive" : "base backup"})`);
    return ms;
  } finally {
    fs.writeFileSync(configFile, original);
    if (!fromArchive) {
      // Back on the original config (with its backup section) for the next run.
      const again = findNode(readClusterFile(dir), node);
      process.kill(again.agentPid, "SIGTERM");
      while (isRunning(again.agentPid)) await sleep(100);
      restartNode(dir, node);
      await waitHealthy(dir, 120_000);
    }
  }
}

async function main(): Promise<void> {
  const opts = new Command("bench:backup")
    .option("--runs <n>", "repetitions of each measurement (the median is shown)", (v) => Number(v), 3)
    .option("--scale <n>", "pgbench scale (50 ≈ 750 MB)", (v) => Number(v), 50)
    .option("--rpo-seconds <n>", "length of one steady-load window for the recovery point (one window per run)", (v) => Number(v), 65)
    .option("--base-port <port>", "first port of the local cluster (P..P+299)", (v) => Number(v), 17600)
    .option("--parts <list>", "what to measure: backup, rpo, rebuild", "backup,rpo,rebuild")
    .option("--json", "print only the JSON on stdout (progress stays on stderr)")
    .parse(process.argv)
    .opts<{ runs: number; scale: number; rpoSeconds: number; basePort: number; parts: string; json?: boolean }>();
  const parts = new Set(opts.parts.split(",").map((p) => p.trim()));
  const bin = findPgBinDir();
  const { dir, teardown } = tempClusterWithTeardown("hapg-bench-backup-", progress);
  try {
    const c = await localUp({ dir, basePort: opts.basePort, nodes: 2, etcd: 1, backup: true, timeoutMs: 180_000, progress });
    await waitForBackups(dir, 1, 180_000);
    progress(`pgbench -i -s ${opts.scale}`);
    const ti = Date.now();
    await run(path.join(bin, "pgbench"), ["-i", "-q", "-s", String(opts.scale), c.dsn]);
    progress(`loaded in ${secs(Date.now() - ti)}`);
    const primary = await waitForPrimary(dir, { timeoutMs: 10_000 });
    const replica = c.nodes.find((n) => n.name !== primary)!.name;
    await waitHealthy(dir, 600_000);

    const figures: Figures[] = [];
    for (let i = 0; parts.has("backup") && i < opts.runs; i++) {
      const f = await backupAndRestore(c, dir, primary);
      progress(
        `run ${i + 1}: full backup ${secs(f.backupMs)} (${mb(f.backupBytes)} of ${mb(f.dbBytes)}), restore ${secs(f.restoreMs)} (${mb(f.restoredBytes)})`,
      );
      figures.push(f);
    }
    let rpo: number[] = [];
    if (parts.has("rpo")) {
      progress(`steady load: pgbench -R 200 for ${opts.runs} × ${opts.rpoSeconds} s, a probe commit every 200 ms`);
      rpo = await recoveryPoint(c, path.join(bin, "pgbench"), opts.rpoSeconds, opts.runs);
      progress(`largest commit → archive gap per ${opts.rpoSeconds} s window: ${rpo.map(secs).join(", ")}`);
    }
    const fromArchive: number[] = [];
    const fromPrimary: number[] = [];
    // A replica from the archive restores the newest backup: one of the loaded database.
    if (parts.has("rebuild") && figures.length === 0) await pgbackrest(c, primary, ["--type=full", "backup"]);
    for (let i = 0; parts.has("rebuild") && i < opts.runs; i++) {
      fromArchive.push(await rebuildReplica(dir, replica, true));
      progress(`run ${i + 1}: replica rebuilt from the archive in ${secs(fromArchive.at(-1)!)}`);
      fromPrimary.push(await rebuildReplica(dir, replica, false));
      progress(`run ${i + 1}: replica rebuilt from a base backup of the primary in ${secs(fromPrimary.at(-1)!)}`);
    }
    const config = validateAgentConfig(
      JSON.parse(fs.readFileSync(path.join(path.dirname(findNode(c, primary).dataDir), "agent.json"), "utf8")),
    );
    const m = (k: keyof Figures) => (figures.length ? median(figures.map((f) => f[k])) : undefined);
    const med = (xs: number[]) => (xs.length ? median(xs) : undefined);
    const result = {
      scale: opts.scale,
      runs: opts.runs,
      compressType: config.backup?.compressType,
      databaseBytes: m("dbBytes"),
      fullBackupMs: m("backupMs"),
      fullBackupBytes: m("backupBytes"),
      restoreMs: m("restoreMs"),
      restoredBytes: m("restoredBytes"),
      archiveTimeoutS: config.backupPolicy.archiveTimeout,
      recoveryPointMaxGapMs: med(rpo),
      rebuildFromArchiveMs: med(fromArchive),
      rebuildFromPrimaryMs: med(fromPrimary),
    };
    if (opts.json) {
      console.log(JSON.stringify(result, null, 2));
      return;
    }
    const t = newTable([`pgbench scale ${opts.scale}, median of ${opts.runs}`, "figure"]);
    const or = <T>(v: T | undefined, f: (x: T) => string) => (v === undefined ? "not measured" : f(v));
    const rp = result.recoveryPointMaxGapMs;
    t.push(
      ["database size", or(result.databaseBytes, mb)],
      [
        `full backup (${result.compressType}, in the repository)`,
        or(result.fullBackupMs, (x) => `${secs(x)}, ${mb(result.fullBackupBytes!)}`),
      ],
      ["restore of that backup (pgbackrest restore)", or(result.restoreMs, (x) => `${secs(x)}, ${mb(result.restoredBytes!)} on disk`)],
      [
        "recovery point: largest commit → archive gap under pgbench -R 200",
        or(
          rp,
          (x) => `${secs(x)} (archive_timeout ${result.archiveTimeoutS} s: ${x <= result.archiveTimeoutS * 1000 ? "within" : "beyond"})`,
        ),
      ],
      ["rebuild a replica from the archive (until it streams)", or(result.rebuildFromArchiveMs, secs)],
      ["rebuild a replica with a base backup from the primary", or(result.rebuildFromPrimaryMs, secs)],
    );
    console.log(t.toString());
  } finally {
    await teardown();
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
