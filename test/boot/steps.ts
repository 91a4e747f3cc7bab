/**
 * The rehearsal's checks after the first boot: each one a named verdict printed as it is made.
 */
import { NODE_PORTS } from "../../lib/args/types";
import {
  cloudInitLogs,
  etcdHealth,
  findSecrets,
  nodeRoles,
  NodeRole,
  query,
  SCANNED_DIRS,
  secretNeedles,
  verifyFull,
  worldReadableSecrets,
} from "./checks";
import { RehearsalCluster } from "./cluster";
import { waitFor } from "./hosts";
import { GATEWAY, Topology } from "./plan";
import { UNITS } from "../../lib/userdata/paths";

export interface Check {
  name: string;
  ok: boolean;
  detail?: string;
}

export function record(results: Check[], check: Check): boolean {
  results.push(check);
  process.stdout.write(
    `  ${check.ok ? "✓" : "✗"} ${check.name}${check.detail && (!check.ok || process.env.HAPG_BOOT_VERBOSE) ? `\n      ${check.detail.split("\n").join("\n      ")}` : ""}\n`,
  );
  return check.ok;
}

/** Waits for one primary with every other node streaming from it; returns the roles. */
export async function settledRoles(rc: RehearsalCluster, timeoutMs = 180_000): Promise<NodeRole[]> {
  const names = rc.deployment.hosts.filter((h) => h.runsPostgres).map((h) => h.name);
  return waitFor(
    "one primary with every replica streaming",
    timeoutMs,
    async () => {
      const roles = await nodeRoles(rc.deployment, names);
      const primaries = roles.filter((r) => !r.inRecovery);
      return primaries.length === 1 && primaries[0].streamingReplicas === names.length - 1 ? roles : undefined;
    },
    1000,
  );
}

/** Connection settings through the NLB stand-in, verify-full against the NLB's name. */
export function viaNlb(rc: RehearsalCluster) {
  const d = rc.deployment;
  return verifyFull(d, GATEWAY, d.primaryPort, d.primaryEndpoint);
}

export async function bootChecks(rc: RehearsalCluster, topology: Topology, results: Check[]): Promise<boolean> {
  const d = rc.deployment;
  const t = (name: string) => `${topology}: ${name}`;
  const needles = secretNeedles(d.secretValues);
  const leaks = d.hosts.filter((h) => findSecrets(h.userData, needles)).map((h) => h.name);
  record(results, { name: t("no secret in any host's user-data"), ok: leaks.length === 0, detail: leaks.join(", ") });

  const bad = d.hosts
    .map((h, i) => ({ h, v: rc.firstVerdicts[i] }))
    .filter(({ v }) => v.status !== "done" || v.errors.length > 0)
    .map(
      ({ h, v }) =>
        `${h.name}: ${v.status} ${v.errors.join("; ")} ${JSON.stringify(v.recoverable)}\n${cloudInitLogs(rc.containers.get(h.name)!).split("\n").slice(-15).join("\n")}`,
    );
  const recoverable = d.hosts.map((h, i) => `${h.name}: ${JSON.stringify(rc.firstVerdicts[i].recoverable)}`).join("\n");
  if (
    !record(results, {
      name: t(`cloud-init finished without error on all ${d.hosts.length} hosts`),
      ok: bad.length === 0,
      detail: bad.join("\n") || recoverable,
    })
  ) {
    return false;
  }

  const etcdEndpoints = d.hosts.filter((h) => h.userData.includes(UNITS.etcd)).map((h) => `https://${h.address}:${NODE_PORTS.etcdClient}`);
  const client = d.hosts.find((h) => h.runsPostgres)!.name;
  try {
    const etcd = await waitFor("etcd to answer over TLS", 60_000, () => etcdHealth(d, etcdEndpoints, client));
    record(results, {
      name: t(`etcd healthy over mutual TLS (${etcdEndpoints.length} members), a client without a certificate refused`),
      ok: etcd.refusedWithoutCert,
      detail: etcd.healthy,
    });
  } catch (e) {
    return record(results, { name: t("etcd healthy over mutual TLS"), ok: false, detail: (e as Error).message });
  }

  let roles: NodeRole[];
  try {
    roles = await settledRoles(rc);
    const primary = roles.find((r) => !r.inRecovery)!;
    record(results, {
      name: t(`one primary (${primary.name}) and ${roles.length - 1} streaming replicas`),
      ok: true,
      detail: JSON.stringify(roles),
    });
  } catch (e) {
    return record(results, { name: t("one primary and streaming replicas"), ok: false, detail: (e as Error).message });
  }

  try {
    await waitFor(
      "a write through the NLB stand-in",
      60_000,
      async () => {
        await query(viaNlb(rc), "CREATE TABLE IF NOT EXISTS rehearsal_writes (id bigint PRIMARY KEY, at timestamptz DEFAULT now())");
        await query(viaNlb(rc), "INSERT INTO rehearsal_writes (id) VALUES (0) ON CONFLICT DO NOTHING");
        return true;
      },
      2000,
    );
    const [row] = await query<{ n: string; ssl: boolean }>(
      viaNlb(rc),
      "SELECT count(*) AS n, (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()) AS ssl FROM rehearsal_writes",
    );
    // verify-full is real: the same connection under another server name is refused.
    const wrongName = await query(
      { ...viaNlb(rc), ssl: { ca: d.caCertificatePem, servername: "not-the-nlb.example.com" } },
      "SELECT 1",
    ).then(
      () => "accepted",
      (e: Error) => e.message,
    );
    record(results, {
      name: t(
        `a write through the NLB stand-in with sslmode=verify-full (server name ${d.primaryEndpoint}, the component's CA); another name refused`,
      ),
      ok: row.ssl && Number(row.n) === 1 && /does not match|altnames/i.test(wrongName),
      detail: `another server name: ${wrongName}`,
    });
  } catch (e) {
    return record(results, {
      name: t("a write through the NLB stand-in with sslmode=verify-full"),
      ok: false,
      detail: (e as Error).message,
    });
  }

  const logLeaks = d.hosts.filter((h) => findSecrets(cloudInitLogs(rc.containers.get(h.name)!), needles)).map((h) => h.name);
  record(results, { name: t("no secret in cloud-init's logs"), ok: logLeaks.length === 0, detail: logLeaks.join(", ") });
  const files = d.hosts.flatMap((h) =>
    worldReadableSecrets(rc.containers.get(h.name)!, SCANNED_DIRS, needles).map((f) => `${h.name}:${f}`),
  );
  // The scan's self-check: it does see the node's own 0600 secret files, so it would see a leak.
  const seen = d.hosts.flatMap((h) => worldReadableSecrets(rc.containers.get(h.name)!, ["/etc/hapg"], needles, false));
  record(results, {
    name: t(`no secret in a world-readable file (${SCANNED_DIRS.join(" ")}); the scan sees the ${seen.length} private secret files`),
    ok: files.length === 0 && seen.length >= d.hosts.length,
    detail: files.join(", "),
  });
  return results.every((r) => r.ok);
}
