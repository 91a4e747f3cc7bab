/**
 * `npm run bench:restart [-- --runs 5] [--modes on,off] [--json]`
 *
 * A rolling restart (`hapg restart --force --json`: the replicas one at a time, a switchover, the old
 * leader) of a 3-node local cluster under a writer through the proxy, N times per synchronous mode.
 * Prints, per run and as the median: how long it took, acknowledged writes lost (always checked),
 * and the longest pause between two acknowledged writes during the switchover step and outside it.
 * Never asserts a timing.
 */
import { execFile } from "node:child_process";
import * as path from "node:path";
import { Command } from "commander";
import { localUp, newTable } from "../../local/cluster";
import { waitHealthy, waitProxyWritable } from "../../local/health";
import { countLost, Writer } from "../../local/writer";
import { SYNCHRONOUS_MODES, type SynchronousMode } from "../../sidecar/contract/settings/schema";
import { tempClusterWithTeardown } from "../helpers/temp-cluster";
import { pausesAround } from "../helpers/write-pauses";

const CLI = path.join(__dirname, "../../sidecar/cli/main.js");
const progress = (s: string) => process.stderr.write(`[restart ${new Date().toISOString().slice(11, 19)}] ${s}\n`);

interface RunFigures {
  seconds: number;
  acked: number;
  lost: number;
  pauseDuringSwitchoverMs: number;
  pauseOutsideMs: number;
}

function hapg(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 300_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`hapg ${args.join(" ")}: ${stderr.trim() || err.message}`)) : resolve(stdout),
    );
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function oneRun(dir: string, dsn: string): Promise<RunFigures> {
  await waitHealthy(dir, 60_000);
  await waitProxyWritable(dsn, 30_000);
  const writer = new Writer(dsn);
  await writer.start();
  await new Promise((r) => setTimeout(r, 1000));
  const t0 = Date.now();
  const out = JSON.parse(await hapg(["restart", "--dir", dir, "--force", "--json"])) as {
    steps: { step: string; at: number; ms: number }[];
  };
  const t1 = Date.now();
  await new Promise((r) => setTimeout(r, 1000));
  const result = await writer.stop();
  const { lost } = await countLost(dsn, result.ackedIds);
  const sw = out.steps.find((s) => s.step === "switchover");
  const pauses = sw ? pausesAround(result.ackTimes, sw, t0, t1 + 1000) : { duringStep: 0, outsideStep: 0 };
  return {
    seconds: Math.round((t1 - t0) / 100) / 10,
    acked: result.ackedIds.length,
    lost,
    pauseDuringSwitchoverMs: pauses.duringStep,
    pauseOutsideMs: pauses.outsideStep,
  };
}

async function main(): Promise<void> {
  const opts = new Command("bench:restart")
    .option("--runs <n>", "rolling restarts per synchronous mode (the median is shown)", (v) => Number(v), 5)
    .option("--modes <list>", `synchronous modes (${SYNCHRONOUS_MODES.join(", ")})`, "on,off")
    .option("--base-port <port>", "first port of the local cluster (P..P+299)", (v) => Number(v), 32000)
    .option("--json", "print only the JSON on stdout (progress stays on stderr)")
    .parse(process.argv)
    .opts<{ runs: number; modes: string; basePort: number; json?: boolean }>();
  const modes = opts.modes.split(",").map((m) => m.trim()) as SynchronousMode[];
  for (const m of modes)
    if (!SYNCHRONOUS_MODES.includes(m)) throw new Error(`--modes: "${m}" is not one of ${SYNCHRONOUS_MODES.join(", ")}`);
  const rows: { mode: SynchronousMode; runs: RunFigures[] }[] = [];
  for (const mode of modes) {
    const { dir, teardown } = tempClusterWithTeardown("hapg-restart-bench-", progress);
    try {
      progress(`synchronous mode ${mode}: starting a 3-node cluster (base port ${opts.basePort})`);
      const c = await localUp({ dir, basePort: opts.basePort, synchronousMode: mode, progress: (l) => progress(`up: ${l}`) });
      const runs: RunFigures[] = [];
      for (let i = 1; i <= opts.runs; i++) {
        const r = await oneRun(dir, c.dsn);
        progress(
          `mode ${mode}, run ${i}/${opts.runs}: ${r.seconds} s, ${r.acked} acked, ${r.lost} lost, ` +
            `longest pause ${r.pauseDuringSwitchoverMs} ms in the switchover, ${r.pauseOutsideMs} ms outside`,
        );
        runs.push(r);
      }
      rows.push({ mode, runs });
    } finally {
      await teardown();
    }
  }
  if (!opts.json) {
    console.log(`Rolling restart of 3 nodes under a writer through the proxy, median of ${opts.runs} runs`);
    const t = newTable([
      "synchronous mode",
      "duration s",
      "acked writes lost (all runs)",
      "longest pause in the switchover ms",
      "longest pause outside ms",
    ]);
    for (const r of rows) {
      t.push([
        r.mode,
        median(r.runs.map((x) => x.seconds)),
        r.runs.reduce((a, x) => a + x.lost, 0),
        median(r.runs.map((x) => x.pauseDuringSwitchoverMs)),
        median(r.runs.map((x) => x.pauseOutsideMs)),
      ]);
    }
    console.log(t.toString());
  }
  console.log(JSON.stringify({ runs: opts.runs, rows }, null, opts.json ? 2 : undefined));
}

main().catch((e: unknown) => {
  console.error(`bench:restart: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
