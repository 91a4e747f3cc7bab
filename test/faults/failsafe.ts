/**
 * Failsafe mode's fault scenarios (on by default): etcd loses its quorum for 30 s and the leader
 * keeps taking writes, because every member confirms it still follows it; with one member cut off
 * from it as well, it fences within ttl as without failsafe mode, and nobody else is promoted.
 */
import type { Ack } from "../helpers/fault-checker";
import { waitForPrimary } from "../../local/faults";
import { cutNode, healNode } from "../../local/partition";
import { sleep } from "../../sidecar/postgres/process";
import { check, checkNoOtherPrimary, Ctx, Injected, syncNames, syncStandbyOf, TTL_S, watchPrimaries } from "./context";
import { etcdInfos, restartEtcd, stopEtcd } from "./etcd-members";

/** How long etcd stays without quorum in etcd-quorum-lost (`npm run test:faults`). */
export const QUORUM_OUTAGE_S = 30;
/**
 * The same in `npm test`'s reduced matrix: three leases, as partition-from-etcd cuts the leader off.
 * Without failsafe mode the leader would fence within one ttl; three show it keeps serving over
 * several lease periods and confirmation rounds.
 */
export const REDUCED_QUORUM_OUTAGE_S = 3 * TTL_S;
/** A longer pause between acknowledged writes than this is a write outage (the writer acks every few ms). */
export const WRITE_OUTAGE_MS = 1000;

/** The longest pause between acks within [from, to] (from `from` to the first ack, and from the last ack to `to`). */
export function longestPause(acks: readonly Ack[], from: number, to: number): number {
  const times = acks
    .map((a) => a.at)
    .filter((t) => t > from && t <= to)
    .sort((a, b) => a - b);
  let prev = from;
  let longest = 0;
  for (const t of [...times, to]) {
    longest = Math.max(longest, t - prev);
    prev = t;
  }
  return longest;
}

/** Checks that writes went on all through [from, to], acknowledged by the leader alone, and says the longest pause. */
export function checkNoWriteOutage(ctx: Ctx, what: string, from: number, to: number): void {
  const acks = ctx.writer.snapshot().acks.filter((a) => a.at > from && a.at <= to);
  const pause = longestPause(acks, from, to);
  const by = [...new Set(acks.map((a) => a.member))];
  ctx.say(`  write outage ${what}: longest pause between acks ${pause} ms over ${to - from} ms (${acks.length} acks)`);
  check(
    ctx,
    `no write outage ${what} (failsafe mode): no pause between acks of ${WRITE_OUTAGE_MS} ms or more`,
    acks.length > 0 && pause < WRITE_OUTAGE_MS,
    `longest pause ${pause} ms, ${acks.length} ack(s)`,
  );
  check(
    ctx,
    `every write ${what} was acknowledged by the leader`,
    by.every((m) => m === ctx.leader),
    `acked by ${by.join(", ") || "nobody"}`,
  );
}

/** Two of three etcd members stopped for 30 s (three leases in `npm test`): the leader keeps taking writes, nobody else is promoted, it keeps its key. */
export async function etcdQuorumLost(ctx: Ctx): Promise<Injected> {
  const victims = ctx.c.etcd.slice(1, 3).map((e) => e.name);
  const infos = etcdInfos(ctx.dir, victims);
  const outageS = ctx.reduced ? REDUCED_QUORUM_OUTAGE_S : QUORUM_OUTAGE_S;
  const faultAt = Date.now();
  const watcher = watchPrimaries(ctx.dir);
  let backAt: number;
  try {
    await stopEtcd(infos);
    const goneAt = Date.now();
    ctx.say(`  ${victims.join(", ")} gone ${goneAt - faultAt} ms after SIGTERM; etcd has no quorum for ${outageS} s`);
    await sleep(outageS * 1000);
  } finally {
    backAt = Date.now();
    await watcher.stop();
    await restartEtcd(ctx.dir, infos, ctx.say);
  }
  const primaries = await watcher.stop();
  checkNoWriteOutage(ctx, `during the ${outageS} s without etcd quorum`, faultAt, backAt);
  checkNoOtherPrimary(ctx, primaries, "no member promoted without quorum");
  const newPrimary = await waitForPrimary(ctx.dir, { timeoutMs: 60_000 });
  check(ctx, "the leader kept its key: no failover", newPrimary === ctx.leader, `primary afterwards: ${newPrimary}`);
  return { faultAt, newPrimary };
}

