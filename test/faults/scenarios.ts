/**
 * The fault suite's scenarios on a local cluster (loopback only) in synchronous mode. One run: wait
 * until the cluster is healthy, start a tracked writer through the proxy, inject the fault, repair
 * it, wait for full health, stop the writer, then the checker's verdicts: acknowledged writes lost on
 * the final primary, split-brain moments, healed, and the scenario's own checks.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { Ack, acksAfter, HealVerdict, judgeHealed, SplitBrainMoment, splitBrainMoments } from "../../sidecar/local/checker";
import { EtcdMemberInfo, isAlive as etcdAlive, restartEtcdMember, stopEtcdMember } from "../../sidecar/local/etcd";
import { crashPostgres, keepNodeLogs, killNode, postmasterPid, reinitNode, restartNode, stopAgent, waitAgentGone, waitForPrimary, waitHealthy } from "../../sidecar/local/faults";
import { localUp } from "../../sidecar/local/cluster";
import { computeLayout, DEFAULT_BASE_PORT } from "../../sidecar/local/layout";
import { apiStatus, ClusterFile, fetchCluster, findNode, readClusterFile, writeClusterFile } from "../../sidecar/local/state";
import { childPids, isRunning, sleep } from "../../sidecar/postgres/process";
import { countLost, measureOutage } from "../../sidecar/local/writer";
import { TrackedWriter } from "./workload";
import { dsnWithPort, query } from "../helpers/pg-client";

export const SCENARIO_NAMES = [
  "crash-node",
  "crash-pg",
  "freeze-node",
  "etcd-member-lost",
  "etcd-quorum-lost",
  "whole-cluster-restart",
  "lagging-replica",
  "fault-after-join",
] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

/** The agents' ttl in the local cluster (DEFAULTS.ttl), seconds. */
export const TTL_S = 4;

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export interface RunReport {
  scenario: ScenarioName;
  formerPrimary: string;
  newPrimary?: string;
  acked: number;
  lost: number;
  lostSample: number[];
  splitBrain: SplitBrainMoment[];
  /** Fault → the ack that ended the longest pause in writes (measureOutage's outageMs, as in bench:failover). */
  outageMs: number | null;
  /** The longest pause between acks from the fault on: the outage the clients saw (near 0 when writes never stopped). */
  pauseMs: number | null;
  /** Fault → every member healthy again (one leader, all others streaming). */
  timeToHealthMs: number | null;
  heal: HealVerdict;
  checks: Check[];
  /** Distinct errors the writer saw from the fault on (first 5), to tell what the outage looked like. */
  writerErrors: string[];
  /** Where node logs were kept when something failed. */
  logs?: string[];
}

type Say = (line: string) => void;

interface Ctx {
  dir: string;
  c: ClusterFile;
  leader: string;
  writer: TrackedWriter;
  say: Say;
  checks: Check[];
}

interface Injected {
  faultAt: number;
  newPrimary?: string;
}

const check = (ctx: Ctx, name: string, ok: boolean, detail: string) => ctx.checks.push({ name, ok, detail });

/** The sync key: the standby the leader recorded as synchronous (who may be promoted), via any live etcd member. */
export async function readSyncKey(c: ClusterFile): Promise<{ leader: string; sync_standby: string | null } | undefined> {
  const key = Buffer.from("/service/local/sync").toString("base64");
  for (const e of c.etcd) {
    try {
      const res = await fetch(`${e.clientUrl}/v3/kv/range`, { method: "POST", body: JSON.stringify({ key }), signal: AbortSignal.timeout(1000) });
      const body = (await res.json()) as { kvs?: { value: string }[] };
      if (!body.kvs?.length) return undefined;
      return JSON.parse(Buffer.from(body.kvs[0].value, "base64").toString()) as { leader: string; sync_standby: string | null };
    } catch {
      /* next member */
    }
  }
  return undefined;
}

/** Waits until the sync key names the current leader and a standby (the steady state in synchronous mode). */
async function syncStandbyOf(c: ClusterFile, leader: string, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await readSyncKey(c);
    if (s && s.leader === leader && s.sync_standby) return s.sync_standby;
    if (Date.now() > deadline) throw new Error(`the sync key does not name ${leader} with a standby within ${timeoutMs} ms (it holds ${JSON.stringify(s)})`);
    await sleep(200);
  }
}

