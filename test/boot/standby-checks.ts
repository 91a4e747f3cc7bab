/**
 * Backups taken on a replica, on the booted nodes: every PostgreSQL node's agent runs pgBackRest's TLS
 * server on its port with the host certificate from SSM (the cluster CA's, the node's address among its
 * DNS names), the replicas reach the leader's, and `hapg backup` run as root on a node is taken on a
 * replica, with backup-standby, into the S3 stand-in.
 */
import { NODE_PORTS } from "../../lib/args/types";
import { NODE_PATHS } from "../../lib/userdata/paths";
import { apiRequest } from "../../sidecar/http/transport";
import type { BackupView } from "../../sidecar/backup/service";
import { certNamesHost, probeServer } from "../../sidecar/backup/standby";
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { RehearsalCluster } from "./cluster";
import { containerPath, inContainer, waitFor } from "./hosts";
import { Check, record, settledRoles } from "./steps";

export async function standbyBackupChecks(rc: RehearsalCluster, topology: string, results: Check[]): Promise<boolean> {
  const before = results.length;
  const t = (name: string) => `${topology}: ${name}`;
  const d = rc.deployment;
  const nodes = d.hosts.filter((h) => h.runsPostgres);
  const ca = Buffer.from(d.caCertificatePem);
  const view = async (address: string) =>
    JSON.parse((await apiRequest(`https://${address}:${NODE_PORTS.agentApi}/backup`, { ca, timeoutMs: 5000 })).text) as BackupView;
  try {
    const roles = await settledRoles(rc);
    const leader = roles.find((r) => !r.inRecovery)!.name;
    // Each node's server answers a TLS handshake with its host certificate, which names its address as a DNS name.
    const problems: string[] = [];
    for (const h of nodes) {
      const c = rc.containers.get(h.name)!;
      const tls = `${NODE_PATHS.postgresTlsDir}`;
      const cert = new X509Certificate(readFileSync(containerPath(c, `${tls}/host.crt`)));
      if (!certNamesHost(h.address, cert.subjectAltName, undefined))
        problems.push(`${h.name}: ${h.address} is not a DNS name of its certificate`);
      const own = {
        certFile: containerPath(c, `${tls}/host.crt`),
        keyFile: containerPath(c, `${tls}/host.key`),
        caFile: containerPath(c, `${tls}/ca.crt`),
      };
      const probe = await probeServer({ host: h.address, port: NODE_PORTS.pgbackrestServer }, own, 5000);
      if (probe) problems.push(`${h.name}: ${probe}`);
      const v = await view(h.address);
      if (!v.server?.running) problems.push(`${h.name}: the agent reports no running TLS server`);
    }
    record(results, {
      name: t(
        `pgBackRest's TLS server runs on port ${NODE_PORTS.pgbackrestServer} of every node with its host certificate (address as a DNS name)`,
      ),
      ok: problems.length === 0,
      detail: problems.join("; "),
    });
    const replicas = nodes.filter((h) => h.name !== leader);
    await waitFor(
      "every replica reaching the leader's TLS server",
      90_000,
      async () => ((await Promise.all(replicas.map((h) => view(h.address)))).every((v) => v.server?.reaches === leader) ? true : undefined),
      2000,
    );
    // A backup still running (the first one after bootstrap, taken again by a new leader after the
    // operator checks' switchover) makes the request a 409: wait until none runs.
    await waitFor(
      "no backup running on any node",
      300_000,
      async () => ((await Promise.all(nodes.map((h) => view(h.address)))).every((v) => !v.running) ? true : undefined),
      2000,
    );
    // As an operator would: `hapg backup` as root on a node asks the member that should take it.
    const shell = rc.containers.get(nodes[0].name)!;
    const out = await inContainer(shell, ["hapg", "backup", "--type", "full"], { timeoutMs: 300_000 });
    const taker = /full backup started on (\S+)/.exec(out)?.[1];
    const takerHost = nodes.find((h) => h.name === taker);
    const info = takerHost
      ? await inContainer(rc.containers.get(takerHost.name)!, [
          "runuser", "-u", "postgres", "--", "pgbackrest", `--config=${NODE_PATHS.pgData}.pgbackrest/pgbackrest.conf`,
          `--stanza=${d.clusterName}`, "repo-get", `backup/${d.clusterName}/backup.info`,
        ]) // prettier-ignore
      : "";
    const label = /backup (\S+F) done/.exec(out)?.[1];
    const line = info.split("\n").find((l) => label !== undefined && l.startsWith(`${label}=`));
    record(results, {
      name: t(`hapg backup is taken on a replica (${taker}) with backup-standby, into the repository`),
      ok: taker !== undefined && taker !== leader && line !== undefined && line.includes('"option-backup-standby":true'),
      detail: `${out.trim()}\n${line ?? "(label not in backup.info)"}`,
    });
  } catch (e) {
    record(results, { name: t("backups taken on a replica"), ok: false, detail: (e as Error).message });
  }
  return results.slice(before).every((r) => r.ok);
}