/**
 * etcd loses its quorum (2 of 3 members frozen), and once the leader serves in failsafe mode, it is cut off from the replica
 * that is not synchronous (writes go on through the other): that member's confirmation is missing,
 * so the leader fences within ttl of the cut, and nobody is promoted without etcd. When etcd is
 * back, the leader (its lease and key survived: etcd expires no lease without quorum) restarts.
 */
export async function etcdQuorumLostCutReplica(ctx: Ctx): Promise<Injected> {
  const sync = await syncStandbyOf(ctx.c, ctx.leader);
  // The asynchronous replica; in quorum mode (both standbys in the set) the last of them: writes go on through the other.
  const others = ctx.c.nodes.map((n) => n.name).filter((n) => n !== ctx.leader);
  const replica = others.find((n) => !syncNames(sync).includes(n)) ?? others[others.length - 1];
  // Frozen (SIGSTOP), not stopped: the members live in namespaces of their own, and a frozen etcd
  // is the harder case for clients (silence until their timeout, no refused connection).
  const victims = ctx.c.etcd.slice(1, 3);
  const faultAt = Date.now();
  const watcher = watchPrimaries(ctx.dir);
  let cutAt = faultAt;
  try {
    for (const e of victims) process.kill(e.pid, "SIGSTOP");
    ctx.say(`  ${victims.map((e) => e.name).join(", ")} frozen: etcd has no quorum`);
    await sleep(5000);
    const before = ctx.writer.snapshot().acks.filter((a) => a.at > Date.now() - 2000 && a.member === ctx.leader).length;
    check(ctx, "writes went on without etcd quorum before the cut (failsafe mode)", before > 0, `${before} ack(s) in the last 2 s`);
    cutAt = cutNode(ctx.dir, ctx.leader, "peers", replica);
    ctx.say(`  cut ${ctx.leader} off from ${replica}`);
    await sleep(TTL_S * 1000 + 3000);
  } finally {
    healNode(ctx.dir, ctx.leader);
    await watcher.stop();
    for (const e of victims) process.kill(e.pid, "SIGCONT");
  }
  const primaries = await watcher.stop();
  const limit = cutAt + TTL_S * 1000;
  const lastAck = ctx.writer
    .snapshot()
    .acks.filter((a) => a.member === ctx.leader && a.at > cutAt)
    .pop()?.at;
  check(
    ctx,
    `the leader stopped acknowledging writes within ttl (${TTL_S} s) of losing ${replica}'s confirmation`,
    lastAck === undefined || lastAck <= limit,
    lastAck === undefined ? "no ack after the cut" : `last ack ${lastAck - cutAt} ms after the cut`,
  );
  const lastPrimary = (primaries.get(ctx.leader) ?? []).filter((t) => t > cutAt && t < cutAt + TTL_S * 1000 + 3000).pop();
  check(
    ctx,
    "the leader stopped answering /primary within ttl of the cut",
    lastPrimary === undefined || lastPrimary <= limit + 500,
    lastPrimary === undefined ? "never after the cut" : `last 200 ${lastPrimary - cutAt} ms after the cut`,
  );
  checkNoOtherPrimary(ctx, primaries, "no member promoted without quorum");
  const newPrimary = await waitForPrimary(ctx.dir, { timeoutMs: 60_000 });
  return { faultAt, newPrimary };
}
