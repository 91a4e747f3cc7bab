/**
 * `npm run bench:soak [-- --minutes 10] [--profile default|fast] [--burners N] [--clients N] [--json]`
 *
 * Does load alone cause a false failover? One local cluster (default settings unless --profile fast
 * or --ttl/--loop-wait/--retry-timeout), both cores saturated by CPU burners plus a pgbench load
 * through the proxy for the given time. Prints leader changes, fences, and every agent's lease renewal
 * latency (p50/p99/max) and longest gap between two renewals (from /patroni's `lease_renewal`).
 * Target: 0 leader changes. Never asserts: it prints figures (and exits 0) so noisy machines can be compared.
 */
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Command } from "commander";
import { findPgBinDir } from "../../sidecar/postgres/bin";
import { sleep } from "../../sidecar/postgres/process";
import { localUp, newTable } from "../../local/cluster";
import { apiUrl, ClusterFile, fetchCluster, httpGet, readClusterFile } from "../../local/state";
import type { RenewalSummary } from "../../sidecar/ha/renewal-stats";
import { tempClusterWithTeardown } from "../helpers/temp-cluster";

/** Timing profiles (seconds). "default" takes the agent's own defaults; "fast" is the aggressive one the issue asks about. */
const PROFILES = {
  default: {},
  fast: { ttl: 2, loopWait: 0.5, retryTimeout: 0.5 },
} as const;
type Profile = keyof typeof PROFILES;

