/**
 * The chaos run's faults that the fault suite has no scenario for: faults on a standby (frozen,
 * slowed, cut off, crashed, restarted, re-initialised) and the operator's restart of the leader. Each
 * one keeps the writer running and returns when the fault is repaired; the runner then waits for
 * full health. A fault on a standby must never cause a failover.
 */
import { callApi, localApiCredentials } from "../../sidecar/api/client";
import { killNode, waitAgentGone, waitForPrimary } from "../../local/faults";
import { cutNode, healNode } from "../../local/partition";
import { findNode, readClusterFile } from "../../local/state";
import { sleep } from "../../sidecar/postgres/process";
import { stopAgent } from "../helpers/faults";
import { check, Ctx, Injected, readSyncKey, restartWhenGone, syncNames, TTL_S } from "../faults/context";
import { signalNode } from "../faults/quorum";

/** A chaos fault's context: the fault suite's, plus the run's seeded random source. */
export interface ChaosCtx extends Ctx {
  /** Uniform in [0, 1), from the run's seed. */
  random: () => number;
}

export interface ChaosInjected extends Injected {
  /** Who the fault hit (a member, an etcd member, "cluster"). */
  target: string;
}

/** How long a standby stays frozen (the measurement froze it 20 s; a few leases are enough to see the pause). */
export const FREEZE_STANDBY_MS = 12_000;
/** slow-standby: for this long, the standby runs SLOW_RUN_MS out of every SLOW_RUN_MS + SLOW_STOP_MS (a slow disk, a noisy neighbour). */
export const SLOW_STANDBY_MS = 10_000;
const SLOW_STOP_MS = 400;
const SLOW_RUN_MS = 100;

const pick = <T>(ctx: ChaosCtx, xs: readonly T[]): T => xs[Math.floor(ctx.random() * xs.length)];

/** The standbys the sync key names for the current leader (one in mode "on", the quorum set otherwise); at most 30 s of waiting for it. */
async function syncStandbys(ctx: ChaosCtx): Promise<string[]> {
  for (const until = Date.now() + 30_000; ;) {
    const s = await readSyncKey(ctx.c);
    if (s?.leader === ctx.leader && s.sync_standby) return syncNames(s.sync_standby);
    if (Date.now() > until) throw new Error(`the sync key names no standby of ${ctx.leader}: ${JSON.stringify(s)}`);
    await sleep(200);
  }
}

/** A standby the sync key names (commits wait for it): the one of mode "on", or a member of the quorum set picked by the seed. */
export async function syncStandby(ctx: ChaosCtx): Promise<string> {
  return pick(ctx, await syncStandbys(ctx));
}

/** A replica the sync key does not name, when there is one; else any standby (quorum mode: all are in the set). */
export async function asyncReplica(ctx: ChaosCtx): Promise<string> {
  const set = await syncStandbys(ctx);
  const others = ctx.c.nodes.map((n) => n.name).filter((n) => n !== ctx.leader);
  const outside = others.filter((n) => !set.includes(n));
  return pick(ctx, outside.length ? outside : others);
}

async function checkNoFailover(ctx: ChaosCtx, what: string): Promise<string> {
  const primary = await waitForPrimary(ctx.dir, { timeoutMs: 10_000 });
  check(ctx, `no failover for ${what}`, primary === ctx.leader, `leader before ${ctx.leader}, primary now ${primary}`);
  return primary;
}

/** SIGSTOP of a synchronous standby's agent, postmaster and its children for FREEZE_STANDBY_MS, then SIGCONT. */
export async function freezeStandby(ctx: ChaosCtx): Promise<ChaosInjected> {
  const target = await syncStandby(ctx);
  const pids = signalNode(ctx, target, "SIGSTOP");
  const faultAt = Date.now();
  ctx.say(`  froze ${target} (synchronous standby) for ${FREEZE_STANDBY_MS / 1000} s`);
  try {
    await sleep(FREEZE_STANDBY_MS);
  } finally {
    signalNode(ctx, target, "SIGCONT", pids);
  }
  return { faultAt, target, newPrimary: await checkNoFailover(ctx, "a frozen standby") };
}

/** A synchronous standby that runs only a fifth of the time for SLOW_STANDBY_MS (SIGSTOP/SIGCONT in a cycle). */
export async function slowStandby(ctx: ChaosCtx): Promise<ChaosInjected> {
  const target = await syncStandby(ctx);
  const faultAt = Date.now();
  ctx.say(`  slowing ${target} (synchronous standby): stopped ${SLOW_STOP_MS} ms of every ${SLOW_STOP_MS + SLOW_RUN_MS} ms`);
  while (Date.now() - faultAt < SLOW_STANDBY_MS) {
    const pids = signalNode(ctx, target, "SIGSTOP");
    try {
      await sleep(SLOW_STOP_MS);
    } finally {
      signalNode(ctx, target, "SIGCONT", pids);
    }
    await sleep(SLOW_RUN_MS);
  }
  return { faultAt, target, newPrimary: await checkNoFailover(ctx, "a slow standby") };
}

