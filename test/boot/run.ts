/**
 * `npm run test:boot`: the boot rehearsal (docs/testing.md, "Boot rehearsal"). Root only; run it under the
 * shared lock: `flock /tmp/hapg-itest.lock npm run test:boot`.
 *
 *   node dist/test/boot/run.js [--topology dedicated|colocated|both] [--no-faults] [--restore | --restore-probe | --no-restore] [--no-day2]
 *   node dist/test/boot/run.js --day2      (only the day-2 part, on the dedicated topology)
 *
 * Renders the deployment under mocks, boots every host as a Debian 13 container from its user-data,
 * checks what a user would (and an operator in a shell on a node: ./operator.ts), then (in the first
 * topology, with the faults or --restore, unless --no-restore) deploys a second cluster restored from
 * the first one's backups (./restore-checks.ts; --restore-probe: only its first node), then (unless
 * --no-faults) crashes the primary, reboots a node and replaces a node, then (dedicated topology, unless
 * --no-day2) replays the day-2 changes (./day2.ts: new AMI, instance type, 3 → 5 nodes, 3 → 5 etcd
 * members, certificate renewal, an instance killed) and prints `day2: N passed, ...`. Prints one line per check and a closing "N passed, N failed"; exits non-zero on
 * any failure. Everything it created is removed at the end, on failure and on SIGINT/SIGTERM too.
 */
import { backupChecks } from "./backup-checks";
import { standbyBackupChecks } from "./standby-checks";
import { Cleanup } from "./cleanup";
import { startCluster } from "./cluster";
import { restoreChecks } from "./restore-checks";
import { runFaults } from "./faults";
import { runDay2 } from "./day2";
import { operatorChecks } from "./operator";
import { bootChecks, Check, record } from "./steps";
import { RestoreMode, Topology } from "./plan";
import { unavailable } from "./preflight";

interface Parts {
  /** Everything but day 2 (false: `--day2`, only what day 2 needs first). */
  day1: boolean;
  faults: boolean;
  restore?: RestoreMode;
  day2: boolean;
}

async function rehearse(topology: Topology, parts: Parts, results: Check[]): Promise<string | undefined> {
  const cleanup = new Cleanup();
  const onSignal = (sig: NodeJS.Signals) => {
    process.stdout.write(`boot: ${sig}: removing what the rehearsal created\n`);
    void cleanup.runAll().then(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const started = Date.now();
  let day2Line: string | undefined;
  try {
    const rc = await startCluster(topology, cleanup);
    const ok =
      (await bootChecks(rc, topology, results)) &&
      (!parts.day1 ||
        ((await operatorChecks(rc, topology, results)) &&
          (await backupChecks(rc, topology, results)) &&
          (await standbyBackupChecks(rc, topology, results))));
    if (ok && parts.day1 && parts.restore) await restoreChecks(rc, topology, parts.restore, cleanup, results);
    if (ok && parts.day1 && parts.faults) await runFaults(rc, cleanup, results);
    if (ok && parts.day2 && topology === "dedicated") day2Line = await runDay2(rc, cleanup, results);
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
  return day2Line;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const onlyDay2 = argv.includes("--day2");
  const topoArg = argv.includes("--topology") ? argv[argv.indexOf("--topology") + 1] : onlyDay2 ? "dedicated" : "both";
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
  const day2 = onlyDay2 || (faults && !argv.includes("--no-day2"));
  let day2Line: string | undefined;
  for (const t of topologies) {
    const line = await rehearse(t, { day1: !onlyDay2, faults, restore: t === topologies[0] ? restore : undefined, day2 }, results);
    day2Line ??= line;
  }
  const failed = results.filter((r) => !r.ok);
  process.stdout.write(`\n${results.length - failed.length} passed, ${failed.length} failed\n`);
  // The day-2 part's own line, last (issue 16): its changes are among the checks above too.
  if (day2Line) process.stdout.write(`${day2Line}\n`);
  process.exitCode = failed.length ? 1 : 0;
}

if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`boot rehearsal: ${(e as Error).message}\n`);
    process.exit(2);
  });
}
