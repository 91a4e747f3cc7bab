/**
 * `npm run test:faults [-- --runs N] [--scenarios a,b] [--base-port P] [--json]`
 *
 * A local cluster in synchronous mode on loopback, then one whose members have network namespaces
 * of their own for the partitions (root; skipped with the reason otherwise); every scenario N times
 * (default 1) with a tracked writer through the proxy; the checker's verdicts per run; a table
 * (scenario, runs, acknowledged writes, lost, split-brain moments, outage median, time to full
 * health) and the JSON. Exits 1 when any run failed a verdict. Every cluster is always torn down.
 */
import { Command } from "commander";
import { median } from "../helpers/fault-checker";
import { newTable } from "../../local/cluster";
import { tempClusterWithTeardown } from "../helpers/temp-cluster";
import { netnsUnavailable } from "../../local/netns";
import { failures, RunReport, runScenario, upOnFreePorts } from "./harness";
import { DESCRIPTIONS, NETNS_SCENARIOS, QUORUM_SCENARIOS, SCENARIO_NAMES, ScenarioName } from "./scenarios";

const progress = (s: string) => process.stderr.write(`[faults ${new Date().toISOString().slice(11, 19)}] ${s}\n`);

export function summarize(reports: RunReport[], scenarios: readonly ScenarioName[]) {
  return scenarios.map((s) => {
    const rs = reports.filter((r) => r.scenario === s);
    return {
      scenario: s,
      fault: DESCRIPTIONS[s],
      runs: rs.length,
      acked: rs.reduce((a, r) => a + r.acked, 0),
      lost: rs.reduce((a, r) => a + Math.max(0, r.lost), 0),
      splitBrainMoments: rs.reduce((a, r) => a + r.splitBrain.length, 0),
      /** The longest pause in acknowledged writes from the fault on (what clients saw as the outage). */
      outageMedianMs: median(rs.flatMap((r) => (r.pauseMs === null ? [] : [r.pauseMs]))) ?? null,
      timeToHealthMedianMs: median(rs.flatMap((r) => (r.timeToHealthMs === null ? [] : [r.timeToHealthMs]))) ?? null,
      failedRuns: rs.filter((r) => failures(r).length > 0).length,
    };
  });
}

async function main(): Promise<void> {
  const opts = new Command("test:faults")
    .option("--runs <n>", "runs per scenario", (v) => Number(v), 1)
    .option("--scenarios <list>", `comma-separated: ${SCENARIO_NAMES.join(",")}`, SCENARIO_NAMES.join(","))
    .option(
      "--base-port <port>",
      "first port of the local cluster (P..P+299); 28700 is tried when the default's ports are taken",
      (v) => Number(v),
      28600,
    )
    .option("--json", "print only the JSON on stdout")
    .parse(process.argv)
    .opts<{ runs: number; scenarios: string; basePort: number; json?: boolean }>();
  const scenarios = opts.scenarios.split(",").map((s) => s.trim()) as ScenarioName[];
  for (const s of scenarios)
    if (!SCENARIO_NAMES.includes(s)) throw new Error(`--scenarios: unknown "${s}" (use ${SCENARIO_NAMES.join(", ")})`);
  if (!Number.isInteger(opts.runs) || opts.runs < 1) throw new Error("--runs: must be a positive integer");
  if (opts.basePort < 28000 || opts.basePort + 299 > 28999)
    progress(`note: base port ${opts.basePort} is outside the fault suite's range 28000-28999`);

  const reports: RunReport[] = [];
  const t0 = Date.now();
  const fallback = opts.basePort === 28600 ? [28600, 28700] : [opts.basePort];
  // Loopback first; the partitions on a second cluster whose members have namespaces of their own.
  // Quorum commit's scenarios on a third cluster, in synchronous mode "quorum".
  const plain = (s: ScenarioName) => !NETNS_SCENARIOS.includes(s) && !QUORUM_SCENARIOS.includes(s);
  const groups = [
    { netns: false, mode: "on" as const, scenarios: scenarios.filter(plain) },
    { netns: true, mode: "on" as const, scenarios: scenarios.filter((s) => NETNS_SCENARIOS.includes(s)) },
    { netns: false, mode: "quorum" as const, scenarios: scenarios.filter((s) => QUORUM_SCENARIOS.includes(s)) },
  ];
  for (const g of groups.filter((x) => x.scenarios.length)) {
    const why = g.netns ? netnsUnavailable() : undefined;
    if (why) {
      progress(`skipping ${g.scenarios.join(", ")}: ${why}`);
      continue;
    }
    const { dir, teardown } = tempClusterWithTeardown("hapg-faults-", progress);
    try {
      progress(
        `starting a 3-node cluster in synchronous mode ${g.mode} in ${dir} (base port ${fallback[0]}${g.netns ? ", a network namespace per member" : ", loopback"})`,
      );
      await upOnFreePorts(dir, fallback, (l) => progress(`up: ${l}`), { netns: g.netns, synchronousMode: g.mode });
      for (const s of g.scenarios) {
        for (let i = 1; i <= opts.runs; i++) {
          progress(`${s} run ${i}/${opts.runs}: ${DESCRIPTIONS[s]}`);
          const r = await runScenario(dir, s, progress);
          reports.push(r);
          const f = failures(r);
          progress(
            `${s} run ${i}/${opts.runs}: ${r.formerPrimary} → ${r.newPrimary ?? "?"}, ${r.acked} acked, ${r.lost} lost, ${r.splitBrain.length} split-brain, longest write pause ${r.pauseMs ?? "-"} ms, healthy after ${r.timeToHealthMs ?? "-"} ms: ${f.length ? `FAILED (${f.join("; ")})` : "ok"}`,
          );
        }
      }
    } finally {
      await teardown();
    }
  }
  const summary = summarize(reports, scenarios);
  if (!opts.json) {
    console.log(
      `Fault suite: 3 nodes, 3 etcd members, synchronous mode on (quorum, k = 1, for slow-replica and crash-node-with-one-replica-stopped), ${opts.runs} run(s) per scenario`,
    );
    const t = newTable([
      "scenario",
      "fault",
      "runs",
      "acknowledged writes",
      "lost",
      "split-brain moments",
      "outage median ms (longest write pause)",
      "time to full health median ms",
      "failed runs",
    ]);
    for (const s of summary)
      t.push([
        s.scenario,
        s.fault,
        s.runs,
        s.acked,
        s.lost,
        s.splitBrainMoments,
        s.outageMedianMs ?? "-",
        s.timeToHealthMedianMs ?? "-",
        s.failedRuns,
      ]);
    console.log(t.toString());
  }
  console.log(
    JSON.stringify(
      { synchronousMode: "on", runsPerScenario: opts.runs, durationS: Math.round((Date.now() - t0) / 1000), summary, runs: reports },
      null,
      opts.json ? 2 : undefined,
    ),
  );
  if (summary.some((s) => s.failedRuns > 0)) process.exitCode = 1;
}

main().catch((e: unknown) => {
  console.error(`test:faults: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
