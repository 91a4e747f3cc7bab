/**
 * `npm run bench:failover` → node dist/test/bench/failover.js [--runs N] [--scenarios a,b] [--json] [--base-port P] [--sync | --sync-strict | --async]
 *
 * One local cluster; per scenario N faults (or planned switchovers) on the current primary with a writer going through the
 * proxy; measures the time from the fault to the first acknowledged write after the outage, the
 * acknowledged writes lost, and the agents' RSS at the end. The cluster is healed between runs
 * (faulted node restarted, all replicas streaming) and always torn down. `--sync` / `--sync-strict`
 * start the cluster in synchronous mode (the table title and the JSON say which mode ran).
 */
import { execFileSync } from "node:child_process";
import { Command } from "commander";
import { Client } from "pg";
import { sleep } from "../../sidecar/postgres/process";
import { localUp, newTable } from "../../local/cluster";
import { rssKb } from "../../local/agents";
import { tempClusterWithTeardown } from "../helpers/temp-cluster";
import type { SynchronousMode } from "../../sidecar/contract/settings/schema";
import { syncModeFromFlags } from "../../local/layout";
import { Fault, keepNodeLogs, killNode, reinitNode, restartNode, waitAgentGone, waitForPrimary, waitHealthy } from "../../local/faults";
import { crashPostgres, stopAgent } from "../helpers/faults";
import { apiStatus, findNode, httpGet, readClusterFile } from "../../local/state";
import { callApi, localApiCredentials } from "../../sidecar/api/client";
import fs from "node:fs";
import path from "node:path";
import { countLost, measureOutage, Writer, WriterResult } from "../../local/writer";

type Scenario = "crash-node" | "crash-pg" | "stop-agent" | "switchover";

const SCENARIOS: Record<Scenario, { what: string; targetMs: number; inject: (dir: string, node: string) => Fault; agentStops: boolean }> = {
  "crash-node": { what: "kill -9 agent + PostgreSQL", targetMs: 5000, inject: killNode, agentStops: true },
  "crash-pg": { what: "kill -9 postmaster", targetMs: 2000, inject: crashPostgres, agentStops: false },
  "stop-agent": { what: "SIGTERM agent", targetMs: 1000, inject: stopAgent, agentStops: true },
  switchover: { what: "POST /switchover", targetMs: 1000, inject: requestSwitchover, agentStops: false },
};
/** The old leader must stream again within this after a switchover. */
const REJOIN_TARGET_MS = 5000;

/** POST /switchover to the leader's agent (the leader picks the candidate); the reply is awaited in the background. */
function requestSwitchover(dir: string, leader: string): Fault {
  const c = readClusterFile(dir);
  const at = Date.now();
  void callApi(findNode(c, leader).apiUrl, "POST", "/switchover", { leader }, localApiCredentials(c)).then(
    (r) => r.status !== 200 && progress(`  switchover answered ${r.status}: ${JSON.stringify(r.body)}`),
    (e: unknown) => progress(`  switchover request failed: ${String(e)}`),
  );
  return { at };
}

/** Ms from `from` until the node's API says it is a streaming replica (undefined: not within 30 s). */
async function streamingAgainMs(dir: string, name: string, from: number): Promise<number | undefined> {
  const node = findNode(readClusterFile(dir), name);
  while (Date.now() - from < 30_000) {
    const r = await httpGet(`${node.apiUrl}/patroni`, 300).catch(() => undefined);
    const b = r?.body as { role?: string; replication_state?: string } | undefined;
    if (b?.role === "replica" && b.replication_state === "streaming") return Date.now() - from;
    await sleep(20);
  }
  return undefined;
}

/** Lines of a node's agent log that start pg_rewind or a base backup. */
function rewindsInLog(dir: string, name: string): number {
  const text = fs.readFileSync(path.join(dir, name, "agent.log"), "utf8");
  return (text.match(/"action":"(rewind|baseBackup)"/g) ?? []).length;
}
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
  /** switchover: fault → the old leader streams from the new one again. */
  rejoinMs?: number | null;
  /** switchover: the old leader ran pg_rewind or a base backup to rejoin (it should not). */
  rewound?: boolean;
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

/**
 * Until new connections through the proxy reach a writable primary for 1.5 s in a row (at most 30 s):
 * HAProxy drops a server that stopped answering /primary 200 only after fall 2 checks (~1.25 s), and
 * until then may still send a connection to it.
 */
