/**
 * The boot rehearsal's day-2 part (issue 16; docs/day2.md, docs/testing.md "Boot rehearsal"): each
 * change of ./day2-changes.ts replayed as the component's resources roll it out, with a writer going
 * through the NLB stand-in throughout. Per change: the deployment is rendered again under the mocks
 * with the changed args (same stack: unchanged resources keep their outputs, launch templates get a
 * new version), the stand-ins get what `pulumi up` changes (SSM parameters, new hosts' groups,
 * volumes and addresses, the NLB's targets), new groups launch their instance, and then the CLUSTER
 * rolls: the leader's coordinator terminates stale instances in their groups through the Auto
 * Scaling stand-in, which replaces each from the latest launch template version (./cluster.ts
 * replaceInstance). The rehearsal only watches, and checks per change:
 *  - never more than one PostgreSQL node and one etcd member down at a time (sampled, ./day2-monitor.ts);
 *  - the leader went last, after a switchover (another node was primary when its host was terminated);
 *  - every replaced or new host holds its fixed IP and its data volume in EC2's view, and a replaced
 *    one kept its data (the data directory's base/, etcd's member/: same inode: no copy);
 *  - 0 acknowledged writes lost; a renewed certificate is what PostgreSQL, the agent's API and etcd serve.
 * Prints the write pause and the time per host of each change, then
 * `day2: N passed, M failed, L lost, longest write pause X ms`.
 */
import { statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NODE_PATHS, UNITS } from "../../lib/userdata/paths";
import { redirectHttps } from "./backup-repo";
import { etcdHealth, nodeRoles, parameter, query } from "./checks";
import { Cleanup } from "./cleanup";
import { bootHost, RehearsalCluster, registerHosts, replaceInstance, Replacement } from "./cluster";
import { Day2Change, day2Changes } from "./day2-changes";
import { Day2Monitor } from "./day2-monitor";
import { etcdKeys, servedCertificate } from "./day2-probes";
import { BootHost, renderDeployment } from "./deployment";
import { dataDirIdentity } from "./faults";
import { Container, containerPath, crash, createNamespace, createVolume, inContainer, RUN_DIR, startProcess, waitFor } from "./hosts";
import { renewNext } from "./mocks";
import { renderNlbStandin } from "./nlb-standin";
import { GATEWAY } from "./plan";
import { Check, record, settledRoles, viaNlb } from "./steps";

const log = (m: string) => process.stdout.write(`boot: day2: ${m}\n`);
const alive = (c: Container | undefined) => !!c && c.nspawn.exitCode === null && c.nspawn.signalCode === null;

/** The identity of what a host keeps on its volume: PostgreSQL's base/ or etcd's member/ (an inode; a copy makes a new one). */
function keptData(h: BootHost, c: Container): number {
  return h.runsPostgres ? dataDirIdentity(c) : statSync(containerPath(c, `${NODE_PATHS.etcdData}/member`)).ino;
}

/** What `pulumi up` did besides the launch templates: new hosts' namespaces (subnet), volumes, groups; parameters; the NLB's targets. */
async function adopt(rc: RehearsalCluster, name: string, change: Day2Change, cleanup: Cleanup): Promise<BootHost[]> {
  for (const n of change.renew?.(rc.deployment.hosts.map((h) => h.name)) ?? []) renewNext.add(`${name}-${n}`);
  const before = rc.deployment;
  const d = await renderDeployment(name, change.args!);
  const added = d.hosts.filter((h) => !before.hosts.some((b) => b.name === h.name));
  for (const h of added) {
    await createNamespace(h.key, h.address, cleanup);
    if (rc.backupRepo) await redirectHttps(h.key);
    rc.loops.set(h.name, await createVolume(h.key, h.runsPostgres ? 2048 : 512, cleanup));
  }
  registerHosts(d, rc.loops, rc.ec2, rc.asg);
  for (const p of d.parameters) rc.standins.putParameter(p.name, p.type, p.value);
  // The role's policies name each host's parameters: the new hosts' are added (before their groups exist, as Pulumi orders it).
  rc.standins.setPolicies(rc.credentials, d.rolePolicies);
  rc.ec2.setPolicies(rc.credentials, d.rolePolicies);
  rc.deployment = d;
  if (added.some((h) => h.runsPostgres)) {
    // The target group attachments of the new nodes: the NLB stand-in reloads (the old process finishes its connections).
    const cfg = join(RUN_DIR, "nlb-standin.cfg");
    const targets = d.hosts.filter((h) => h.runsPostgres).map((h) => ({ name: h.name, address: h.address }));
    writeFileSync(cfg, renderNlbStandin(d.listeners, GATEWAY, targets));
    const old = rc.nlb;
    rc.nlb = startProcess(
      `NLB stand-in (HAProxy) with ${targets.length} targets`,
      "haproxy",
      ["-db", "-f", cfg, "-sf", String(old.pid)],
      join(RUN_DIR, "nlb-standin.log"),
      cleanup,
    );
  }
  return added;
}

