/**
 * The fault suite's quorum-commit scenarios (synchronous mode "quorum", k = 1, 3 nodes): a commit
 * waits for any one of the two standbys, and a standby may promote only once it knows it holds every
 * acknowledged commit (docs/ha-states.md "Quorum commit").
 */
import { percentile } from "../../sidecar/ha/renewal-stats";
import { killNode, postmasterPid, waitForPrimary } from "../../local/faults";
import { findNode, readClusterFile } from "../../local/state";
import { childPids, sleep } from "../../sidecar/postgres/process";
import type { Ack } from "../helpers/fault-checker";
import { check, Ctx, Injected, readSyncKey, restartWhenGone } from "./context";

/** How long the slow replica stays stopped. */
const STOPPED_MS = 30_000;
/** The agents' replicationTimeout (settings schema default): how long a commit could wait for a silent standby in mode "on". */
const REPLICATION_TIMEOUT_MS = 5000;

/** The quorum set and quorum the sync key holds, via any live etcd member. */
async function quorumKey(ctx: Ctx): Promise<{ leader: string; voters: string[]; quorum?: number } | undefined> {
  const raw = (await readSyncKey(ctx.c)) as { leader: string; sync_standby: string | null; quorum?: number } | undefined;
  return raw && { leader: raw.leader, voters: raw.sync_standby ? raw.sync_standby.split(",") : [], quorum: raw.quorum };
}

/** Waits until the leader recorded this quorum set (sorted names) in the sync key; returns how long it took. */
async function waitForSet(ctx: Ctx, voters: string[], quorum: number, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    const k = await quorumKey(ctx);
    if (k?.leader === ctx.leader && k.quorum === quorum && k.voters.join(",") === [...voters].sort().join(",")) return Date.now() - t0;
    if (Date.now() - t0 > timeoutMs) {
      throw new Error(`the sync key did not become ${JSON.stringify({ voters, quorum })} within ${timeoutMs} ms: ${JSON.stringify(k)}`);
    }
    await sleep(200);
  }
}

/** SIGSTOP (or SIGCONT) a whole node: its agent, its postmaster and every child of it. */
export function signalNode(ctx: Ctx, name: string, signal: "SIGSTOP" | "SIGCONT", pids?: number[]): number[] {
  const n = findNode(readClusterFile(ctx.dir), name);
  const pm = postmasterPid(n.dataDir);
  const targets = pids ?? [n.agentPid, ...(pm === undefined ? [] : [pm, ...childPids(pm)])];
  for (const p of targets) {
    try {
      process.kill(p, signal);
    } catch {
      /* a backend that just exited */
    }
  }
  return targets;
}

interface Throughput {
  acksPerS: number;
  p99Ms: number;
  maxMs: number;
  longestPauseMs: number;
}

/** Write throughput, commit latency (p99, max) and the longest pause between acks in [from, to). */
function throughput(acks: Ack[], from: number, to: number): Throughput {
  const inside = acks.filter((a) => a.at >= from && a.at < to);
  const lat = inside.flatMap((a) => (a.latencyMs === undefined ? [] : [a.latencyMs])).sort((a, b) => a - b);
  let prev = from;
  let longest = 0;
  for (const a of inside) {
    longest = Math.max(longest, a.at - prev);
    prev = a.at;
  }
  longest = Math.max(longest, to - prev);
  return {
    acksPerS: Math.round((inside.length * 1000) / Math.max(1, to - from)),
    p99Ms: percentile(lat, 0.99) ?? NaN,
    maxMs: lat.length ? lat[lat.length - 1] : NaN,
    longestPauseMs: longest,
  };
}

const show = (t: Throughput) => `${t.acksPerS} writes/s, p99 ${t.p99Ms} ms, max ${t.maxMs} ms, longest pause ${t.longestPauseMs} ms`;