// ---------- etcd members, stopped and restarted by pid (cluster.json keeps the new pid for `down`) ----------

function etcdMemberInfo(dir: string, c: ClusterFile, name: string): EtcdMemberInfo {
  const e = c.etcd.find((x) => x.name === name);
  if (!e) throw new Error(`no etcd member ${name}`);
  const args = fs.readFileSync(`/proc/${e.pid}/cmdline`, "utf8").split("\0").filter(Boolean).slice(1);
  const etcdDir = computeLayout({ dir, nodes: 0, etcd: 0, basePort: DEFAULT_BASE_PORT }).etcdDir;
  const dataDir = args.find((a) => a.startsWith("--data-dir="))?.slice("--data-dir=".length) ?? path.join(etcdDir, `${name}.data`);
  const peerUrl = args.find((a) => a.startsWith("--listen-peer-urls="))?.slice("--listen-peer-urls=".length) ?? "";
  return { name, clientUrl: e.clientUrl, peerUrl, pid: e.pid, dataDir, logFile: path.join(etcdDir, `${name}.log`), pidFile: path.join(etcdDir, `${name}.pid`), args };
}

/** What restartEtcd needs, read (from /proc/PID/cmdline) before the members are stopped. */
function etcdInfos(dir: string, names: string[]): EtcdMemberInfo[] {
  const c = readClusterFile(dir);
  return names.map((n) => etcdMemberInfo(dir, c, n));
}

async function stopEtcd(infos: EtcdMemberInfo[]): Promise<void> {
  await Promise.all(infos.map((m) => stopEtcdMember(m.pid)));
}

async function restartEtcd(dir: string, infos: EtcdMemberInfo[], say: Say): Promise<void> {
  // Restarted together: one member alone has no quorum and never reports healthy.
  const restarted = await Promise.all(infos.filter((m) => !etcdAlive(m.pid)).map((m) => restartEtcdMember(m, { timeoutMs: 30_000, onProgress: (l) => say(`  etcd: ${l}`) })));
  const c = readClusterFile(dir);
  for (const r of restarted) c.etcd.find((e) => e.name === r.name)!.pid = r.pid;
  writeClusterFile(dir, c);
}

// ---------- the scenarios ----------

/** Which member a failover promoted: the first other member to answer /primary 200. */
async function failoverTarget(ctx: Ctx, syncStandby: string): Promise<string> {
  const next = await waitForPrimary(ctx.dir, { exclude: [ctx.leader], timeoutMs: 30_000 });
  check(ctx, "promoted the standby named in the sync key", next === syncStandby, `sync key named ${syncStandby}; ${next} was promoted`);
  return next;
}

async function restartWhenGone(ctx: Ctx, name: string): Promise<void> {
  await waitAgentGone(ctx.dir, name, 30_000);
  restartNode(ctx.dir, name);
}

async function crashNode(ctx: Ctx): Promise<Injected> {
  const sync = await syncStandbyOf(ctx.c, ctx.leader);
  const f = killNode(ctx.dir, ctx.leader);
  const newPrimary = await failoverTarget(ctx, sync);
  await restartWhenGone(ctx, ctx.leader);
  return { faultAt: f.at, newPrimary };
}

async function crashPg(ctx: Ctx): Promise<Injected> {
  const sync = await syncStandbyOf(ctx.c, ctx.leader);
  const f = crashPostgres(ctx.dir, ctx.leader);
  // The agent may restart its PostgreSQL and keep the key, or the sync standby takes over.
  const newPrimary = await waitForPrimary(ctx.dir, { timeoutMs: 30_000 });
  check(ctx, "the primary afterwards is the old leader or the sync standby", newPrimary === ctx.leader || newPrimary === sync, `sync key named ${sync}; primary now ${newPrimary}`);
  return { faultAt: f.at, newPrimary };
}

/** The leader's agent, its postmaster and every child of the postmaster (found via /proc/N/stat's ppid). */
function freezeTargets(dir: string, name: string): number[] {
  const n = findNode(readClusterFile(dir), name);
  const pm = postmasterPid(n.dataDir);
  if (pm === undefined) throw new Error(`${name}: no running postmaster to freeze`);
  return [n.agentPid, pm, ...childPids(pm)];
}