/** --netns: a synchronous standby loses every other node (etcd still reaches it) for two leases and more, then heals. */
export async function cutStandby(ctx: ChaosCtx): Promise<ChaosInjected> {
  const target = await syncStandby(ctx);
  let faultAt: number;
  try {
    faultAt = cutNode(ctx.dir, target, "peers");
    ctx.say(`  cut ${target} (synchronous standby) off from the other nodes`);
    await sleep(2 * TTL_S * 1000 + 2000);
  } finally {
    healNode(ctx.dir, target);
  }
  return { faultAt, target, newPrimary: await checkNoFailover(ctx, "a standby cut off") };
}

/** kill -9 of a synchronous standby's agent and PostgreSQL, restarted once gone. */
export async function crashStandby(ctx: ChaosCtx): Promise<ChaosInjected> {
  const target = await syncStandby(ctx);
  const f = killNode(ctx.dir, target);
  await restartWhenGone(ctx, target);
  return { faultAt: f.at, target, newPrimary: await checkNoFailover(ctx, "a crashed standby") };
}

/** SIGTERM of a replica's agent (it stops PostgreSQL), started again once gone. */
export async function stopReplicaAgent(ctx: ChaosCtx): Promise<ChaosInjected> {
  const target = await asyncReplica(ctx);
  const f = stopAgent(ctx.dir, target);
  await restartWhenGone(ctx, target);
  return { faultAt: f.at, target, newPrimary: await checkNoFailover(ctx, "a stopped replica agent") };
}

/** SIGTERM of the leader's agent: it stops PostgreSQL and releases the key; another member takes over; the old one restarts and follows. */
export async function stopLeaderAgent(ctx: ChaosCtx): Promise<ChaosInjected> {
  const f = stopAgent(ctx.dir, ctx.leader);
  await waitAgentGone(ctx.dir, ctx.leader, 30_000);
  const newPrimary = await waitForPrimary(ctx.dir, { exclude: [ctx.leader], timeoutMs: 30_000 });
  await restartWhenGone(ctx, ctx.leader);
  return { faultAt: f.at, target: ctx.leader, newPrimary };
}

/**
 * kill -9 of the leader's agent alone, started again at once (an agent crash that systemd restarts,
 * or an upgrade): PostgreSQL runs on, the new agent adopts it and binds the leader key to its new lease.
 */
export async function restartLeaderAgent(ctx: ChaosCtx): Promise<ChaosInjected> {
  const n = findNode(readClusterFile(ctx.dir), ctx.leader);
  process.kill(n.agentPid, "SIGKILL");
  const faultAt = Date.now();
  await restartWhenGone(ctx, ctx.leader);
  return { faultAt, target: ctx.leader, newPrimary: await waitForPrimary(ctx.dir, { timeoutMs: 30_000 }) };
}

/**
 * kill -9 of the leader's agent and PostgreSQL the moment the previous fault healed, without waiting
 * for the sync key to settle (crash-node waits for it): a crash does not wait. The node is started
 * again once another member is primary, or after 30 s without one (a failover that needs the old
 * leader back is a long outage, not a hang).
 */
export async function crashNodeNow(ctx: ChaosCtx): Promise<ChaosInjected> {
  const f = killNode(ctx.dir, ctx.leader);
  const next = await waitForPrimary(ctx.dir, { exclude: [ctx.leader], timeoutMs: 30_000 }).catch(() => undefined);
  check(
    ctx,
    "another member took over while the crashed leader was down",
    next !== undefined,
    next ? `${next} did` : "nobody did within 30 s",
  );
  await restartWhenGone(ctx, ctx.leader);
  return { faultAt: f.at, target: ctx.leader, newPrimary: next ?? (await waitForPrimary(ctx.dir, { timeoutMs: 60_000 })) };
}

async function operatorCall(ctx: ChaosCtx, member: string, path: string): Promise<number> {
  const c = readClusterFile(ctx.dir);
  const r = await callApi(findNode(c, member).apiUrl, "POST", path, {}, localApiCredentials(c));
  check(ctx, `POST ${path} to ${member} answered 200`, r.status === 200, `${r.status} ${JSON.stringify(r.body)}`);
  return r.status;
}

/** POST /restart to the leader (hapg restart): PostgreSQL restarts in place under its key. */
export async function restartLeader(ctx: ChaosCtx): Promise<ChaosInjected> {
  const faultAt = Date.now();
  await operatorCall(ctx, ctx.leader, "/restart");
  return { faultAt, target: ctx.leader, newPrimary: await waitForPrimary(ctx.dir, { timeoutMs: 30_000 }) };
}

/** POST /restart to a synchronous standby. */
export async function restartStandby(ctx: ChaosCtx): Promise<ChaosInjected> {
  const target = await syncStandby(ctx);
  const faultAt = Date.now();
  await operatorCall(ctx, target, "/restart");
  return { faultAt, target, newPrimary: await checkNoFailover(ctx, "a restarted standby") };
}

/** POST /reinitialize to a replica (hapg reinit): its data directory is re-created from the leader. */
export async function reinitReplica(ctx: ChaosCtx): Promise<ChaosInjected> {
  const target = await asyncReplica(ctx);
  const faultAt = Date.now();
  await operatorCall(ctx, target, "/reinitialize");
  return { faultAt, target, newPrimary: await checkNoFailover(ctx, "a re-initialised replica") };
}
