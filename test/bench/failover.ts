/**
 * `npm run bench:failover` → node dist/test/bench/failover.js [--runs N] [--scenarios a,b] [--json] [--base-port P] [--sync | --sync-strict | --async]
 *
 * One local cluster; per scenario N faults on the current primary with a writer going through the
 * proxy; measures the time from the fault to the first acknowledged write after the outage, the
 * acknowledged writes lost, and the agents' RSS at the end. The cluster is healed between runs
 * (faulted node restarted, all replicas streaming) and always torn down. `--sync` / `--sync-strict`
 * start the cluster in synchronous mode (the table title and the JSON say which mode ran).
 */
import { execFileSync } from "node:child_process";
import { Command } from "commander";
import { sleep } from "../../sidecar/postgres/process";
import { localUp, newTable } from "../../sidecar/local/cluster";
import { rssKb } from "../../sidecar/local/agents";
import { tempClusterWithTeardown } from "../helpers/temp-cluster";
import type { SynchronousMode } from "../../sidecar/settings/schema";
import { syncModeFromFlags } from "../../sidecar/local/layout";
import {
  Fault,
  keepNodeLogs,
  killNode,
  reinitNode,
  restartNode,
  waitAgentGone,
  waitForPrimary,
  waitHealthy,
} from "../../sidecar/local/faults";
import { crashPostgres, stopAgent } from "../helpers/faults";
import { apiStatus, readClusterFile } from "../../sidecar/local/state";
import { countLost, measureOutage, Writer, WriterResult } from "../../sidecar/local/writer";

type Scenario = "crash-node" | "crash-pg" | "stop-agent";

const SCENARIOS: Record<Scenario, { what: string; targetMs: number; inject: (dir: string, node: string) => Fault; agentStops: boolean }> = {
  "crash-node": { what: "kill -9 agent + PostgreSQL", targetMs: 5000, inject: killNode, agentStops: true },
  "crash-pg": { what: "kill -9 postmaster", targetMs: 2000, inject: crashPostgres, agentStops: false },
  "stop-agent": { what: "SIGTERM agent", targetMs: 1000, inject: stopAgent, agentStops: true },
};
const RSS_TARGET_MB = 60;

interface RunResult {
  scenario: Scenario;
  run: number;
  faulted: string;
  newPrimary: string;
  /** Fault → first acknowledged write through the proxy after the outage. */
  outageMs: number | null;
  /** Fault → some agent answers /primary 200 again after none did (the agents' part of the outage; the rest is HAProxy and reconnecting). */
  apiPrimaryMs: number | null;
  writesAcked: number;
  failedAttempts: number;
  lost: number;
  /** How the faulted node came back: restarted on its data dir, or (when that did not converge) re-initialised. */
  heal: "restart" | "reinit";
  healError?: string;
}