const progress = (s: string) => process.stderr.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${s}\n`);

interface LeaderSample {
  at: number;
  leader?: string;
  timeline?: number;
}

/** Polls /cluster every 500 ms and records every change of the leader's name or timeline. */
function watchLeader(c: ClusterFile): { stop: () => Promise<{ changes: LeaderSample[]; gaps: number }> } {
  let running = true;
  const changes: LeaderSample[] = [];
  let gaps = 0;
  let last: LeaderSample | undefined;
  const loop = (async () => {
    while (running) {
      const cluster = await fetchCluster(c, 2000);
      const leader = cluster?.members.find((m) => m.role === "leader" || m.role === "primary");
      const s: LeaderSample = { at: Date.now(), leader: leader?.name, timeline: leader?.timeline };
      if (!s.leader) gaps++;
      else if (!last || last.leader !== s.leader || last.timeline !== s.timeline) {
        if (last) changes.push(s);
        last = s;
      }
      await sleep(500);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return { changes, gaps };
    },
  };
}

/** `nproc` busy loops at normal priority: with pgbench on top, both cores stay saturated. */
function startBurners(n: number): ChildProcess[] {
  return Array.from({ length: n }, () => spawn(process.execPath, ["-e", "for (;;) {}"], { stdio: "ignore" }));
}

async function stopChildren(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(
      (ch) =>
        new Promise<void>((resolve) => {
          if (ch.exitCode !== null || ch.signalCode !== null) return resolve();
          ch.once("exit", () => resolve());
          ch.kill("SIGKILL");
        }),
    ),
  );
}

/** pgbench through the proxy, restarted if it exits early (a client error ends a pgbench run). Resolves with transactions done. */
function runPgbench(
  bin: string,
  dsn: string,
  clients: number,
  until: number,
  children: ChildProcess[],
): Promise<{ tx: number; restarts: number }> {
  let tx = 0;
  let restarts = 0;
  const once = () =>
    new Promise<void>((resolve) => {
      const seconds = Math.max(1, Math.round((until - Date.now()) / 1000));
      const ch = spawn(bin, ["-n", "-c", String(clients), "-j", String(Math.min(clients, 2)), "-T", String(seconds), dsn], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      children.push(ch);
      let out = "";
      ch.stdout.on("data", (d: Buffer) => (out += d.toString()));
      ch.stderr.on("data", () => undefined);
      ch.once("exit", () => {
        const m = /number of transactions actually processed: (\d+)/.exec(out);
        tx += m ? Number(m[1]) : 0;
        resolve();
      });
    });
  return (async () => {
    while (Date.now() < until - 1000) {
      await once();
      if (Date.now() < until - 1000) {
        restarts++;
        await sleep(500);
      }
    }
    return { tx, restarts };
  })();
}

function initPgbench(bin: string, dsn: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const ch = spawn(bin, ["-i", "-q", "-s", "10", dsn], { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    ch.stderr.on("data", (d: Buffer) => (err += d.toString()));
    ch.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`pgbench -i failed: ${err.trim()}`))));
  });
}

/** Decisions with a "fence" action logged by each agent after byte offset `from` of its log. */
function countFences(offsets: Map<string, number>): number {
  let n = 0;
  for (const [file, from] of offsets) {
    const text = fs.readFileSync(file, "utf8").slice(from);
    n += text.split("\n").filter((l) => /"actions":\[[^\]]*"fence"/.test(l)).length;
  }
  return n;
}

async function renewalOf(c: ClusterFile): Promise<{ name: string; renewal?: RenewalSummary }[]> {
  return Promise.all(
    c.nodes.map(async (n) => {
      try {
        const r = await httpGet(apiUrl(n, "/patroni"), 2000);
        return { name: n.name, renewal: (r.body as { lease_renewal?: RenewalSummary }).lease_renewal };
      } catch {
        return { name: n.name };
      }
    }),
  );
}

async function main(): Promise<void> {
  const opts = new Command("bench:soak")
    .option("--minutes <n>", "how long the load runs", (v) => Number(v), 10)
    .option("--profile <name>", "timing profile: default (ttl 4, loopWait 1, retryTimeout 1.5) or fast (2 / 0.5 / 0.5)", "default")
    .option("--ttl <s>", "override the profile's ttl", (v) => Number(v))
    .option("--loop-wait <s>", "override the profile's loopWait", (v) => Number(v))
    .option("--retry-timeout <s>", "override the profile's retryTimeout", (v) => Number(v))
    .option("--burners <n>", "CPU burner processes", (v) => Number(v), os.cpus().length + 1)
    .option("--clients <n>", "pgbench clients through the proxy", (v) => Number(v), 4)
    .option("--base-port <port>", "first port of the local cluster (P..P+299)", (v) => Number(v), 31100)
    .option("--json", "print only the JSON on stdout (progress stays on stderr)")
    .parse(process.argv)
    .opts<{
      minutes: number;
      profile: string;
      ttl?: number;
      loopWait?: number;
      retryTimeout?: number;
      burners: number;
      clients: number;
      basePort: number;
      json?: boolean;
    }>();
  if (!(opts.profile in PROFILES)) throw new Error(`--profile: "${opts.profile}" is not one of ${Object.keys(PROFILES).join(", ")}`);
  if (!(opts.minutes > 0)) throw new Error("--minutes: must be a positive number");
  const timing = {
    ...PROFILES[opts.profile as Profile],
    ...(opts.ttl ? { ttl: opts.ttl } : {}),
    ...(opts.loopWait ? { loopWait: opts.loopWait } : {}),
    ...(opts.retryTimeout ? { retryTimeout: opts.retryTimeout } : {}),
  };
  const pgbench = path.join(findPgBinDir(), "pgbench");

  const { dir, teardown } = tempClusterWithTeardown("hapg-soak-", progress);
  const children: ChildProcess[] = [];
  let result: Record<string, unknown> | undefined;
  try {
    progress(`starting a 3-node cluster in ${dir} (base port ${opts.basePort}, timing ${JSON.stringify(timing)})`);
    const c = await localUp({ dir, basePort: opts.basePort, ...timing, progress: (l) => progress(`up: ${l}`) });
    await initPgbench(pgbench, c.dsn);
    const cluster = readClusterFile(dir);
    const logOffsets = new Map(
      cluster.nodes.map((n) => path.join(path.dirname(n.dataDir), "agent.log")).map((f) => [f, fs.statSync(f).size]),
    );
    const before = await renewalOf(cluster);
    const watcher = watchLeader(cluster);
    const start = Date.now();
    const until = start + opts.minutes * 60_000;
    children.push(...startBurners(opts.burners));
    progress(`load for ${opts.minutes} min: ${opts.burners} CPU burners + pgbench -c ${opts.clients} through the proxy`);
    const ticker = setInterval(() => progress(`${Math.round((Date.now() - start) / 60_000)} / ${opts.minutes} min`), 60_000);
    const bench = await runPgbench(pgbench, c.dsn, opts.clients, until, children).finally(() => clearInterval(ticker));
    await stopChildren(children);
    const leader = await watcher.stop();
    const after = await renewalOf(cluster);
    result = {
      profile: opts.profile,
      timing,
      minutes: opts.minutes,
      burners: opts.burners,
      clients: opts.clients,
      leaderChanges: leader.changes.length,
      changes: leader.changes,
      samplesWithoutLeader: leader.gaps,
      fences: countFences(logOffsets),
      pgbench: { transactions: bench.tx, tps: Math.round(bench.tx / ((Date.now() - start) / 1000)), restarts: bench.restarts },
      renewal: after.map((a) => ({ name: a.name, before: before.find((b) => b.name === a.name)?.renewal, after: a.renewal })),
    };
  } finally {
    await stopChildren(children);
    await teardown();
  }
  if (!opts.json) printTable(result);
  console.log(JSON.stringify(result, null, opts.json ? 2 : undefined));
}

function printTable(r: Record<string, unknown>): void {
  const renewal = r.renewal as { name: string; after?: RenewalSummary }[];
  console.log(
    `Soak: ${r.minutes} min, timing ${JSON.stringify(r.timing)}, ${r.burners} CPU burners + pgbench -c ${r.clients}: ` +
      `${r.leaderChanges} leader change(s), ${r.fences} fence(s), ${(r.pgbench as { tps: number }).tps} TPS`,
  );
  const t = newTable(["member", "renewals", "failed", "p50 ms", "p99 ms", "max ms", "longest gap ms"]);
  for (const m of renewal) {
    const s = m.after;
    t.push([m.name, s?.count ?? "-", s?.failures ?? "-", s?.p50Ms ?? "-", s?.p99Ms ?? "-", s?.maxMs ?? "-", s?.maxGapMs ?? "-"]);
  }
  console.log(t.toString());
}

main().catch((e: unknown) => {
  console.error(`bench:soak: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
