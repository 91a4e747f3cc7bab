/**
 * A chaos run: one cluster, N faults in a row drawn from the seed (./kinds.ts), each repaired before
 * the next, one tracked writer through the proxy from the first fault to the last. Per fault: the
 * longest write pause from the fault on and when it ended (the first acknowledged write after the
 * outage), and the time to full health (one leader, every other member streaming from it, in its
 * pg_stat_replication). At the end: acknowledged writes missing from the final primary and
 * split-brain moments over the whole run, each laid at the fault it happened in.
 */
import * as path from "node:path";
import { percentile } from "../../sidecar/ha/renewal-stats";
import { waitForPrimary, waitHealthy } from "../../local/faults";
import { waitProxyWritable } from "../../local/health";
import { findNode, readClusterFile } from "../../local/state";
import { countLost, measureOutage } from "../../local/writer";
import { sleep } from "../../sidecar/postgres/process";
import { median, SplitBrainMoment, splitBrainMoments } from "../helpers/fault-checker";
import { nodeDsn } from "../helpers/node-dsn";
import type { Check, Say } from "../faults/context";
import { salvage, verifyHealed } from "../faults/harness";
import { TrackedWriter } from "../faults/workload";
import { etcdRevision, keepEvidence } from "./evidence";
import { drawFaults, FaultKind, longOutageMs } from "./kinds";
import { seededRandom } from "../helpers/seeded-random";
import type { ChaosCtx } from "./replica-faults";

/** Blocks of 300 ports above the fault suite's (28000-28999). */
export const CHAOS_BASE_PORTS = [29000, 29300];
/** A fault that is not healthy again this long after its repair is stuck (then the run salvages the cluster and goes on). */
export const STUCK_MS = 120_000;
/** Acknowledged writes the run waits for before a fault (and on the final primary after it): the writer acks hundreds a second. */
const ACKS_AROUND_FAULT = 50;

export interface FaultLine {
  index: number;
  kind: string;
  target: string;
  newPrimary?: string;
  /** Fault → the acknowledged write that ended the longest pause (the first write clients got through after the outage). */
  firstAckMs: number | null;
  /** The longest pause between acknowledged writes from the fault until full health: the outage clients saw. */
  pauseMs: number | null;
  /** Fault → full health; null: stuck. */
  healthMs: number | null;
  stuck: boolean;
  /** Longer than twice the kind's median (at least the floor). */
  long: boolean;
  failedChecks: string[];
  writerErrors: string[];
  /** Where its evidence was kept (long, stuck, or a failed check). */
  evidence?: string;
  from: number;
  to: number;
}

export interface KindStats {
  kind: string;
  faults: number;
  medianMs: number | null;
  p95Ms: number | null;
  maxMs: number | null;
  /** What the kind is judged against (twice the fault suite's median, at least the floor). */
  longAboveMs: number;
  long: number;
  stuck: number;
}

export interface ChaosReport {
  seed: number;
  synchronousMode: string;
  netns: boolean;
  /** The cluster ran with the backup repository (pgBackRest archiving to a local S3 server). */
  backup: boolean;
  faults: FaultLine[];
  acked: number;
  lost: number;
  lostSample: number[];
  /** Each with the index of the fault it happened in (0: before the first). */
  splitBrain: (SplitBrainMoment & { fault: number })[];
  stuck: number;
  failedChecks: number;
  perKind: KindStats[];
  evidenceDir: string;
  durationS: number;
}

async function waitForAcks(writer: TrackedWriter, member: string, since: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const n = writer.countAcks(member, since);
    if (n >= ACKS_AROUND_FAULT || Date.now() > deadline) return n;
    await sleep(20);
  }
}

/** Healthy by the agents and by the checker (the leader's pg_stat_replication lists everyone): the leader, or throws after timeoutMs. */
async function fullHealth(dir: string, formerPrimary: string, timeoutMs: number, say: Say): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  const leader = await waitHealthy(dir, timeoutMs, (l) => say(`  heal: ${l}`));
  const v = await verifyHealed(dir, formerPrimary, Math.max(1000, deadline - Date.now()));
  if (!v.healed) throw new Error(`not healed: ${v.problems.join("; ")}`);
  return v.leader ?? leader;
}