/** The rolled state: every topology host reports its revision, no roll step, one primary and every replica streaming, etcd healthy. */
async function converged(rc: RehearsalCluster, pendingKill: string | undefined): Promise<true | undefined> {
  const d = rc.deployment;
  if (rc.replacements.some((r) => !r.bootedAt && !r.error)) return undefined;
  if (pendingKill && !rc.replacements.some((r) => r.host === pendingKill && r.why === "failed its health check" && r.bootedAt))
    return undefined;
  const topology = JSON.parse(parameter(d, "/topology")) as { nodes: HostRev[]; etcd: HostRev[] };
  const keys = await etcdKeys(d, `/service/${d.clusterName}/`);
  const roll = keys.get(`/service/${d.clusterName}/roll`);
  if (roll && /stalled/.test(roll)) throw new Error(`the roll stalled: ${roll}`);
  if (roll) return undefined;
  for (const h of [...topology.nodes, ...topology.etcd]) {
    const report = keys.get(`/service/${d.clusterName}/hosts/${h.name}`);
    if (!report || (JSON.parse(report) as { revision: string }).revision !== h.revision) return undefined;
  }
  const pg = d.hosts.filter((h) => h.runsPostgres).map((h) => h.name);
  const roles = await nodeRoles(d, pg);
  const primaries = roles.filter((r) => !r.inRecovery);
  if (primaries.length !== 1 || primaries[0].streamingReplicas !== pg.length - 1) return undefined;
  const endpoints = d.hosts.filter((h) => !h.runsPostgres).map((h) => `https://${h.address}:2379`);
  await etcdHealth(d, endpoints, pg[0]);
  return true;
}

interface HostRev {
  name: string;
  revision: string;
}

interface Outcome {
  ok: boolean;
  problems: string[];
  pauseMs: number;
  perHost: string[];
  lost: number;
}

