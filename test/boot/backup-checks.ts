/**
 * What the rehearsal checks of backups on the booted nodes: pgBackRest is installed, the repository
 * passphrase node-init wrote from SSM is the parameter's value in a 0600 file of postgres, pgBackRest
 * reaches the repository with the instance role's credentials from the metadata service (no key on
 * the node) and is refused outside the cluster's prefix, and the agent archives WAL there, encrypted.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { parsePasswd } from "../../sidecar/boot/node-init";
import { NODE_PORTS } from "../../lib/args/types";
import { query, verifyFull } from "./checks";
import { RehearsalCluster } from "./cluster";
import { Container, containerPath, inContainer, waitFor } from "./hosts";
import { Check, record, settledRoles } from "./steps";

/** pgBackRest on a node, with the repository options of its agent config given on the command line. */
function pgbackrest(c: Container, repo: NonNullable<RehearsalCluster["deployment"]["backup"]>, path: string, command: string[]) {
  return inContainer(
    c,
    [
      "runuser",
      "-u",
      "postgres",
      "--",
      "pgbackrest",
      "--config=/dev/null",
      // Errors on stderr, where the check's runner reads a failure's reason.
      "--log-level-console=off",
      "--log-level-stderr=warn",
      "--log-level-file=off",
      "--repo1-type=s3",
      `--repo1-s3-bucket=${repo.bucket}`,
      `--repo1-s3-endpoint=${repo.endpoint}`,
      `--repo1-s3-region=${repo.region}`,
      // The instance role's credentials, which pgBackRest fetches from the metadata service (IMDSv2).
      "--repo1-s3-key-type=auto",
      `--repo1-path=${path}`,
      ...command,
    ],
    { timeoutMs: 60_000 },
  );
}

/** The agent build archives WAL once its backup module is in the bundle (the `backup` branch's agent). */
function agentArchives(): boolean {
  return existsSync(join(__dirname, "../../sidecar/backup/pgbackrest.js"));
}

/** Runs the checks, recording each; true when all passed. */
export async function backupChecks(rc: RehearsalCluster, topology: string, results: Check[]): Promise<boolean> {
  const before = results.length;
  await checkBackups(rc, topology, results);
  return results.slice(before).every((r) => r.ok);
}