async function freezeNode(ctx: Ctx): Promise<Injected> {
  const sync = await syncStandbyOf(ctx.c, ctx.leader);
  const pids = freezeTargets(ctx.dir, ctx.leader);
  let newPrimary: string;
  let newLeaderAt: number;
  let faultAt = 0;
  try {
    for (const p of pids) {
      try {
        process.kill(p, "SIGSTOP");
      } catch {
        /* a backend that just exited */
      }
    }
    faultAt = Date.now();
    ctx.say(`  froze ${ctx.leader}: pids ${pids.join(", ")}`);
    newPrimary = await failoverTarget(ctx, sync);
    newLeaderAt = Date.now();
    await sleep(500);
  } finally {
    for (const p of pids) {
      try {
        process.kill(p, "SIGCONT");
      } catch {
        /* gone */
      }
    }
  }
  ctx.say(`  resumed ${ctx.leader}`);
  await sleep(3000); // the writer keeps going: the resumed old primary must not take a single write
  const r = ctx.writer.snapshot();
  const firstNew = r.acks.find((a) => a.member === newPrimary && a.at > faultAt)?.at ?? newLeaderAt;
  const late = acksAfter(r.acks, ctx.leader, Math.min(newLeaderAt, firstNew));
  check(ctx, "the resumed old primary acknowledged no write after the new leader existed", late.length === 0, `${late.length} late ack(s)${late.length ? `: ids ${late.slice(0, 5).map((a) => a.id).join(", ")}` : ""}`);
  return { faultAt, newPrimary };
}

async function etcdMemberLost(ctx: Ctx): Promise<Injected> {
  const victim = ctx.c.etcd[0].name;
  const infos = etcdInfos(ctx.dir, [victim]);
  const faultAt = Date.now(); // the fault starts with the SIGTERM, not when the member is gone
  try {
    await stopEtcd(infos);
    await sleep(TTL_S * 1000 + 2000); // longer than a lease: the leader must renew through the other two
    const r = ctx.writer.snapshot();
    const during = r.acks.filter((a) => a.at > faultAt + 1000);
    check(ctx, "writes kept flowing with one etcd member down", during.length > 0, `${during.length} ack(s) after the first second`);
    const primary = await waitForPrimary(ctx.dir, { timeoutMs: 5000 });
    check(ctx, "no failover", primary === ctx.leader, `leader before ${ctx.leader}, primary now ${primary}`);
  } finally {
    await restartEtcd(ctx.dir, infos, ctx.say);
  }
  return { faultAt, newPrimary: ctx.leader };
}

async function etcdQuorumLost(ctx: Ctx): Promise<Injected> {
  const victims = ctx.c.etcd.slice(1, 3).map((e) => e.name);
  const infos = etcdInfos(ctx.dir, victims);
  const primaries = new Map<string, number>(); // member → last time it answered /primary 200
  const primaryTimes = new Map<string, number[]>();
  const faultAt = Date.now();
  let watching = true;
  // Watches /primary on every node from the SIGTERM on, through the whole outage.
  const watcher = (async () => {
    while (watching) {
      const c = readClusterFile(ctx.dir);
      const codes = await Promise.all(c.nodes.map((n) => apiStatus(n, "/primary", 300)));
      const now = Date.now();
      codes.forEach((s, i) => {
        if (s !== 200) return;
        primaries.set(c.nodes[i].name, now);
        primaryTimes.set(c.nodes[i].name, [...(primaryTimes.get(c.nodes[i].name) ?? []), now]);
      });
      await sleep(200);
    }
  })();
  try {
    await stopEtcd(infos);
    // etcd's graceful stop can take seconds, and the leader may renew its lease until the second
    // member is gone: quorum is lost at the latest now, so the fencing bound counts from here.
    const goneAt = Date.now();
    ctx.say(`  ${victims.join(", ")} gone ${goneAt - faultAt} ms after SIGTERM`);
    await sleep(TTL_S * 1000 + 3000);
    watching = false;
    await watcher;
    const r = ctx.writer.snapshot();
    const lastAck = r.acks.filter((a) => a.at > goneAt).pop()?.at;
    const limit = goneAt + TTL_S * 1000;
    check(
      ctx,
      `the leader stopped accepting writes within ttl (${TTL_S} s) of losing quorum`,
      lastAck === undefined || lastAck <= limit,
      lastAck === undefined ? "no ack after quorum was lost" : `last ack ${lastAck - goneAt} ms after quorum was lost`,
    );
    const others = [...primaries.keys()].filter((n) => n !== ctx.leader);
    check(ctx, "no member promoted without quorum", others.length === 0, others.length ? `${others.join(", ")} answered /primary 200` : "none did");
    const lastPrimary = [...(primaryTimes.get(ctx.leader) ?? [])].filter((t) => t > goneAt).pop();
    check(
      ctx,
      "the old leader stopped answering /primary within ttl",
      lastPrimary === undefined || lastPrimary <= limit + 500,
      lastPrimary === undefined ? "never after quorum was lost" : `last 200 ${lastPrimary - goneAt} ms after quorum was lost`,
    );
  } finally {
    watching = false;
    await watcher;
    await restartEtcd(ctx.dir, infos, ctx.say);
  }
  const newPrimary = await waitForPrimary(ctx.dir, { timeoutMs: 60_000 });
  return { faultAt, newPrimary };
}

