/**
 * Day-1 faults on real systemd, in order of value:
 *  1. crash-node: the primary's container loses power (SIGKILL to its PID 1) while a client writes
 *     through the NLB stand-in → a new primary behind the stand-in, no acknowledged write lost
 *     (synchronous mode); the crashed node boots again and rejoins;
 *  2. reboot a replica (clean shutdown, same root and data volume) → it rejoins without a copy;
 *  3. replace a replica (fresh root file system, new instance id, same data volume and address, as
 *     `pulumi up --replace` does) → cloud-init runs the user-data again and the node rejoins;
 *  4. replace a dedicated etcd member the same way → it rejoins the etcd cluster with its kept data.
 * "Without a copy" = the data directory's base/ is the same directory (inode) as before: a base
 * backup rebuilds the data directory.
 */
import { statSync } from "node:fs";
import { Client } from "pg";
import { NODE_PATHS } from "../../lib/userdata/paths";
import { Cleanup } from "./cleanup";
import { bootHost, RehearsalCluster } from "./cluster";
import { etcdHealth, query } from "./checks";
import { NODE_PORTS } from "../../lib/args/types";
import { UNITS } from "../../lib/userdata/paths";
import { Container, containerPath, crash, powerOff, waitFor } from "./hosts";
import { Check, record, settledRoles, viaNlb } from "./steps";

export interface WriteLog {
  acked: number[];
  ackTimes: number[];
  /** The address of the PostgreSQL that acknowledged each write. */
  ackedBy: string[];
  running: boolean;
  errors: string[];
}