async function checkBackups(rc: RehearsalCluster, topology: string, results: Check[]): Promise<void> {
  const d = rc.deployment;
  const t = (name: string) => `${topology}: ${name}`;
  const repo = d.backup;
  if (!repo || !rc.backupRepo) {
    record(results, { name: t("backups are on by default (the nodes' agent config has a backup section)"), ok: false });
    return;
  }
  const nodes = d.hosts.filter((h) => h.runsPostgres).map((h) => rc.containers.get(h.name)!);

  const versions = await Promise.all(
    nodes.map((c) => inContainer(c, ["pgbackrest", "version"]).catch((e: Error) => `missing: ${e.message}`)),
  );
  record(results, {
    name: t(`pgBackRest installed by cloud-init on every PostgreSQL node (${versions[0].trim()})`),
    ok: versions.every((v) => /^pgBackRest \d/.test(v)),
    detail: versions.join("; "),
  });

  const passParam = d.parameters.find((p) => p.name.endsWith("/backup/repo-cipher-pass"));
  const passProblems = nodes.flatMap((c) => {
    const path = containerPath(c, repo.cipherPassFile);
    const st = statSync(path);
    const postgres = parsePasswd(readFileSync(containerPath(c, "/etc/passwd"), "utf8"), "postgres");
    const problems: string[] = [];
    if ((st.mode & 0o777) !== 0o600) problems.push(`${c.host}: mode ${(st.mode & 0o777).toString(8)}`);
    if (st.uid !== postgres?.uid) problems.push(`${c.host}: owner uid ${st.uid}, not postgres`);
    if (passParam?.type !== "SecureString" || readFileSync(path, "utf8").trim() !== passParam.value)
      problems.push(`${c.host}: not the SSM value`);
    return problems;
  });
  record(results, {
    name: t(`the repository passphrase from the SSM SecureString, in ${repo.cipherPassFile} 0600 owned by postgres on every node`),
    ok: passParam !== undefined && passProblems.length === 0,
    detail: passProblems.join("; "),
  });

  // The role's scope, as pgBackRest meets it: its own prefix lists; a neighbour's is refused by the policy.
  // (A path inside the repository: pgBackRest first looks the path up as an object, and the role may
  // read objects under the prefix only, not one named like the prefix itself.)
  const own = await pgbackrest(nodes[0], repo, repo.path, ["repo-ls", "archive"]).then(
    () => "listed",
    (e: Error) => e.message,
  );
  const other = await pgbackrest(nodes[0], repo, "/another-cluster", ["repo-ls", "archive"]).then(
    () => "listed",
    (e: Error) => e.message,
  );
  const served = rc.backupRepo.standin.served;
  const denied = served.filter((r) => r.status === 403 && r.key.startsWith("another-cluster"));
  const ownDenied = served.filter((r) => r.status === 403 && r.key.startsWith(repo.path.slice(1)));
  record(results, {
    name: t(`pgBackRest reaches the repository with the instance role's credentials (TLS, ${repo.endpoint}); another prefix is denied`),
    ok: own === "listed" && other !== "listed" && /403|AccessDenied/i.test(other) && denied.length > 0 && ownDenied.length === 0,
    detail:
      `own prefix: ${own}\nanother prefix: ${other}\nrepository requests: ` +
      JSON.stringify(served.filter((r) => !r.key.startsWith("latest/")).slice(-10)),
  });

  if (!agentArchives()) {
    process.stdout.write(`  - ${t("archiving: skipped, this agent build has no backup module yet")}\n`);
    return;
  }
  const stanza = d.clusterName;
  const prefix = `${repo.path.replace(/^\//, "")}/archive/${stanza}/`;
  try {
    const roles = await settledRoles(rc);
    const primary = d.hosts.find((h) => h.name === roles.find((r) => !r.inRecovery)!.name)!;
    const direct = verifyFull(d, primary.address, NODE_PORTS.postgres, primary.address);
    const segment = /\/[0-9A-F]{24}-[0-9a-f]{40}(\.[a-z0-9]+)?$/;
    const archived = await waitFor(
      "a WAL segment archived in the repository",
      240_000,
      async () => {
        await query(direct, "INSERT INTO rehearsal_writes (id) VALUES ((SELECT coalesce(max(id), 0) + 1 FROM rehearsal_writes))");
        await query(direct, "SELECT pg_switch_wal()");
        const keys = rc.backupRepo!.standin.keys(prefix);
        return keys.some((k) => k.endsWith("/archive.info")) && keys.some((k) => segment.test(k)) ? keys : undefined;
      },
      5000,
    );
    const info = rc.backupRepo.standin.objects.get(`${prefix}archive.info`)!.data;
    const wal = rc.backupRepo.standin.objects.get(archived.find((k) => segment.test(k))!)!.data;
    const [stats] = await query<{ archived: string; failed: string }>(
      direct,
      "SELECT archived_count AS archived, failed_count AS failed FROM pg_stat_archiver",
    );
    // pgBackRest's repo-cipher writes OpenSSL's "Salted__" header: nothing in the bucket is readable without the passphrase.
    const encrypted = info.subarray(0, 8).toString("latin1") === "Salted__" && wal.subarray(0, 8).toString("latin1") === "Salted__";
    record(results, {
      name: t(`stanza ${stanza} created and WAL archived from the primary (${primary.name}) into the repository, encrypted (repo-cipher)`),
      ok: encrypted,
      detail: `${archived.length} objects under ${prefix}; pg_stat_archiver archived ${stats.archived}, failed ${stats.failed}`,
    });
  } catch (e) {
    record(results, { name: t(`stanza ${stanza} created and WAL archived into the repository`), ok: false, detail: (e as Error).message });
  }
}