async function wholeClusterRestart(ctx: Ctx): Promise<Injected> {
  const c = readClusterFile(ctx.dir);
  const names = c.nodes.map((n) => n.name);
  let faultAt = 0;
  for (const n of names) {
    stopAgent(ctx.dir, n);
    faultAt ||= Date.now();
  }
  await Promise.all(names.map((n) => waitAgentGone(ctx.dir, n, 60_000)));
  // Another order: the former leader last, the replicas in reverse.
  const order = [...names.filter((n) => n !== ctx.leader).reverse(), ctx.leader];
  ctx.say(`  all agents stopped; starting ${order.join(", ")}`);
  for (const n of order) {
    restartNode(ctx.dir, n);
    await sleep(500);
  }
  const newPrimary = await waitForPrimary(ctx.dir, { timeoutMs: 60_000 });
  return { faultAt, newPrimary };
}

async function laggingReplica(ctx: Ctx): Promise<Injected> {
  const sync = await syncStandbyOf(ctx.c, ctx.leader);
  const lagging = ctx.c.nodes.find((n) => n.name !== ctx.leader && n.name !== sync)!;
  const laggingDsn = dsnWithPort(ctx.c.dsn, lagging.pgPort);
  await query(laggingDsn, "SELECT pg_wal_replay_pause()");
  ctx.say(`  paused replay on ${lagging.name} (async); sync standby ${sync}`);
  let f;
  let newPrimary: string;
  try {
    await sleep(2000); // it falls behind
    const [lag] = await query<{ behind: string }>(laggingDsn, "SELECT pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::text AS behind");
    ctx.say(`  ${lagging.name} is ${lag.behind} bytes behind in replay`);
    f = killNode(ctx.dir, ctx.leader);
    newPrimary = await failoverTarget(ctx, sync);
    check(ctx, "the lagging (non-synchronous) replica was not promoted", newPrimary !== lagging.name, `promoted ${newPrimary}`);
  } finally {
    await query(laggingDsn, "SELECT pg_wal_replay_resume()").catch(() => undefined);
  }
  await restartWhenGone(ctx, ctx.leader);
  return { faultAt: f.at, newPrimary };
}

async function faultAfterJoin(ctx: Ctx): Promise<Injected> {
  const sync = await syncStandbyOf(ctx.c, ctx.leader);
  const joiner = sync; // the hardest case: the standby the key named comes back empty
  ctx.say(`  re-initialising ${joiner} with an empty data dir`);
  await reinitNode(ctx.dir, joiner);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const cl = await fetchCluster(readClusterFile(ctx.dir), 500);
    if (cl?.members.some((m) => m.name === joiner)) break;
    if (Date.now() > deadline) throw new Error(`${joiner} did not appear in /cluster within 60 s`);
    await sleep(50);
  }
  const f = killNode(ctx.dir, ctx.leader);
  ctx.say(`  ${joiner} appeared in /cluster; killed ${ctx.leader}`);
  // Watch for 15 s who becomes primary; nobody may be fine (the key may still name the joiner), the joiner may not.
  const c = readClusterFile(ctx.dir);
  const watched = c.nodes.filter((n) => n.name !== ctx.leader);
  let newPrimary: string | undefined;
  let joinerPrimary = false;
  const until = Date.now() + 15_000;
  while (Date.now() < until && !newPrimary) {
    const codes = await Promise.all(watched.map((n) => apiStatus(n, "/primary", 300)));
    codes.forEach((s, i) => {
      if (s === 200) {
        if (watched[i].name === joiner) joinerPrimary = true;
        newPrimary ??= watched[i].name;
      }
    });
    await sleep(100);
  }
  check(ctx, "the just-joined replica was not promoted", !joinerPrimary, newPrimary ? `${newPrimary} was promoted` : "nobody was promoted while the leader was down");
  await restartWhenGone(ctx, ctx.leader);
  return { faultAt: f.at, newPrimary: newPrimary ?? (await waitForPrimary(ctx.dir, { timeoutMs: 60_000 })) };
}