async function waitProxyWritable(dsn: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  let since: number | undefined;
  for (;;) {
    const c = new Client({ connectionString: dsn, connectionTimeoutMillis: 1000 });
    const writable = await c
      .connect()
      .then(() => c.query<{ w: boolean }>("SELECT NOT pg_is_in_recovery() AS w"))
      .then((r) => r.rows[0].w)
      .catch(() => false)
      .finally(() => c.end().catch(() => undefined));
    since = writable ? (since ?? Date.now()) : undefined;
    if ((since !== undefined && Date.now() - since >= 1500) || Date.now() > deadline) return;
    await sleep(100);
  }
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
  // After a switchover the old leader is a replica again within ~0.3 s, before HAProxy's next check
  // marks it down: until then the proxy may still send a new connection there (read-only).
  await waitProxyWritable(dsn);
  const writer = new Writer(dsn);
  await writer.start();
  let result: WriterResult;
  let fault: Fault;
  let apiBack: number | undefined;
  let rejoinMs: number | undefined;
  const rewindsBefore = scenario === "switchover" ? rewindsInLog(dir, primary) : 0;
  try {
    await sleep(1000); // steady writes before the fault
    const watcher = watchPrimary(dir);
    fault = s.inject(dir, primary);
    const rejoin = scenario === "switchover" ? streamingAgainMs(dir, primary, fault.at) : undefined;
    await waitWritesSettled(writer, fault.at);
    apiBack = await watcher.stop();
    rejoinMs = await rejoin;
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
    ...(scenario === "switchover" ? { rejoinMs: rejoinMs ?? null, rewound: rewindsInLog(dir, primary) > rewindsBefore } : {}),
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
    const rejoin = sc === "switchover" ? stats(rs.flatMap((r) => (r.rejoinMs == null ? [] : [r.rejoinMs]))) : undefined;
    const rewound = rs.filter((r) => r.rewound).length;
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
      ...(sc === "switchover" ? { oldLeaderStreamingMs: rejoin ?? null, rewound, rejoinTargetMs: REJOIN_TARGET_MS } : {}),
      meetsTarget:
        st !== undefined &&
        neverResumed === 0 &&
        st.median <= SCENARIOS[sc].targetMs &&
        lost === 0 &&
        (sc !== "switchover" || (rejoin !== undefined && rejoin.max <= REJOIN_TARGET_MS && rewound === 0)),
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
    if (s.scenario === "switchover") {
      const r = s.oldLeaderStreamingMs;
      t.push([
        "  old leader",
        "streams again on the new timeline",
        s.runs,
        r?.median ?? "-",
        r?.min ?? "-",
        r?.max ?? "-",
        "-",
        `≤ ${REJOIN_TARGET_MS} ms, no rewind`,
        "-",
        `${s.rewound ?? 0} rewound`,
        "-",
      ]);
    }
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
    .option("--scenarios <list>", "comma-separated: crash-node,crash-pg,stop-agent,switchover", "crash-node,crash-pg,stop-agent")
    .option("--base-port <port>", "first port of the local cluster (P..P+299)", (v) => Number(v), 30500)
    .option("--json", "print only the JSON on stdout (progress stays on stderr)")
    .option("--sync", "run the cluster in synchronous mode (no acknowledged commit may be lost)")
    .option("--sync-strict", "strict synchronous mode (implies --sync): writes block rather than go asynchronous")
    .option("--async", "asynchronous replication (the default is synchronous mode on)")
    .option("--ttl <s>", "timing.ttl instead of the default", (v) => Number(v))
    .option("--loop-wait <s>", "timing.loopWait instead of the default", (v) => Number(v))
    .option("--retry-timeout <s>", "timing.retryTimeout instead of the default", (v) => Number(v))
    .parse(process.argv)
    .opts<{
      runs: number;
      scenarios: string;
      basePort: number;
      json?: boolean;
      sync?: boolean;
      syncStrict?: boolean;
      async?: boolean;
      ttl?: number;
      loopWait?: number;
      retryTimeout?: number;
    }>();
  // An absent flag keeps the settings' default (localUp drops undefined options).
  const timing = { ttl: opts.ttl, loopWait: opts.loopWait, retryTimeout: opts.retryTimeout };
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
    const c = await localUp({ dir, basePort: opts.basePort, synchronousMode, ...timing, progress: (l) => progress(`up: ${l}`) });
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
  const json = { synchronousMode, timing, runsPerScenario: opts.runs, durationS: Math.round((Date.now() - t0) / 1000), summary: sum, runs };
  if (!opts.json) printTable(sum, synchronousMode, opts.runs);
  console.log(JSON.stringify(json, null, opts.json ? 2 : undefined));
}

main().catch((e: unknown) => {
  console.error(`bench:failover: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
