/**
 * `npm run test:chaos [-- --faults N] [--seed N] [--netns | --backup] [--kinds a,b] [--synchronous-mode M] [--json]`
 *
 * One local cluster (3 nodes, 3 etcd members, HAProxy; the settings' default synchronous mode unless
 * told), N faults in a row drawn from the seed (./kinds.ts), each repaired before the next, a
 * tracked writer through the proxy throughout. Prints a line per fault and a summary; keeps the
 * evidence of every long or stuck fault in a directory it names. Exits 1 on any acknowledged write
 * lost, any split-brain moment or any stuck fault. The cluster is always torn down.
 */
import * as os from "node:os";
import * as path from "node:path";
import { Command } from "commander";
import { newTable } from "../../local/cluster";
import { netnsUnavailable } from "../../local/netns";
import { HA_DEFAULTS, SYNCHRONOUS_MODES, type SynchronousMode } from "../../sidecar/contract/settings/schema";
import { tempClusterWithTeardown } from "../helpers/temp-cluster";
import { upOnFreePorts } from "../faults/harness";
import { availableKinds, FAULT_KINDS, LONG_FLOOR_MS } from "./kinds";
import { CHAOS_BASE_PORTS, chaosFailures, ChaosReport, runChaos } from "./runner";

const progress = (l: string) => process.stderr.write(`[chaos ${new Date().toISOString().slice(11, 19)}] ${l}\n`);
const sec = (ms: number | null) => (ms === null ? "-" : (ms / 1000).toFixed(2));

/** The summary a run prints (the lines per fault were printed as they happened). */
export function printSummary(r: ChaosReport, out: (l: string) => void = console.log): void {
  out(
    `Chaos run: seed ${r.seed}, ${r.faults.length} faults, synchronous mode ${r.synchronousMode}${r.netns ? ", a network namespace per member" : ", loopback"}${r.backup ? ", with the backup repository" : ""}, ${r.durationS} s`,
  );
  out(
    `acknowledged writes ${r.acked}, lost ${r.lost}, split-brain moments ${r.splitBrain.length}, stuck faults ${r.stuck}, faults with a failed check ${r.failedChecks}`,
  );
  const t = newTable([
    "kind",
    "faults",
    "outage median s",
    "p95 s",
    "max s",
    `long (> 2 × suite median, ≥ ${LONG_FLOOR_MS / 1000} s)`,
    "stuck",
  ]);
  for (const k of r.perKind)
    t.push([k.kind, k.faults, sec(k.medianMs), sec(k.p95Ms), sec(k.maxMs), `${k.long} (> ${sec(k.longAboveMs)} s)`, k.stuck]);
  out(t.toString());
  const kept = r.faults.filter((f) => f.evidence);
  out(
    kept.length
      ? `evidence of ${kept.length} fault(s) kept in ${r.evidenceDir}:`
      : `no fault was long or stuck: nothing kept (would be in ${r.evidenceDir})`,
  );
  for (const f of kept)
    out(`  #${f.index} ${f.kind}: ${f.evidence}${f.failedChecks.length ? ` (failed: ${f.failedChecks.join("; ")})` : ""}`);
  const failed = chaosFailures(r);
  out(failed.length ? `FAILED: ${failed.join("; ")}` : "passed: nothing acknowledged was lost, no split brain, every fault healed");
}

async function main(): Promise<void> {
  const opts = new Command("test:chaos")
    .option("--faults <n>", "faults in a row", (v) => Number(v), 30)
    .option("--seed <n>", "seed of the draw (default: from the clock, printed)", (v) => Number(v))
    .option("--netns", "every member in a network namespace of its own: adds the partitions (root)")
    .option("--backup", "with the backup repository (pgBackRest archiving to a local S3 server): adds crash-during-backup")
    .option("--kinds <list>", `only these kinds: ${FAULT_KINDS.map((k) => k.name).join(",")}`)
    .option(
      "--synchronous-mode <mode>",
      `${SYNCHRONOUS_MODES.join(", ")} (default: the settings' default, "${HA_DEFAULTS.synchronousMode}")`,
    )
    .option("--json", "also print the report as JSON on stdout")
    .parse(process.argv)
    .opts<{ faults: number; seed?: number; netns?: boolean; backup?: boolean; kinds?: string; synchronousMode?: string; json?: boolean }>();
  if (!Number.isInteger(opts.faults) || opts.faults < 1) throw new Error("--faults: must be a positive integer, e.g. 100");
  const seed = opts.seed ?? Date.now() % 1_000_000;
  if (!Number.isInteger(seed) || seed < 0) throw new Error("--seed: must be a non-negative integer, e.g. 17");
  const mode = (opts.synchronousMode ?? HA_DEFAULTS.synchronousMode) as SynchronousMode;
  if (!SYNCHRONOUS_MODES.includes(mode) || mode === "off")
    throw new Error(`--synchronous-mode: "${mode}" must be one of ${SYNCHRONOUS_MODES.filter((m) => m !== "off").join(", ")}`);
  const netns = opts.netns ?? false;
  if (netns) {
    const why = netnsUnavailable();
    if (why) throw new Error(`--netns: ${why}`);
  }
  const backup = opts.backup ?? false;
  // The local S3 server listens on the host's loopback, which a member in a namespace does not reach.
  if (backup && netns) throw new Error("--backup: not with --netns (the members in namespaces cannot reach the S3 server on 127.0.0.1)");
  const kinds = availableKinds({ netns, mode, backup, only: opts.kinds?.split(",").map((k) => k.trim()) });
  const evidenceDir = path.join(os.tmpdir(), "hapg-chaos", `seed-${seed}-${new Date().toISOString().replace(/[:.]/g, "-")}`);
  const { dir, teardown } = tempClusterWithTeardown("hapg-chaos-", progress);
  let report: ChaosReport;
  try {
    progress(
      `starting a 3-node cluster in synchronous mode ${mode} in ${dir}${netns ? " (a network namespace per member)" : ""}${backup ? " with the backup repository" : ""}`,
    );
    await upOnFreePorts(dir, CHAOS_BASE_PORTS, (l) => progress(`up: ${l}`), { netns, synchronousMode: mode, backup });
    report = await runChaos({ dir, faults: opts.faults, seed, kinds, synchronousMode: mode, netns, backup, evidenceDir, say: progress });
  } finally {
    await teardown();
  }
  printSummary(report);
  if (opts.json) console.log(JSON.stringify(report));
  if (chaosFailures(report).length) process.exitCode = 1;
}

main().catch((e: unknown) => {
  console.error(`test:chaos: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
