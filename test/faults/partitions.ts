/**
 * The partition scenarios: the cluster's members have network namespaces of their own (local up
 * --netns) and iptables inside the leader's namespace drops every packet to and from one group.
 * Nothing is reset: both sides only see silence, as with a cut cable or a security-group change.
 */
import { cutNode, healNode } from "../../sidecar/local/partition";
import { HA_DEFAULTS } from "../../sidecar/settings/schema";
import { sleep } from "../../sidecar/postgres/process";
import { check, checkNoOtherPrimary, Ctx, failoverTarget, Injected, syncStandbyOf, TTL_S, watchPrimaries } from "./context";

/** PostgreSQL's wal_sender_timeout as the agent sets it (the setting timing.replicationTimeout, default), ms. */
const WAL_SENDER_TIMEOUT_MS = HA_DEFAULTS.timing.replicationTimeout * 1000;

/**
 * The leader loses every etcd member while clients (HAProxy) still reach it: it must stop taking
 * writes before its lease can expire, the sync standby takes over, and after the heal the old
 * leader rejoins as a replica of the new one.
 */
export async function partitionFromEtcd(ctx: Ctx): Promise<Injected> {
  const sync = await syncStandbyOf(ctx.c, ctx.leader);
  const watcher = watchPrimaries(ctx.dir);
  let faultAt = Date.now();
  let newPrimary: string;
  try {
    faultAt = cutNode(ctx.dir, ctx.leader, "etcd");
    ctx.say(`  cut ${ctx.leader} off from etcd`);
    newPrimary = await failoverTarget(ctx, sync);
    await sleep(2000); // the old leader stays reachable by clients all along: it must not take a write
  } finally {
    healNode(ctx.dir, ctx.leader);
  }
  const primaries = await watcher.stop();
  const limit = faultAt + TTL_S * 1000;
  const lastAck = ctx.writer
    .snapshot()
    .acks.filter((a) => a.member === ctx.leader && a.at > faultAt)
    .pop()?.at;
  check(
    ctx,
    `the cut-off leader stopped acknowledging writes within ttl (${TTL_S} s) of the cut`,
    lastAck === undefined || lastAck <= limit,
    lastAck === undefined ? "no ack after the cut" : `last ack ${lastAck - faultAt} ms after the cut`,
  );
  const lastPrimary = (primaries.get(ctx.leader) ?? []).filter((t) => t > faultAt).pop();
  check(
    ctx,
    "the cut-off leader stopped answering /primary within ttl",
    lastPrimary === undefined || lastPrimary <= limit + 500,
    lastPrimary === undefined ? "never after the cut" : `last 200 ${lastPrimary - faultAt} ms after the cut`,
  );
  ctx.say(`  healed ${ctx.leader}; ${newPrimary} leads`);
  return { faultAt, newPrimary };
}

/**
 * The leader loses the other nodes while etcd and clients still reach it: it keeps its lease, so
 * nobody may be promoted. Commits wait for the unreachable sync standby until PostgreSQL drops it
 * (wal_sender_timeout), then the leader empties the sync key and goes on asynchronously (non-strict
 * mode). After the heal the replicas stream again and one becomes synchronous again.
 */
export async function partitionFromReplicas(ctx: Ctx): Promise<Injected> {
  await syncStandbyOf(ctx.c, ctx.leader);
  const watcher = watchPrimaries(ctx.dir);
  let faultAt: number;
  let healedAt: number;
  try {
    faultAt = cutNode(ctx.dir, ctx.leader, "peers");
    ctx.say(`  cut ${ctx.leader} off from the other nodes`);
    await sleep(2 * TTL_S * 1000 + 4000); // twice a lease and more: a replica that could take over would have
  } finally {
    healedAt = healNode(ctx.dir, ctx.leader);
  }
  const primaries = await watcher.stop();
  checkNoOtherPrimary(ctx, primaries, "nobody else answered /primary: the leader kept its lease");
  const from = faultAt + WAL_SENDER_TIMEOUT_MS + 3000;
  const acks = ctx.writer.snapshot().acks.filter((a) => a.at > from && a.at < healedAt);
  check(
    ctx,
    "writes went on (asynchronously) once PostgreSQL dropped the unreachable standby",
    acks.length > 0 && acks.every((a) => a.member === ctx.leader),
    `${acks.length} ack(s) from ${from - faultAt} ms after the cut until the heal, by ${[...new Set(acks.map((a) => a.member))].join(", ") || "nobody"}`,
  );
  return { faultAt, newPrimary: ctx.leader };
}