async function applyChange(rc: RehearsalCluster, change: Day2Change, monitor: Day2Monitor, cleanup: Cleanup): Promise<Outcome> {
  const name = rc.deployment.clusterName;
  const t0 = Date.now();
  const problems: string[] = [];
  const roles = await settledRoles(rc);
  const leader = roles.find((r) => !r.inRecovery)!.name;
  const kept = new Map<string, number>();
  for (const h of rc.deployment.hosts) {
    const c = rc.containers.get(h.name);
    if (alive(c)) kept.set(h.name, keptData(h, c!));
  }
  const firstReplacement = rc.replacements.length;
  const newHosts: Array<{ h: BootHost; took: number; error?: string }> = [];
  if (change.args) {
    const added = await adopt(rc, name, change, cleanup);
    log(
      `${change.name}: rendered again; launch template versions ${rc.deployment.hosts.map((h) => `${h.name} v${h.launchVersion}`).join(", ")}`,
    );
    // The new hosts' groups launch their instance at `pulumi up`, all at once.
    await Promise.all(
      added.map(async (h) => {
        const s = Date.now();
        const v = await bootHost(rc, h, "first", cleanup).catch((e: Error) => ({ status: "error", errors: [e.message] }));
        newHosts.push({ h, took: Date.now() - s, error: v.status === "done" && !v.errors.length ? undefined : v.errors.join("; ") });
      }),
    );
  }
  if (change.renew) {
    // What the timer does every 15 minutes, now: rewrite changed files, reload what reads them.
    for (const h of rc.deployment.hosts) await inContainer(rc.containers.get(h.name)!, ["systemctl", "start", UNITS.certRefresh]);
  }
  let killed: string | undefined;
  if (change.kill) {
    const victim = roles.find((r) => r.inRecovery)!.name;
    killed = rc.deployment.hosts.find((h) => h.name === victim)!.key;
    log(`${change.name}: ${victim}'s container is killed outright`);
    await crash(rc.containers.get(victim)!, cleanup);
  }
  try {
    await waitFor(`the ${change.name} roll to finish`, 40 * 60_000, () => converged(rc, killed), 5000);
  } catch (e) {
    problems.push((e as Error).message);
  }
  if (change.renew) {
    const stale = await waitFor(
      "the renewed certificates to be served",
      120_000,
      async () => {
        const bad: string[] = [];
        for (const h of rc.deployment.hosts) {
          const want = parameter(rc.deployment, `/tls/${h.name}.crt`).replace(/\s+/g, "");
          const ports = h.runsPostgres ? [5432, 8008] : [2379];
          for (const port of ports) if ((await servedCertificate(rc.deployment, h, port)) !== want) bad.push(`${h.name}:${port}`);
        }
        return bad.length ? undefined : bad;
      },
      5000,
    ).catch((e: Error) => [e.message]);
    if (stale.length) problems.push(`not serving the renewed certificate: ${stale.join(", ")}`);
  }
  const end = Date.now();
  const replaced = rc.replacements.slice(firstReplacement);
  for (const r of replaced) if (r.error || r.verdict?.errors.length) problems.push(`${r.host}: ${r.error ?? r.verdict!.errors.join("; ")}`);
  for (const n of newHosts) if (n.error) problems.push(`${n.h.name} (new): ${n.error}`);

  // One PostgreSQL node and one etcd member down at most.
  const samples = monitor.between(t0, end);
  const worstPg = samples.reduce((m, s) => (s.pgDown.length > m.length ? s.pgDown : m), [] as string[]);
  const worstEtcd = samples.reduce((m, s) => (s.etcdDown.length > m.length ? s.etcdDown : m), [] as string[]);
  if (worstPg.length > 1) problems.push(`PostgreSQL nodes down at once: ${worstPg.join(", ")}`);
  if (worstEtcd.length > 1) problems.push(`etcd members down at once: ${worstEtcd.join(", ")}`);

  // The leader last, after a switchover.
  const rolledPg = replaced.filter(
    (r) => r.why === "terminated in its group" && rc.deployment.hosts.find((h) => h.key === r.host)?.runsPostgres,
  );
  if (rolledPg.length) {
    const last = rolledPg[rolledPg.length - 1];
    const leaderKey = rc.deployment.hosts.find((h) => h.name === leader)!.key;
    const before = [...monitor.samples].reverse().find((s) => s.at < last.requestedAt && s.primary);
    if (last.host !== leaderKey)
      problems.push(`the leader ${leader} was not replaced last (order ${rolledPg.map((r) => r.host).join(", ")})`);
    else if (!before || before.primary === leader) problems.push(`${leader} was still the primary when its instance was terminated`);
  }

  // Every replaced or new host holds its IP and volume (EC2's view) and kept its data.
  const touched = [...new Set([...replaced.map((r) => r.host), ...newHosts.map((n) => n.h.key)])];
  for (const key of touched) {
    const h = rc.deployment.hosts.find((x) => x.key === key)!;
    const inst = rc.ec2.current(key);
    const vol = rc.ec2.volumes.get(h.volumeId);
    if (!inst?.addresses.includes(h.address)) problems.push(`${h.name}: ${h.address} is not on its instance's interface`);
    if (vol?.attachment?.instanceId !== inst?.id || vol?.attachment?.state !== "attached")
      problems.push(`${h.name}: ${h.volumeId} is not attached to its instance`);
    const c = rc.containers.get(h.name);
    if (kept.has(h.name) && alive(c) && keptData(h, c!) !== kept.get(h.name)) problems.push(`${h.name}: its data was copied anew`);
  }
  const oldIds = replaced.filter((r) => r.oldInstance && r.oldInstance === r.newInstance);
  if (oldIds.length) problems.push(`same instance id after a replacement: ${oldIds.map((r) => r.host).join(", ")}`);

  // 0 acknowledged writes lost (so far).
  // A copy: the writer goes on acknowledging while the query runs, and those ids are not in its list.
  const acked = [...monitor.writes.acked];
  const rows = await waitFor("the primary to answer", 60_000, () =>
    query<{ id: string }>(viaNlb(rc), "SELECT id FROM rehearsal_writes WHERE id = ANY($1::bigint[])", [acked]),
  ).catch(() => []);
  const present = new Set(rows.map((r) => Number(r.id)));
  const lostIds = acked.filter((id) => !present.has(id));
  const lost = lostIds.length;
  if (lost) {
    // Which server acknowledged each and when: a reader lines them up with the replacements' times below.
    const w = monitor.writes;
    const at = (id: number) => {
      const i = acked.indexOf(id);
      const by = rc.deployment.hosts.find((h) => h.address === w.ackedBy[i])?.name ?? w.ackedBy[i];
      return `${id} by ${by} at ${new Date(w.ackTimes[i]).toISOString().slice(11, 23)}`;
    };
    const events = replaced.map((r) => `${r.host} terminated ${new Date(r.requestedAt).toISOString().slice(11, 23)}`);
    problems.push(`${lost} acknowledged writes lost: ${lostIds.slice(0, 12).map(at).join(", ")}; ${events.join(", ")}`);
  }

  const perHost = [
    ...replaced.map(
      (r: Replacement) =>
        `${r.host} ${r.bootedAt ? `${((r.bootedAt - r.requestedAt) / 1000).toFixed(0)} s` : "—"} (${r.why === "terminated in its group" ? "rolled" : "health check"})`,
    ),
    ...newHosts.map((n) => `${n.h.name} ${(n.took / 1000).toFixed(0)} s (new)`),
  ];
  return { ok: problems.length === 0, problems, pauseMs: monitor.longestPause(t0, end), perHost, lost };
}