const INJECT: Record<ScenarioName, (ctx: Ctx) => Promise<Injected>> = {
  "crash-node": crashNode,
  "crash-pg": crashPg,
  "freeze-node": freezeNode,
  "etcd-member-lost": etcdMemberLost,
  "etcd-quorum-lost": etcdQuorumLost,
  "whole-cluster-restart": wholeClusterRestart,
  "lagging-replica": laggingReplica,
  "fault-after-join": faultAfterJoin,
};

export const DESCRIPTIONS: Record<ScenarioName, string> = {
  "crash-node": "kill -9 agent + PostgreSQL of the leader",
  "crash-pg": "kill -9 postmaster of the leader",
  "freeze-node": "SIGSTOP leader's agent + postgres, SIGCONT after a new leader",
  "etcd-member-lost": "stop 1 of 3 etcd members, restart it",
  "etcd-quorum-lost": "stop 2 of 3 etcd members, restart them",
  "whole-cluster-restart": "SIGTERM all agents, start in another order",
  "lagging-replica": "pause replay on the async replica, kill -9 the leader",
  "fault-after-join": "wipe + rejoin the sync standby, kill -9 the leader once it is in /cluster",
};

/** The application_names streaming from the leader (pg_stat_replication), undefined when unreadable. */
async function streamingFrom(c: ClusterFile, leader: string): Promise<string[] | undefined> {
  try {
    const rows = await query<{ name: string }>(dsnWithPort(c.dsn, findNode(c, leader).pgPort), "SELECT application_name AS name FROM pg_stat_replication WHERE state = 'streaming'");
    return rows.map((r) => r.name);
  } catch {
    return undefined;
  }
}

/** Healed per the checker, retried for up to timeoutMs (the leader's pg_stat_replication may trail /cluster by a moment). */
async function verifyHealed(dir: string, formerPrimary: string, timeoutMs: number): Promise<HealVerdict> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const c = readClusterFile(dir);
    const cl = await fetchCluster(c);
    const leader = cl?.members.find((m) => m.role === "leader")?.name;
    const v = judgeHealed(
      cl,
      c.nodes.map((n) => n.name),
      leader ? await streamingFrom(c, leader) : undefined,
      formerPrimary,
    );
    if (v.healed || Date.now() > deadline) return v;
    await sleep(300);
  }
}

/** Restores a whole cluster after a failed run so the next scenario starts from one (reinit of anything not healthy). */
async function salvage(dir: string, say: Say): Promise<void> {
  const c = readClusterFile(dir);
  for (const n of c.nodes) {
    if (!isRunning(n.agentPid)) {
      say(`  salvage: restarting ${n.name}`);
      restartNode(dir, n.name);
    }
  }
  try {
    await waitHealthy(dir, 60_000);
    return;
  } catch (e) {
    say(`  salvage: ${(e as Error).message.split("\n")[0]}`);
  }
  const cl = await fetchCluster(readClusterFile(dir));
  const leader = cl?.members.find((m) => m.role === "leader")?.name;
  for (const n of readClusterFile(dir).nodes) {
    const m = cl?.members.find((x) => x.name === n.name);
    if (n.name !== leader && (!m || m.state !== "streaming")) {
      say(`  salvage: re-initialising ${n.name}`);
      await reinitNode(dir, n.name);
    }
  }
  await waitHealthy(dir, 120_000);
}