/** A pause shorter than this is no outage: the first write after the fault then counts, not the end of that pause. */
const NO_OUTAGE_MS = 250;

/** Fault → the first acknowledged write after the outage (the longest pause), or simply after the fault when writes never stopped. */
function firstAck(ackTimes: readonly number[], faultAt: number, o: { outageMs?: number; gapMs?: number }): number | null {
  if (o.outageMs === undefined) return null;
  if ((o.gapMs ?? 0) >= NO_OUTAGE_MS) return o.outageMs;
  const t = ackTimes.find((x) => x > faultAt);
  return t === undefined ? o.outageMs : t - faultAt;
}

export function kindStats(lines: readonly FaultLine[], kinds: readonly FaultKind[]): KindStats[] {
  return kinds
    .map((k) => {
      const ls = lines.filter((l) => l.kind === k.name);
      const pauses = ls.flatMap((l) => (l.pauseMs === null ? [] : [l.pauseMs])).sort((a, b) => a - b);
      return {
        kind: k.name,
        faults: ls.length,
        medianMs: median(pauses) ?? null,
        p95Ms: percentile(pauses, 0.95) ?? null,
        maxMs: pauses.length ? pauses[pauses.length - 1] : null,
        longAboveMs: longOutageMs(k),
        long: ls.filter((l) => l.long).length,
        stuck: ls.filter((l) => l.stuck).length,
      };
    })
    .filter((s) => s.faults > 0);
}

export interface ChaosOptions {
  dir: string;
  faults: number;
  seed: number;
  kinds: readonly FaultKind[];
  synchronousMode: string;
  netns: boolean;
  /** The cluster runs with the backup repository. Default false. */
  backup?: boolean;
  /** Where evidence directories go (one per fault kept). */
  evidenceDir: string;
  say: Say;
}

