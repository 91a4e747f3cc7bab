/**
 * Restore and clone on "AWS": after the first cluster has taken its first full backup, two batches
 * of rows are committed with a time between them and archived; then a second cluster is deployed
 * from the component with `bootstrap.fromBackup` pointing at the first one's backups and that time
 * as its target (./restored-cluster.ts). What a user would check: every host boots clean, the nodes
 * got the restore section and the source's passphrase (from SSM, 0600), one primary and every
 * replica streaming, exactly the rows committed before the target, its own WAL archived into its
 * own prefix and stanza, and nothing written into the source's by its role. The restored cluster
 * is removed at the end, so the run goes on (faults) with the first cluster alone. The "probe" mode
 * (the short run inside `npm test`) boots only the restored cluster's first node: its agent config,
 * the source's passphrase, and the agent's restore checks passing against the source's repository.
 */
import { readFileSync, statSync } from "node:fs";
import { NODE_PORTS } from "../../lib/args/types";
import { NODE_PATHS, UNITS } from "../../lib/userdata/paths";
import { parsePasswd } from "../../sidecar/boot/node-init";
import { query, verifyFull } from "./checks";
import { Cleanup } from "./cleanup";
import { RehearsalCluster } from "./cluster";
import { nodeInitPlanOf } from "./deployment";
import { containerPath, inContainer, waitFor } from "./hosts";
import { RESTORED_CLUSTER, restoredArgs, RestoreMode } from "./plan";
import { startRestoredCluster } from "./restored-cluster";
import { Check, record, settledRoles } from "./steps";