/** slow-replica: one standby stopped (SIGSTOP of its whole node) for 30 s; commits go on at the other's pace. */
export async function slowReplica(ctx: Ctx): Promise<Injected> {
  const replicas = ctx.c.nodes.map((n) => n.name).filter((n) => n !== ctx.leader);
  await waitForSet(ctx, replicas, 1, 30_000);
  const [slow] = replicas;
  const before = Date.now();
  await sleep(5000);
  const pids = signalNode(ctx, slow, "SIGSTOP");
  const faultAt = Date.now();
  ctx.say(`  stopped ${slow} (pids ${pids.join(", ")}) for ${STOPPED_MS / 1000} s`);
  try {
    await sleep(STOPPED_MS);
  } finally {
    signalNode(ctx, slow, "SIGCONT", pids);
  }
  const resumedAt = Date.now();
  ctx.say(`  resumed ${slow}`);
  const acks = ctx.writer.snapshot().acks;
  const base = throughput(acks, before, faultAt);
  const during = throughput(acks, faultAt, resumedAt);
  ctx.say(`  before: ${show(base)}`);
  ctx.say(`  while ${slow} was stopped: ${show(during)}`);
  check(
    ctx,
    `commits went on while ${slow} was stopped (no pause as long as replicationTimeout, ${REPLICATION_TIMEOUT_MS} ms)`,
    during.acksPerS > 0 && during.longestPauseMs < REPLICATION_TIMEOUT_MS,
    `before: ${show(base)}; during: ${show(during)}`,
  );
  const primary = await waitForPrimary(ctx.dir, { timeoutMs: 5000 });
  check(ctx, "no failover", primary === ctx.leader, `leader before ${ctx.leader}, primary now ${primary}`);
  return { faultAt, newPrimary: primary };
}

/**
 * crash-node-with-one-replica-stopped: one standby stopped; once the leader has taken it out of the
 * quorum set (after replicationTimeout; the key then names the other standby alone, quorum 0), the
 * leader is killed: the other standby, which acknowledged every commit since, is promoted alone.
 */
export async function crashNodeWithOneReplicaStopped(ctx: Ctx): Promise<Injected> {
  const replicas = ctx.c.nodes.map((n) => n.name).filter((n) => n !== ctx.leader);
  await waitForSet(ctx, replicas, 1, 30_000);
  const [stopped, other] = replicas;
  const pids = signalNode(ctx, stopped, "SIGSTOP");
  let faultAt: number;
  let newPrimary: string;
  try {
    const tookMs = await waitForSet(ctx, [other], 0, 30_000);
    ctx.say(`  stopped ${stopped}; ${tookMs} ms later the sync key named ${other} alone (quorum 0)`);
    await sleep(2000); // commits acknowledged by `other` alone
    faultAt = killNode(ctx.dir, ctx.leader).at;
    newPrimary = await waitForPrimary(ctx.dir, { exclude: [ctx.leader], timeoutMs: 30_000 });
    check(ctx, `the standby left in the quorum set (${other}) was promoted`, newPrimary === other, `${newPrimary} was promoted`);
  } finally {
    signalNode(ctx, stopped, "SIGCONT", pids);
  }
  ctx.say(`  ${newPrimary} promoted; resumed ${stopped}`);
  await restartWhenGone(ctx, ctx.leader);
  return { faultAt, newPrimary };
}

/**
 * crash-node-before-stopped-replica-left: one standby stopped, and the leader killed at once, before
 * it could take the stopped standby out of the quorum set (quorum 1 of both). The other standby,
 * although it acknowledged every commit, cannot know it: it must not be promoted while the stopped
 * one is away. Once that one resumes, the most advanced of the two is promoted.
 */
export async function crashNodeBeforeStoppedReplicaLeft(ctx: Ctx): Promise<Injected> {
  const replicas = ctx.c.nodes.map((n) => n.name).filter((n) => n !== ctx.leader);
  await waitForSet(ctx, replicas, 1, 30_000);
  const [stopped, other] = replicas;
  const pids = signalNode(ctx, stopped, "SIGSTOP");
  let faultAt: number;
  let resumedAt: number;
  try {
    await sleep(500); // commits acknowledged by `other` alone
    faultAt = killNode(ctx.dir, ctx.leader).at;
    // Well past the lease (ttl 4 s) and a few loops: nobody may take over while `stopped` is away.
    const early = await waitForPrimary(ctx.dir, { exclude: [ctx.leader], timeoutMs: 10_000 }).catch(() => undefined);
    check(
      ctx,
      `nobody was promoted while ${stopped} (quorum set) was stopped`,
      early === undefined,
      early ? `${early} was promoted` : "nobody was",
    );
  } finally {
    signalNode(ctx, stopped, "SIGCONT", pids);
    resumedAt = Date.now();
  }
  const newPrimary = await waitForPrimary(ctx.dir, { exclude: [ctx.leader], timeoutMs: 30_000 });
  // Either may win: the resumed one reads the WAL its socket still held, and may be as far as `other`.
  ctx.say(`  resumed ${stopped}; ${newPrimary} promoted ${Date.now() - resumedAt} ms later (${other} alone acknowledged the last commits)`);
  await restartWhenGone(ctx, ctx.leader);
  return { faultAt, newPrimary };
}