const progress = (s: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${s}\n`);

/**
 * Polls every node's /primary every 50 ms; reports when, after a moment with no 200 anywhere, a node
 * answers 200 again.
 */
function watchPrimary(dir: string): { stop: () => Promise<number | undefined> } {
  let running = true;
  let sawGap = false;
  let back: number | undefined;
  const loop = (async () => {
    while (running && back === undefined) {
      const codes = await Promise.all(readClusterFile(dir).nodes.map((n) => apiStatus(n, "/primary", 300)));
      const now = Date.now();
      if (!codes.includes(200)) sawGap = true;
      else if (sawGap) back = now;
      await sleep(50);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return back;
    },
  };
}

/** Waits until writes flow again steadily: no failure for 500 ms and an ack in the last 200 ms (max 60 s). */
async function waitWritesSettled(w: Writer, faultAt: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  await sleep(500);
  while (Date.now() < deadline) {
    const r = w.snapshot();
    const lastFail = r.failures[r.failures.length - 1]?.at ?? 0;
    const lastAck = r.ackTimes[r.ackTimes.length - 1] ?? 0;
    if (lastAck > faultAt && Date.now() - lastFail > 500 && Date.now() - lastAck < 200) return;
    await sleep(50);
  }
}

async function oneRun(dir: string, dsn: string, scenario: Scenario, run: number): Promise<RunResult> {
  const s = SCENARIOS[scenario];
  const primary = await waitHealthy(dir, 120_000, (l) => progress(`  heal: ${l}`));
  const writer = new Writer(dsn);
  await writer.start();
  let result: WriterResult;
  let fault: Fault;
  let apiBack: number | undefined;
  try {
    await sleep(1000); // steady writes before the fault
    const watcher = watchPrimary(dir);
    fault = s.inject(dir, primary);
    await waitWritesSettled(writer, fault.at);
    apiBack = await watcher.stop();
  } finally {
    result = await writer.stop();
  }
  const outage = measureOutage(result, fault.at);
  const lost = await countLost(dsn, result.ackedIds);
  const newPrimary = await waitForPrimary(dir, { timeoutMs: 30_000 }).catch(() => "?");
  // Heal: a stopped agent is started again on its data dir; a crashed postmaster is the agent's job.
  if (s.agentStops) {
    await waitAgentGone(dir, primary, 30_000);
    restartNode(dir, primary);
  }
  let heal: RunResult["heal"] = "restart";
  let healError: string | undefined;
  try {
    await waitHealthy(dir, 60_000, (l) => progress(`  heal: ${l}`));
  } catch (e) {
    // Not a failover measurement any more, but the next run needs a whole cluster: reinit the node.
    healError = (e as Error).message;
    const logs = keepNodeLogs(dir, primary, `bench-${scenario}-${run}`);
    progress(`  heal failed (${healError}); logs kept in ${logs}; re-initialising ${primary} from a fresh base backup`);
    heal = "reinit";
    await reinitNode(dir, primary);
    await waitHealthy(dir, 120_000, (l) => progress(`  heal: ${l}`));
  }
  return {
    scenario,
    run,
    faulted: primary,
    newPrimary,
    outageMs: outage.outageMs ?? null,
    apiPrimaryMs: apiBack === undefined ? null : apiBack - fault.at,
    writesAcked: result.ackedIds.length,
    failedAttempts: outage.failures,
    lost: lost.lost,
    heal,
    ...(healError ? { healError } : {}),
  };
}

function stats(xs: number[]): { median: number; min: number; max: number } | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return { median: s.length % 2 ? s[mid] : Math.round((s[mid - 1] + s[mid]) / 2), min: s[0], max: s[s.length - 1] };
}

/** What Node.js itself takes before any of our code loads: the floor under the agent's RSS. */
function nodeBaselineRssMb(): number {
  const out = execFileSync(process.execPath, ["-e", "setTimeout(() => console.log(process.memoryUsage().rss), 200)"], { encoding: "utf8" });
  return Math.round(Number(out) / 104857.6) / 10;
}

function summarize(runs: RunResult[], scenarios: Scenario[], rssMb: number[]) {
  const perScenario = scenarios.map((sc) => {
    const rs = runs.filter((r) => r.scenario === sc);
    const st = stats(rs.flatMap((r) => (r.outageMs === null ? [] : [r.outageMs])));
    const api = stats(rs.flatMap((r) => (r.apiPrimaryMs === null ? [] : [r.apiPrimaryMs])));
    const lost = rs.reduce((a, r) => a + r.lost, 0);
    const neverResumed = rs.filter((r) => r.outageMs === null).length;
    const reinits = rs.filter((r) => r.heal === "reinit").length;
    return {
      scenario: sc,
      fault: SCENARIOS[sc].what,
      runs: rs.length,
      outageMs: st ?? null,
      apiPrimaryMs: api ?? null,
      neverResumed,
      lost,
      rejoinFailures: reinits,
      targetMs: SCENARIOS[sc].targetMs,
      meetsTarget: st !== undefined && neverResumed === 0 && st.median <= SCENARIOS[sc].targetMs && lost === 0,
    };
  });
  const maxRss = rssMb.length ? Math.max(...rssMb) : null;
  return {
    perScenario,
    agentRssMb: { max: maxRss, all: rssMb, targetMb: RSS_TARGET_MB, meetsTarget: maxRss !== null && maxRss <= RSS_TARGET_MB },
    nodeBaselineRssMb: nodeBaselineRssMb(),
  };
}

function printTable(sum: ReturnType<typeof summarize>, synchronousMode: SynchronousMode, runsPerScenario: number): void {
  console.log(`Failover benchmark: 3 nodes, synchronous mode ${synchronousMode}, ${runsPerScenario} run(s) per scenario`);
  const t = newTable([
    "scenario",
    "fault",
    "runs",
    "median ms",
    "min ms",
    "max ms",
    "API /primary back (median)",
    "target",
    "acked writes lost",
    "rejoin failed",
    "verdict",
  ]);
  for (const s of sum.perScenario) {
    t.push([
      s.scenario,
      s.fault,
      s.runs,
      s.outageMs?.median ?? "-",
      s.outageMs?.min ?? "-",
      s.outageMs?.max ?? "-",
      s.apiPrimaryMs ? `${s.apiPrimaryMs.median} ms` : "-",
      `≤ ${s.targetMs} ms, 0 lost`,
      s.lost,
      s.rejoinFailures,
      s.meetsTarget ? "meets target" : s.neverResumed ? `MISSED (${s.neverResumed} run(s) never resumed)` : "MISSED",
    ]);
  }
  const r = sum.agentRssMb;
  t.push([
    "agent RSS",
    "VmRSS of every agent at the end",
    r.all.length,
    "-",
    r.all.length ? Math.min(...r.all).toFixed(1) + " MB" : "-",
    r.max !== null ? r.max.toFixed(1) + " MB" : "-",
    "-",
    `≤ ${RSS_TARGET_MB} MB`,
    "-",
    "-",
    r.meetsTarget ? "meets target" : "MISSED",
  ]);
  t.push([
    "node baseline",
    "VmRSS of an empty `node -e` process, for reference",
    1,
    "-",
    "-",
    `${sum.nodeBaselineRssMb} MB`,
    "-",
    "-",
    "-",
    "-",
    "-",
  ]);
  console.log(t.toString());
}

async function main(): Promise<void> {
  const opts = new Command("bench:failover")
    .option("--runs <n>", "failovers per scenario", (v) => Number(v), 5)
    .option("--scenarios <list>", "comma-separated: crash-node,crash-pg,stop-agent", "crash-node,crash-pg,stop-agent")
    .option("--base-port <port>", "first port of the local cluster (P..P+299)", (v) => Number(v), 30500)
    .option("--json", "print only the JSON on stdout (progress stays on stderr)")
    .option("--sync", "run the cluster in synchronous mode (no acknowledged commit may be lost)")
    .option("--sync-strict", "strict synchronous mode (implies --sync): writes block rather than go asynchronous")
    .option("--async", "asynchronous replication (the default is synchronous mode on)")
    .parse(process.argv)
    .opts<{ runs: number; scenarios: string; basePort: number; json?: boolean; sync?: boolean; syncStrict?: boolean; async?: boolean }>();
  const synchronousMode = syncModeFromFlags(opts);
  const scenarios = opts.scenarios.split(",").map((s) => s.trim()) as Scenario[];
  for (const s of scenarios)
    if (!(s in SCENARIOS)) throw new Error(`--scenarios: unknown "${s}" (use ${Object.keys(SCENARIOS).join(", ")})`);
  if (!Number.isInteger(opts.runs) || opts.runs < 1) throw new Error("--runs: must be a positive integer");

  const { dir, teardown } = tempClusterWithTeardown("hapg-bench-", progress);
  const runs: RunResult[] = [];
  let rssMb: number[];
  const t0 = Date.now();
  try {
    progress(`starting a 3-node cluster in ${dir} (base port ${opts.basePort}, synchronous mode ${synchronousMode})`);
    const c = await localUp({ dir, basePort: opts.basePort, synchronousMode, progress: (l) => progress(`up: ${l}`) });
    for (const sc of scenarios) {
      for (let i = 1; i <= opts.runs; i++) {
        progress(`${sc} run ${i}/${opts.runs}: ${SCENARIOS[sc].what} on the primary`);
        const r = await oneRun(dir, c.dsn, sc, i);
        runs.push(r);
        progress(
          `${sc} run ${i}/${opts.runs}: ${r.faulted} → ${r.newPrimary}, /primary back after ${r.apiPrimaryMs ?? "-"} ms, writes back after ${r.outageMs ?? "never"} ms, ${r.lost} acked write(s) lost`,
        );
      }
    }
    rssMb = readClusterFile(dir).nodes.flatMap((n) => {
      const kb = rssKb(n.agentPid);
      return kb === undefined ? [] : [Math.round(kb / 102.4) / 10];
    });
  } finally {
    await teardown();
  }
  const sum = summarize(runs, scenarios, rssMb);
  const json = { synchronousMode, runsPerScenario: opts.runs, durationS: Math.round((Date.now() - t0) / 1000), summary: sum, runs };
  if (!opts.json) printTable(sum, synchronousMode, opts.runs);
  console.log(JSON.stringify(json, null, opts.json ? 2 : undefined));
}

main().catch((e: unknown) => {
  console.error(`bench:failover: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