const ROWS_BEFORE = 40;
const ROWS_AFTER = 25;
const WRITES = new Set(["PutObject", "DeleteObject", "DeleteObjects", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"]);

/** Runs the checks, recording each; true when all passed. The restored cluster is gone when it returns. */
export async function restoreChecks(
  rc: RehearsalCluster,
  topology: string,
  mode: RestoreMode,
  cleanup: Cleanup,
  results: Check[],
): Promise<boolean> {
  const before = results.length;
  const started = Date.now();
  const own = new Cleanup();
  // Also on an abort of the whole run: the main cleanup removes the restored cluster before the bridge.
  cleanup.add(`${RESTORED_CLUSTER} cluster`, () => own.runAll().then(() => undefined));
  try {
    await checkRestore(rc, topology, mode, own, results);
  } catch (e) {
    record(results, { name: `${topology}: restore from the backups ran to the end`, ok: false, detail: (e as Error).stack ?? String(e) });
  } finally {
    const failed = await own.runAll();
    await cleanup.runNow(`${RESTORED_CLUSTER} cluster`);
    record(results, { name: `${topology}: the restored cluster was removed`, ok: failed.length === 0, detail: failed.join("; ") });
    process.stdout.write(`boot: the restore (${mode}) took ${Math.round((Date.now() - started) / 1000)} s\n`);
  }
  return results.slice(before).every((r) => r.ok);
}

async function checkRestore(rc: RehearsalCluster, topology: string, mode: RestoreMode, own: Cleanup, results: Check[]): Promise<void> {
  const t = (name: string) => `${topology}: ${name}`;
  const d = rc.deployment;
  const repo = d.backup!;
  const standin = rc.backupRepo!.standin;
  const stanza = d.clusterName;
  const srcPrefix = repo.path.replace(/^\//, "");

  // 1. The source: its first full backup, then rows before and after a target time, archived.
  const roles = await settledRoles(rc);
  const primary = d.hosts.find((h) => h.name === roles.find((r) => !r.inRecovery)!.name)!;
  const direct = verifyFull(d, primary.address, NODE_PORTS.postgres, primary.address);
  const full = new RegExp(`^${srcPrefix}/backup/${stanza}/\\d{8}-\\d{6}F/backup\\.manifest$`);
  const backup = await waitFor("the first cluster's first full backup in the repository", 300_000, async () =>
    standin.keys(`${srcPrefix}/backup/`).find((k) => full.test(k)),
  );
  await query(direct, "CREATE TABLE IF NOT EXISTS rehearsal_restore (id int PRIMARY KEY, batch text NOT NULL)");
  await query(direct, "INSERT INTO rehearsal_restore SELECT g, 'before' FROM generate_series(1, $1::int) g", [ROWS_BEFORE]);
  // The target: on the database's clock, half a second after the first batch committed and before the second.
  const [{ at }] = await query<{ at: string }>(
    direct,
    `SELECT pg_sleep(0.5), to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at`,
  );
  await query(direct, "SELECT pg_sleep(0.5)");
  await query(direct, "INSERT INTO rehearsal_restore SELECT g, 'after' FROM generate_series($1::int + 1, $1::int + $2::int) g", [
    ROWS_BEFORE,
    ROWS_AFTER,
  ]);
  const [{ seg }] = await query<{ seg: string }>(direct, "SELECT pg_walfile_name(pg_current_wal_lsn()) AS seg");
  await query(direct, "SELECT pg_switch_wal()");
  await waitFor(`WAL segment ${seg} archived`, 180_000, async () => {
    const [r] = await query<{ last: string | null }>(direct, "SELECT last_archived_wal AS last FROM pg_stat_archiver");
    return r.last && r.last.slice(8) >= seg.slice(8) ? r.last : undefined;
  });
  record(results, {
    name: t(`source: full backup ${backup.split("/")[3]}, ${ROWS_BEFORE} rows before ${at} and ${ROWS_AFTER} after, archived`),
    ok: true,
  });

  // 2. The second cluster, from the component, restored to that time.
  const args = restoredArgs({ clusterName: stanza, bucketName: repo.bucket }, at, mode);
  const rc2 = await startRestoredCluster(rc, args, own, mode === "probe" ? ["pg-0"] : undefined);
  const d2 = rc2.deployment;
  const booted = d2.hosts.filter((h) => rc2.containers.has(h.name));
  record(results, {
    name: t(
      `${RESTORED_CLUSTER}: cloud-init finished without errors on ${mode === "probe" ? "its first node" : `its ${booted.length} hosts`}`,
    ),
    ok: rc2.firstVerdicts.every((v) => v.status === "done" && v.errors.length === 0),
    detail: JSON.stringify(rc2.firstVerdicts),
  });

  // The restore section and the source's passphrase, as node-init wrote them.
  const sourcePass = d.parameters.find((p) => p.name.endsWith(`/${stanza}/backup/repo-cipher-pass`))!;
  const problems = booted.flatMap((h) => {
    const c = rc2.containers.get(h.name)!;
    const out: string[] = [];
    const rendered = nodeInitPlanOf(h.userData).agentConfig.config.bootstrap;
    const written = JSON.parse(readFileSync(containerPath(c, NODE_PATHS.agentConfig), "utf8")).bootstrap;
    if (JSON.stringify(written) !== JSON.stringify(rendered)) out.push(`${h.key}: agent config bootstrap ${JSON.stringify(written)}`);
    const f = written?.fromBackup;
    if (f?.stanza !== stanza || f?.repo?.path !== repo.path || f?.target?.time !== at) out.push(`${h.key}: not the source/target`);
    const pass = containerPath(c, NODE_PATHS.restoreSourceCipherPassFile);
    const st = statSync(pass);
    const postgres = parsePasswd(readFileSync(containerPath(c, "/etc/passwd"), "utf8"), "postgres");
    if ((st.mode & 0o777) !== 0o600 || st.uid !== postgres?.uid)
      out.push(`${h.key}: passphrase file mode ${(st.mode & 0o777).toString(8)}`);
    if (readFileSync(pass, "utf8").trim() !== sourcePass.value) out.push(`${h.key}: passphrase is not the source's SSM value`);
    return out;
  });
  record(results, {
    name: t(
      `${RESTORED_CLUSTER}: every node's agent config restores stanza ${stanza} to ${at}, with the source's passphrase from SSM ` +
        `in ${NODE_PATHS.restoreSourceCipherPassFile} (0600, postgres)`,
    ),
    ok: problems.length === 0,
    detail: problems.join("; "),
  });

  if (mode === "probe") {
    // The agent's checks before a restore: the role reads the source's stanza, the passphrase decrypts it, the target is in range.
    const c = rc2.containers.get("pg-0")!;
    const verdict = await waitFor("the agent's restore checks on rpg-0", 180_000, async () => {
      const j = await inContainer(c, ["journalctl", "-u", UNITS.agent, "--no-pager", "-o", "cat"]);
      if (/restore from the backup is refused/.test(j))
        return j
          .split("\n")
          .filter((l) => /refused| {2}- /.test(l))
          .join("\n");
      return /can be restored/.test(j) ? "passed" : undefined;
    });
    record(results, {
      name: t(
        `${RESTORED_CLUSTER}: the agent's restore checks pass on its first node ` +
          "(the source's stanza read with its role, decrypted, target in range)",
      ),
      ok: verdict === "passed",
      detail: verdict,
    });
    return;
  }

  // One primary, every replica streaming; exactly the rows committed before the target, on every member.
  const roles2 = await settledRoles(rc2, 420_000);
  const p2 = d2.hosts.find((h) => h.name === roles2.find((r) => !r.inRecovery)!.name)!;
  record(results, {
    name: t(
      `${RESTORED_CLUSTER}: one primary (${p2.key}, timeline ${roles2.find((r) => !r.inRecovery)!.timeline}), every replica streaming`,
    ),
    ok: true,
  });
  const counts = await Promise.all(
    d2.hosts.map((h) =>
      query<{ batch: string; n: string; max: number }>(
        verifyFull(d2, h.address, NODE_PORTS.postgres, h.address),
        "SELECT batch, count(*) AS n, max(id) AS max FROM rehearsal_restore GROUP BY batch",
      ).then((rows) => `${h.key}: ${rows.map((r) => `${r.batch}=${r.n}`).join(",")}`),
    ),
  );
  record(results, {
    name: t(`${RESTORED_CLUSTER}: exactly the ${ROWS_BEFORE} rows committed before the target on every member, none of the later ones`),
    ok: counts.every((c) => c.endsWith(`: before=${ROWS_BEFORE}`)),
    detail: counts.join("; "),
  });

  // The replicas were built from the source's backup (the agent's restoreReplica), not copied from the new primary.
  const built = await Promise.all(
    d2.hosts
      .filter((h) => h !== p2)
      .map((h) =>
        inContainer(rc2.containers.get(h.name)!, ["journalctl", "-u", UNITS.agent, "--no-pager", "-o", "cat"]).then(
          (j) => `${h.key}: ${/as a replica/.test(j) ? "restored" : "not restored"}${/pg_basebackup/.test(j) ? ", pg_basebackup" : ""}`,
        ),
      ),
  );
  record(results, {
    name: t(`${RESTORED_CLUSTER}: the replicas restored a backup of the source plus WAL instead of copying the new primary`),
    ok: built.every((b) => /: restored$/.test(b)),
    detail: built.join("; "),
  });

  // Its own archive: its own prefix and stanza in the bucket; nothing written into the source's by its role.
  const direct2 = verifyFull(d2, p2.address, NODE_PORTS.postgres, p2.address);
  const ownPrefix = `${RESTORED_CLUSTER}/archive/${RESTORED_CLUSTER}/`;
  const segment = /\/[0-9A-F]{24}-[0-9a-f]{40}(\.[a-z0-9]+)?$/;
  const archived = await waitFor(
    `WAL of ${RESTORED_CLUSTER} archived under ${ownPrefix}`,
    240_000,
    async () => {
      await query(direct2, "INSERT INTO rehearsal_restore VALUES ((SELECT max(id) + 1000 FROM rehearsal_restore), 'restored')");
      await query(direct2, "SELECT pg_switch_wal()");
      const keys = standin.keys(ownPrefix);
      return keys.some((k) => k.endsWith("/archive.info")) && keys.some((k) => segment.test(k)) ? keys : undefined;
    },
    5000,
  );
  const mine = standin.served.filter((r) => r.by === rc2.credentials.accessKeyId);
  const intoSource = mine.filter((r) => r.key.startsWith(`${srcPrefix}/`) && WRITES.has(r.op));
  const readSource = mine.filter((r) => r.key.startsWith(`${srcPrefix}/`) && r.op === "GetObject" && r.status === 200);
  record(results, {
    name: t(
      `${RESTORED_CLUSTER}: archives into its own prefix and stanza (${archived.length} objects under ${ownPrefix}); ` +
        `its role read the source (${readSource.length} objects) and wrote nothing there`,
    ),
    ok: intoSource.length === 0 && readSource.length > 0,
    detail: JSON.stringify(intoSource.slice(0, 5)),
  });
}