/** One client inserting sequential ids through the NLB stand-in; reconnects after any error. */
export async function writeLoop(rc: RehearsalCluster, log: WriteLog, firstId: number): Promise<void> {
  let id = firstId;
  let client: Client | undefined;
  while (log.running) {
    try {
      if (!client) {
        // Short timeouts, like the fault suite's writer: a write stuck on the dead primary is given up soon.
        client = new Client({ ...viaNlb(rc), connectionTimeoutMillis: 2000, query_timeout: 3000 });
        client.on("error", () => undefined);
        await client.connect();
      }
      const r = await client.query<{ by: string }>(
        "INSERT INTO rehearsal_writes (id) VALUES ($1) RETURNING host(inet_server_addr()) AS by",
        [id],
      );
      log.ackedBy.push(r.rows[0].by);
      log.acked.push(id);
      log.ackTimes.push(Date.now());
      id++;
    } catch (e) {
      log.errors.push((e as Error).message);
      id++; // an unacknowledged id may or may not have committed: never reuse it
      await client?.end().catch(() => undefined);
      client = undefined;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  await client?.end().catch(() => undefined);
}

export function dataDirIdentity(c: Container): number {
  return statSync(containerPath(c, `${NODE_PATHS.pgData}/base`)).ino;
}

async function waitAcks(log: WriteLog, n: number, after: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (log.ackTimes.filter((t) => t > after).length >= n) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

export async function runFaults(rc: RehearsalCluster, cleanup: Cleanup, results: Check[]): Promise<void> {
  const hostOf = (name: string) => rc.deployment.hosts.find((h) => h.name === name)!;

  // 1. crash the primary under writes
  let roles = await settledRoles(rc);
  const oldPrimary = roles.find((r) => !r.inRecovery)!.name;
  const [{ next }] = await waitFor("the NLB stand-in to answer", 60_000, () =>
    query<{ next: string }>(viaNlb(rc), "SELECT coalesce(max(id), 0) + 1 AS next FROM rehearsal_writes"),
  );
  const log: WriteLog = { acked: [], ackTimes: [], ackedBy: [], running: true, errors: [] };
  const writer = writeLoop(rc, log, Number(next));
  if (!(await waitAcks(log, 50, 0, 60_000))) {
    log.running = false;
    await writer;
    record(results, {
      name: "crash-node: writes flow through the NLB stand-in before the crash",
      ok: false,
      detail: log.errors.slice(-5).join("\n"),
    });
    return;
  }
  const crashedAt = Date.now();
  await crash(rc.containers.get(oldPrimary)!, cleanup);
  // Writes in flight when the plug was pulled may still be acknowledged while the container's
  // processes die: count as "after" only what is acknowledged once the container is gone.
  const downAt = Date.now();
  const resumed = await waitAcks(log, 20, downAt, 120_000);
  log.running = false;
  await writer;
  // The outage: the longest pause between two acknowledged writes from the plug pull on.
  let pause = 0;
  for (let i = 1; i < log.ackTimes.length; i++)
    if (log.ackTimes[i] >= crashedAt) pause = Math.max(pause, log.ackTimes[i] - log.ackTimes[i - 1]);
  const ackedBefore = log.ackTimes.filter((t) => t <= downAt).length;
  const oldAddress = hostOf(oldPrimary).address;
  const lateAcks = log.ackedBy.slice(ackedBefore).filter((a) => a === oldAddress).length;
  let newPrimary = "(none)";
  let lost: number[] = log.acked;
  if (resumed) {
    const ids = await waitFor("the new primary to answer", 60_000, () =>
      query<{ id: string }>(viaNlb(rc), "SELECT id FROM rehearsal_writes WHERE id = ANY($1::bigint[])", [log.acked]),
    );
    const present = new Set(ids.map((r) => Number(r.id)));
    lost = log.acked.filter((id) => !present.has(id));
    const [who] = await waitFor("the new primary to answer", 60_000, () =>
      query<{ addr: string }>(viaNlb(rc), "SELECT host(inet_server_addr()) AS addr"),
    );
    newPrimary = rc.deployment.hosts.find((h) => h.address === who.addr)?.name ?? who.addr;
  }
  record(results, {
    name: `crash-node: ${oldPrimary} powered off under writes → new primary ${newPrimary} behind the NLB stand-in, ${log.acked.length} acknowledged writes, ${lost.length} lost`,
    ok: resumed && lost.length === 0 && newPrimary !== oldPrimary && lateAcks === 0,
    detail:
      `writes ${resumed ? `paused ${(pause / 1000).toFixed(1)} s at most` : "never resumed"}; ${log.errors.length} failed attempts ` +
      `(last: ${log.errors[log.errors.length - 1] ?? "none"}); lost ids: ${lost.slice(0, 20).join(",")}; ` +
      `acknowledged by ${[...new Set(log.ackedBy.slice(0, ackedBefore))].join(",")} until the container was gone (${ackedBefore}), ` +
      `by ${[...new Set(log.ackedBy.slice(ackedBefore))].join(",")} after (${log.acked.length - ackedBefore})`,
  });
  process.stdout.write(`boot: crash-node: longest write pause ${resumed ? (pause / 1000).toFixed(1) : "∞"} s (a figure, not asserted)\n`);
  if (!resumed) return;

  // the crashed node powers on again (same root, same volume) and rejoins
  try {
    const v = await bootHost(rc, hostOf(oldPrimary), "reboot", cleanup);
    roles = await settledRoles(rc);
    record(results, {
      name: `crash-node: ${oldPrimary} powered on again and rejoins as a streaming replica`,
      ok: v.errors.length === 0 && roles.find((r) => r.name === oldPrimary)!.inRecovery,
    });
  } catch (e) {
    record(results, { name: `crash-node: ${oldPrimary} powered on again and rejoins`, ok: false, detail: (e as Error).message });
    return;
  }

  // 2. clean reboot of a replica
  const replica = roles.find((r) => r.inRecovery && r.name !== oldPrimary)!.name;
  try {
    const before = dataDirIdentity(rc.containers.get(replica)!);
    await powerOff(rc.containers.get(replica)!, cleanup);
    await bootHost(rc, hostOf(replica), "reboot", cleanup);
    roles = await settledRoles(rc);
    const same = dataDirIdentity(rc.containers.get(replica)!) === before;
    record(results, {
      name: `reboot: ${replica} rebooted (same root, same data volume) → streaming replica again, without a copy`,
      ok: same && roles.find((r) => r.name === replica)!.inRecovery,
    });
  } catch (e) {
    record(results, { name: `reboot: ${replica} rebooted and rejoins`, ok: false, detail: (e as Error).message });
    return;
  }

  // 3. replace a replica: fresh root file system, new instance id, same data volume and address
  try {
    const before = dataDirIdentity(rc.containers.get(replica)!);
    await powerOff(rc.containers.get(replica)!, cleanup);
    const v = await bootHost(rc, hostOf(replica), "replace", cleanup);
    roles = await settledRoles(rc);
    const same = dataDirIdentity(rc.containers.get(replica)!) === before;
    record(results, {
      name: `replace: ${replica} replaced (fresh root, new instance id, same volume and address) → cloud-init ${v.status}, streaming replica again, without a copy`,
      ok: v.status === "done" && v.errors.length === 0 && same && roles.find((r) => r.name === replica)!.inRecovery,
      detail: JSON.stringify(v),
    });
  } catch (e) {
    record(results, { name: `replace: ${replica} replaced and rejoins`, ok: false, detail: (e as Error).message });
    return;
  }

  // 4. replace a dedicated etcd member
  const etcdHost = rc.deployment.hosts.find((h) => !h.runsPostgres);
  if (!etcdHost) return;
  try {
    await powerOff(rc.containers.get(etcdHost.name)!, cleanup);
    const v = await bootHost(rc, etcdHost, "replace", cleanup);
    const endpoints = rc.deployment.hosts
      .filter((h) => h.userData.includes(UNITS.etcd))
      .map((h) => `https://${h.address}:${NODE_PORTS.etcdClient}`);
    const client = rc.deployment.hosts.find((h) => h.runsPostgres)!.name;
    const health = await waitFor("every etcd member healthy", 120_000, () => etcdHealth(rc.deployment, endpoints, client));
    await settledRoles(rc);
    record(results, {
      name: `replace: ${etcdHost.name} replaced (fresh root, same volume and address) → cloud-init ${v.status}, all ${endpoints.length} etcd members healthy, cluster still settled`,
      ok: v.status === "done" && v.errors.length === 0,
      detail: health.healthy,
    });
  } catch (e) {
    record(results, { name: `replace: ${etcdHost.name} replaced and rejoins etcd`, ok: false, detail: (e as Error).message });
  }
}