/** Runs every change; records one check per change and returns the day-2 summary line. */
export async function runDay2(rc: RehearsalCluster, cleanup: Cleanup, results: Check[]): Promise<string> {
  const own: Check[] = [];
  const monitor = new Day2Monitor(rc);
  // The groups' EC2 health checks: an instance whose container died is replaced, without any `pulumi up`.
  let checking = true;
  const healthChecks = (async () => {
    while (checking && !cleanup.closing) {
      for (const h of rc.deployment.hosts) {
        const c = rc.containers.get(h.name);
        const pending = rc.replacements.some((r) => r.host === h.key && !r.bootedAt && !r.error);
        if (c && !alive(c) && !pending && rc.ec2.current(h.key)) void replaceInstance(rc, h.key, "failed its health check", cleanup);
      }
      await new Promise((r) => setTimeout(r, 2000));
    }
  })();
  let longest = 0;
  let lost = 0;
  try {
    const [{ next }] = await query<{ next: string }>(viaNlb(rc), "SELECT coalesce(max(id), 0) + 1 AS next FROM rehearsal_writes");
    monitor.start(Number(next));
    await waitFor("writes through the NLB stand-in", 60_000, async () => (monitor.writes.acked.length >= 20 ? true : undefined));
    const changes = day2Changes();
    for (const [i, change] of changes.entries()) {
      const started = Date.now();
      let o: Outcome;
      try {
        o = await applyChange(rc, change, monitor, cleanup);
      } catch (e) {
        o = { ok: false, problems: [(e as Error).stack ?? String(e)], pauseMs: 0, perHost: [], lost: 0 };
      }
      longest = Math.max(longest, o.pauseMs);
      lost = Math.max(lost, o.lost);
      log(
        `${change.name}: write pause ${o.pauseMs} ms; per host ${o.perHost.join(", ") || "none replaced"}; took ${((Date.now() - started) / 1000).toFixed(0)} s`,
      );
      record(own, { name: `day2: ${change.name}`, ok: o.ok, detail: o.problems.join("\n") });
      if (!o.ok && o.problems.some((p) => /timed out|stalled/.test(p))) {
        // The cluster did not settle: later changes would only pile up on it.
        for (const c of changes.slice(i + 1))
          record(own, { name: `day2: ${c.name}`, ok: false, detail: "not run: an earlier change did not settle" });
        break;
      }
    }
  } finally {
    checking = false;
    await healthChecks;
    await monitor.stop();
  }
  results.push(...own);
  const failed = own.filter((c) => !c.ok).length;
  const line = `day2: ${own.length - failed} passed, ${failed} failed, ${lost} lost, longest write pause ${longest} ms`;
  process.stdout.write(`${line}\n`);
  return line;
}
