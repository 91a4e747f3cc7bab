/**
 * One run of a fault scenario: wait until the cluster is healthy, start a tracked writer through the
 * proxy, inject the fault, repair it, wait for full health, stop the writer, then the checker's
 * verdicts: acknowledged writes lost on the final primary, split-brain moments, healed, and the
 * scenario's own checks. A failed run keeps the node logs and restores the cluster for the next one.
 */
import { Ack, HealVerdict, judgeHealed, SplitBrainMoment, splitBrainMoments } from "../helpers/fault-checker";
import { localUp } from "../../local/cluster";
import type { SynchronousMode } from "../../sidecar/contract/settings/schema";
import { keepNodeLogs, reinitNode, restartNode, waitForPrimary, waitHealthy } from "../../local/faults";
import { waitProxyWritable } from "../../local/health";
import { ClusterFile, fetchCluster, findNode, readClusterFile } from "../../local/state";
import { nodeDsn } from "../helpers/node-dsn";
import { isRunning, sleep } from "../../sidecar/postgres/process";
import { countLost, measureOutage } from "../../local/writer";
import { query } from "../helpers/pg-client";
import { Check, check, Ctx, Injected, Say } from "./context";
import { INJECT, ScenarioName } from "./scenarios";
import { TrackedWriter } from "./workload";

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

/** The application_names streaming from the leader (pg_stat_replication), undefined when unreadable. */
async function streamingFrom(c: ClusterFile, leader: string): Promise<string[] | undefined> {
  try {
    const rows = await query<{ name: string }>(
      nodeDsn(c, findNode(c, leader)),
      "SELECT application_name AS name FROM pg_stat_replication WHERE state = 'streaming'",
    );
    return rows.map((r) => r.name);
  } catch {
    return undefined;
  }
}

/** Healed per the checker, retried for up to timeoutMs (the leader's pg_stat_replication may trail /cluster by a moment). */
export async function verifyHealed(dir: string, formerPrimary: string, timeoutMs: number): Promise<HealVerdict> {
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

/** Acknowledged writes the harness waits for around a fault: the writer acks hundreds a second, so this takes moments. */
const ACKS_AROUND_FAULT = 100;

/** Waits until the writer has ACKS_AROUND_FAULT acks from member since `since`, at most 15 s; returns how many it has. */
async function writesAcked(writer: TrackedWriter, member: string, since: number): Promise<number> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const n = writer.countAcks(member, since);
    if (n >= ACKS_AROUND_FAULT || Date.now() > deadline) return n;
    await sleep(20);
  }
}

/** Restores a whole cluster after a failed run so the next scenario starts from one (reinit of anything not healthy). */
export async function salvage(dir: string, say: Say): Promise<void> {
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
export async function runScenario(
  dir: string,
  scenario: ScenarioName,
  say: Say = () => undefined,
  o: { reduced?: boolean } = {},
): Promise<RunReport> {
  const t0 = Date.now();
  const phase = (what: string) => say(`  [${((Date.now() - t0) / 1000).toFixed(1)} s] ${what}`);
  const leader = await waitHealthy(dir, 120_000, (l) => say(`  before: ${l}`));
  phase(`healthy, ${leader} leads`);
  const c = readClusterFile(dir);
  // Healthy by the agents is not yet routed by HAProxy (after a switchover it may reach the old primary for a check interval).
  await waitProxyWritable(c.dsn, 20_000);
  const writer = new TrackedWriter(c.dsn, c.nodes, 2);
  await writer.start();
  const checks: Check[] = [];
  const ctx: Ctx = { dir, c, leader, writer, say, checks, reduced: o.reduced ?? false };
  let injected: Injected | undefined;
  let healthyAt: number | undefined;
  let acks: Ack[];
  let result;
  const logs: string[] = [];
  try {
    await writesAcked(writer, leader, Date.now()); // the fault hits a writer that runs
    phase("injecting");
    injected = await INJECT[scenario](ctx);
    phase(`injected (${injected.newPrimary ?? "?"} primary)`);
    try {
      const final = await waitHealthy(dir, 120_000, (l) => say(`  heal: ${l}`));
      healthyAt = Date.now();
      phase("healthy again");
      // Writes on the final primary, counted below: clients reach it through the proxy again.
      const n = await writesAcked(writer, final, healthyAt);
      check(ctx, "the final primary acknowledged writes through the proxy", n >= ACKS_AROUND_FAULT, `${n} ack(s) from ${final}`);
    } catch (e) {
      check(ctx, "healed within 120 s", false, (e as Error).message);
    }
  } catch (e) {
    check(ctx, "scenario ran", false, (e as Error).message);
  } finally {
    result = await writer.stop();
    acks = result.acks;
  }
  phase(`writer stopped: ${result.ackedIds.length} acks`);
  const heal = await verifyHealed(dir, leader, healthyAt ? 10_000 : 1000);
  const final = heal.leader ?? (await waitForPrimary(dir, { timeoutMs: 30_000 }).catch(() => undefined));
  let lost = { lost: -1, sample: [] as number[] };
  if (final) {
    const finalDsn = nodeDsn(c, findNode(readClusterFile(dir), final));
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
    writerErrors: [
      ...new Set(result.failures.filter((f) => faultAt !== undefined && f.at >= faultAt).map((f) => f.error.slice(0, 160))),
    ].slice(0, 5),
  };
  phase("verdicts");
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
  for (const m of r.splitBrain)
    out.push(`split brain: ${m.member} (tl ${m.timeline}) acked ${m.acks} write(s) after ${m.against} (tl ${m.againstTimeline})`);
  if (!r.heal.healed) out.push(`not healed: ${r.heal.problems.join("; ")}`);
  for (const c of r.checks) if (!c.ok) out.push(`${c.name}: ${c.detail}`);
  return out;
}

export function verdictOk(r: RunReport): boolean {
  return failures(r).length === 0;
}

/**
 * localUp in synchronous mode on the first base port whose ports are free (28000-28999 is below
 * Linux's ephemeral range, but another program may still hold one of them); with netns, every
 * member in a namespace of its own (the partition scenarios).
 */
export async function upOnFreePorts(
  dir: string,
  basePorts: readonly number[],
  say?: Say,
  o: { netns?: boolean; synchronousMode?: SynchronousMode; backup?: boolean } = {},
): Promise<{ c: ClusterFile; basePort: number }> {
  for (const [i, basePort] of basePorts.entries()) {
    try {
      const synchronousMode = o.synchronousMode ?? "on";
      const c = await localUp({
        dir,
        basePort,
        synchronousMode,
        netns: o.netns ?? false,
        backup: o.backup ?? false,
        timeoutMs: 150_000,
        progress: say,
      });
      return { c, basePort };
    } catch (e) {
      if (!/already in use/.test((e as Error).message) || i === basePorts.length - 1) throw e;
      say?.(`base port ${basePort}: ${(e as Error).message.split("\n")[0]}; trying ${basePorts[i + 1]}`);
    }
  }
  throw new Error("no base port given");
}