/** Runs the faults on the (healthy) cluster in dir. Throws only when the harness itself cannot go on. */
export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const t0 = Date.now();
  const random = seededRandom(o.seed);
  const plan = drawFaults(o.kinds, o.faults, random);
  o.say(`seed ${o.seed}: ${plan.map((k) => k.name).join(", ")}`);
  let leader = await waitHealthy(o.dir, STUCK_MS);
  const c0 = readClusterFile(o.dir);
  await waitProxyWritable(c0.dsn, 20_000);
  const writer = new TrackedWriter(c0.dsn, c0.nodes, 2);
  await writer.start();
  const lines: FaultLine[] = [];
  try {
    for (const [i, kind] of plan.entries()) {
      const index = i + 1;
      const checks: Check[] = [];
      const c = readClusterFile(o.dir);
      const ctx: ChaosCtx = { dir: o.dir, c, leader, writer, say: o.say, checks, reduced: true, random };
      await waitForAcks(writer, leader, Date.now(), 15_000); // the fault hits a writer that runs
      const rev = await etcdRevision(c);
      const started = Date.now();
      let faultAt = started;
      let target = "?";
      let newPrimary: string | undefined;
      try {
        const r = await kind.inject(ctx);
        faultAt = r.faultAt || started;
        target = r.target;
        newPrimary = r.newPrimary;
      } catch (e) {
        checks.push({ name: "the fault ran", ok: false, detail: (e as Error).message.split("\n")[0] });
      }
      let healthyAt: number | undefined;
      let healthError = "";
      try {
        leader = await fullHealth(o.dir, ctx.leader, STUCK_MS, o.say);
        healthyAt = Date.now();
        if (kind.verify) await kind.verify({ ...ctx, c: readClusterFile(o.dir), leader });
        // Writes on the final primary through the proxy again.
        const n = await waitForAcks(writer, leader, healthyAt, 15_000);
        if (n < ACKS_AROUND_FAULT)
          checks.push({ name: "the primary took writes through the proxy again", ok: false, detail: `${n} ack(s) from ${leader}` });
      } catch (e) {
        healthError = (e as Error).message.split("\n")[0];
      }
      const to = Date.now();
      const snap = writer.snapshot();
      const outage = measureOutage(snap, faultAt, to);
      const failed = checks.filter((x) => !x.ok).map((x) => `${x.name}: ${x.detail}`);
      const line: FaultLine = {
        index,
        kind: kind.name,
        target,
        newPrimary,
        firstAckMs: firstAck(snap.ackTimes, faultAt, outage),
        pauseMs: outage.gapMs ?? (healthyAt ? null : to - faultAt),
        healthMs: healthyAt ? healthyAt - faultAt : null,
        stuck: healthyAt === undefined,
        long: false,
        failedChecks: failed,
        writerErrors: [...new Set(snap.failures.filter((f) => f.at >= faultAt && f.at <= to).map((f) => f.error.slice(0, 120)))].slice(
          0,
          3,
        ),
        from: faultAt,
        to,
      };
      line.long = line.stuck || (line.pauseMs ?? 0) > longOutageMs(kind);
      if (line.long || failed.length) {
        const summary = `${describeLine(line)}${healthError ? `\nnot healthy: ${healthError}` : ""}${failed.length ? `\nfailed checks: ${failed.join("; ")}` : ""}`;
        line.evidence = keepEvidence({
          dir: o.dir,
          c: readClusterFile(o.dir),
          dest: path.join(o.evidenceDir, `fault-${String(index).padStart(3, "0")}-${kind.name}`),
          from: started,
          to,
          etcdRevisionBefore: rev,
          summary,
        });
      }
      lines.push(line);
      o.say(describeLine(line) + (healthError ? ` — ${healthError}` : "") + (failed.length ? ` — FAILED: ${failed.join("; ")}` : ""));
      if (line.stuck) {
        o.say("  salvaging the cluster for the next fault");
        await salvage(o.dir, o.say);
        leader = await waitHealthy(o.dir, STUCK_MS);
      }
    }
  } finally {
    await writer.stop();
  }
  const result = writer.snapshot();
  const c = readClusterFile(o.dir);
  const final = await waitForPrimary(o.dir, { timeoutMs: 30_000 });
  const lost = await countLost(nodeDsn(c, findNode(c, final)), result.ackedIds);
  const faultOf = (at: number) => lines.filter((l) => l.from <= at).pop()?.index ?? 0;
  const splitBrain = splitBrainMoments(result.acks).map((m) => ({ ...m, fault: faultOf(m.from) }));
  return {
    seed: o.seed,
    synchronousMode: o.synchronousMode,
    netns: o.netns,
    backup: o.backup === true,
    faults: lines,
    acked: result.ackedIds.length,
    lost: lost.lost,
    lostSample: lost.sample,
    splitBrain,
    stuck: lines.filter((l) => l.stuck).length,
    failedChecks: lines.filter((l) => l.failedChecks.length).length,
    perKind: kindStats(lines, o.kinds),
    evidenceDir: o.evidenceDir,
    durationS: Math.round((Date.now() - t0) / 1000),
  };
}

const s = (ms: number | null) => (ms === null ? "-" : `${(ms / 1000).toFixed(2)} s`);

/** One line per fault: kind, target, time to the first acknowledged write, time to full health. */
export function describeLine(l: FaultLine): string {
  return (
    `#${l.index} ${l.kind} on ${l.target}${l.newPrimary && l.newPrimary !== l.target ? ` (primary after: ${l.newPrimary})` : ""}: ` +
    `first ack after the outage ${s(l.firstAckMs)}, longest write pause ${s(l.pauseMs)}, full health ${l.stuck ? "STUCK" : s(l.healthMs)}` +
    `${l.long && !l.stuck ? " LONG" : ""}${l.evidence ? ` (evidence: ${l.evidence})` : ""}`
  );
}

/** The verdict of a run: what makes it fail (empty: passed). */
export function chaosFailures(r: ChaosReport): string[] {
  const out: string[] = [];
  if (r.lost !== 0) out.push(`${r.lost} acknowledged write(s) lost (${r.lostSample.join(", ")})`);
  for (const m of r.splitBrain) out.push(`split brain in fault #${m.fault}: ${m.member} acked ${m.acks} write(s) after ${m.against}`);
  if (r.stuck) out.push(`${r.stuck} stuck fault(s)`);
  return out;
}