/** One run of one scenario on the cluster in dir. Never throws for a failed verdict (it is in the report); throws when the harness itself fails. */
export async function runScenario(dir: string, scenario: ScenarioName, say: Say = () => undefined): Promise<RunReport> {
  const leader = await waitHealthy(dir, 120_000, (l) => say(`  before: ${l}`));
  const c = readClusterFile(dir);
  const writer = new TrackedWriter(c.dsn, c.nodes, 2);
  await writer.start();
  const checks: Check[] = [];
  const ctx: Ctx = { dir, c, leader, writer, say, checks };
  let injected: Injected | undefined;
  let healthyAt: number | undefined;
  let acks: Ack[] = [];
  let result;
  const logs: string[] = [];
  try {
    await sleep(1000);
    injected = await INJECT[scenario](ctx);
    try {
      await waitHealthy(dir, 120_000, (l) => say(`  heal: ${l}`));
      healthyAt = Date.now();
    } catch (e) {
      check(ctx, "healed within 120 s", false, (e as Error).message);
    }
    await sleep(1000); // writes on the final primary
  } catch (e) {
    check(ctx, "scenario ran", false, (e as Error).message);
  } finally {
    result = await writer.stop();
    acks = result.acks;
  }
  const heal = await verifyHealed(dir, leader, healthyAt ? 10_000 : 1000);
  const final = heal.leader ?? (await waitForPrimary(dir, { timeoutMs: 30_000 }).catch(() => undefined));
  let lost = { lost: -1, sample: [] as number[] };
  if (final) {
    const finalDsn = dsnWithPort(c.dsn, findNode(readClusterFile(dir), final).pgPort);
    lost = await countLost(finalDsn, result.ackedIds).catch((e: Error) => {
      check(ctx, "lost writes counted", false, e.message);
      return { lost: -1, sample: [] };
    });
  }
  const faultAt = injected?.faultAt;
  const outage = faultAt ? measureOutage(result, faultAt) : undefined;
  const report: RunReport = {
    scenario,
    formerPrimary: leader,
    newPrimary: injected?.newPrimary,
    acked: result.ackedIds.length,
    lost: lost.lost,
    lostSample: lost.sample,
    splitBrain: splitBrainMoments(acks),
    outageMs: outage?.outageMs ?? null,
    pauseMs: outage?.gapMs ?? null,
    timeToHealthMs: healthyAt && faultAt ? healthyAt - faultAt : null,
    heal,
    checks,
    writerErrors: [...new Set(result.failures.filter((f) => faultAt !== undefined && f.at >= faultAt).map((f) => f.error.slice(0, 160)))].slice(0, 5),
  };
  if (!verdictOk(report)) {
    for (const n of readClusterFile(dir).nodes) logs.push(keepNodeLogs(dir, n.name, `faults-${scenario}`));
    report.logs = logs;
    say(`  FAILED: ${failures(report).join("; ")} (logs in ${logs.join(", ")})`);
    await salvage(dir, say);
  }
  return report;
}

/** Everything that failed in a run, human-readable (empty = the run passed). */
export function failures(r: RunReport): string[] {
  const out: string[] = [];
  if (r.acked === 0) out.push("no write was acknowledged");
  if (r.lost !== 0) out.push(r.lost < 0 ? "lost writes not counted" : `${r.lost} acknowledged write(s) lost (${r.lostSample.join(", ")})`);
  for (const m of r.splitBrain) out.push(`split brain: ${m.member} (tl ${m.timeline}) acked ${m.acks} write(s) after ${m.against} (tl ${m.againstTimeline})`);
  if (!r.heal.healed) out.push(`not healed: ${r.heal.problems.join("; ")}`);
  for (const c of r.checks) if (!c.ok) out.push(`${c.name}: ${c.detail}`);
  return out;
}

export function verdictOk(r: RunReport): boolean {
  return failures(r).length === 0;
}

/**
 * localUp in synchronous mode on the first base port whose ports are free (28000-28999 is below
 * Linux's ephemeral range, but another program may still hold one of them).
 */
export async function upOnFreePorts(dir: string, basePorts: readonly number[], say?: Say): Promise<{ c: ClusterFile; basePort: number }> {
  for (const [i, basePort] of basePorts.entries()) {
    try {
      const c = await localUp({ dir, basePort, synchronousMode: "on", timeoutMs: 150_000, progress: say });
      return { c, basePort };
    } catch (e) {
      if (!/already in use/.test((e as Error).message) || i === basePorts.length - 1) throw e;
      say?.(`base port ${basePort}: ${(e as Error).message.split("\n")[0]}; trying ${basePorts[i + 1]}`);
    }
  }
  throw new Error("no base port given");
}
