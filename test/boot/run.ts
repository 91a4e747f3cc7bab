/**
 * `npm run test:boot`: the boot rehearsal (docs/testing.md, "Boot rehearsal"). Root only; run it under the
 * shared lock: `flock /tmp/hapg-itest.lock npm run test:boot`.
 *
 *   node dist/test/boot/run.js [--topology dedicated|colocated|both] [--no-faults] [--restore | --restore-probe | --no-restore]
 *
 * Renders the deployment under mocks, boots every host as a Debian 13 container from its user-data,
 * checks what a user would (and an operator in a shell on a node: ./operator.ts), then (in the first
 * topology, with the faults or --restore, unless --no-restore) deploys a second cluster restored from
 * the first one's backups (./restore-checks.ts; --restore-probe: only its first node), then (unless
 * --no-faults) crashes the primary, reboots a node and replaces a node. Prints one line per check and a closing "N passed, N failed"; exits non-zero on
 * any failure. Everything it created is removed at the end, on failure and on SIGINT/SIGTERM too.
 */
import { backupChecks } from "./backup-checks";
import { standbyBackupChecks } from "./standby-checks";
import { Cleanup } from "./cleanup";
import { startCluster } from "./cluster";
import { restoreChecks } from "./restore-checks";
import { runFaults } from "./faults";
import { operatorChecks } from "./operator";
import { bootChecks, Check, record } from "./steps";
import { RestoreMode, Topology } from "./plan";
import { unavailable } from "./preflight";

async function rehearse(topology: Topology, faults: boolean, restore: RestoreMode | undefined, results: Check[]): Promise<void> {
  const cleanup = new Cleanup();
  const onSignal = (sig: NodeJS.Signals) => {
    process.stdout.write(`boot: ${sig}: removing what the rehearsal created\n`);
    void cleanup.runAll().then(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const started = Date.now();
  try {
    const rc = await startCluster(topology, cleanup);
    const ok =
      (await bootChecks(rc, topology, results)) &&
      (await operatorChecks(rc, topology, results)) &&
      (await backupChecks(rc, topology, results)) &&
      (await standbyBackupChecks(rc, topology, results));
    if (ok && restore) await restoreChecks(rc, topology, restore, cleanup, results);
    if (ok && faults) await runFaults(rc, cleanup, results);
  } catch (e) {
    record(results, { name: `${topology}: the rehearsal ran to the end`, ok: false, detail: (e as Error).stack ?? String(e) });
  } finally {
    const failed = await cleanup.runAll();
    record(results, {
      name: `${topology}: everything the rehearsal created was removed`,
      ok: failed.length === 0,
      detail: failed.join("; "),
    });
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
    process.stdout.write(`boot: ${topology} rehearsal took ${Math.round((Date.now() - started) / 1000)} s\n`);
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const topoArg = argv.includes("--topology") ? argv[argv.indexOf("--topology") + 1] : "both";
  const topologies: Topology[] = topoArg === "both" ? ["dedicated", "colocated"] : [topoArg as Topology];
  if (!topologies.every((t) => t === "dedicated" || t === "colocated"))
    throw new Error(`--topology: "${topoArg}" is not dedicated, colocated or both`);
  const why = unavailable();
  if (why) throw new Error(why);
  const results: Check[] = [];
  const faults = !argv.includes("--no-faults");
  // A second cluster restored from the first one's backups, once per run: part of the full run, on request in a short one.
  const restore: RestoreMode | undefined = argv.includes("--restore-probe")
    ? "probe"
    : argv.includes("--restore") || (faults && !argv.includes("--no-restore"))
      ? "cluster"
      : undefined;
  for (const t of topologies) await rehearse(t, faults, t === topologies[0] ? restore : undefined, results);
  const failed = results.filter((r) => !r.ok);
  process.stdout.write(`\n${results.length - failed.length} passed, ${failed.length} failed\n`);
  process.exitCode = failed.length ? 1 : 0;
}

if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`boot rehearsal: ${(e as Error).message}\n`);
    process.exit(2);
  });
}
