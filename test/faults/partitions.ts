/**
 * The partition scenarios: the cluster's members have network namespaces of their own (local up
 * --netns) and iptables inside the leader's namespace drops every packet to and from one group.
 * Nothing is reset: both sides only see silence, as with a cut cable or a security-group change.
 */
import { cutNode, healNode } from "../../local/partition";
import { HA_DEFAULTS } from "../../sidecar/contract/settings/schema";
import { sleep } from "../../sidecar/postgres/process";
import { fetchCluster, readClusterFile } from "../../local/state";
import { check, checkNoOtherPrimary, Ctx, Injected, syncStandbyOf, TTL_S, watchPrimaries } from "./context";
import { checkNoWriteOutage } from "./failsafe";

/** How long partition-from-etcd cuts the leader off: three leases. */
const ETCD_CUT_S = 3 * TTL_S;

/** PostgreSQL's wal_sender_timeout as the agent sets it (the setting timing.replicationTimeout, default), ms. */
const WAL_SENDER_TIMEOUT_MS = HA_DEFAULTS.timing.replicationTimeout * 1000;

/**
 * The leader loses every etcd member while clients (HAProxy) and the other nodes still reach it, for
 * longer than its lease (so its leader key expires in etcd). Failsafe mode (on by default): every
 * member confirms it still follows the leader, so it keeps its primary writable, and the replicas,
 * bound by their confirmations, do not race for the free key: no failover, no write outage. After the
 * heal the leader takes its key again before anyone else may.
 */
export async function partitionFromEtcd(ctx: Ctx): Promise<Injected> {
  await syncStandbyOf(ctx.c, ctx.leader);
  const watcher = watchPrimaries(ctx.dir);
  let faultAt: number;
  let healedAt: number;
  try {
    faultAt = cutNode(ctx.dir, ctx.leader, "etcd");
    ctx.say(`  cut ${ctx.leader} off from etcd for ${ETCD_CUT_S} s (its lease expires after ${TTL_S} s)`);
    await sleep(ETCD_CUT_S * 1000);
  } finally {
    healedAt = healNode(ctx.dir, ctx.leader);
  }
  // The leader takes its key again (the watcher runs on until then: nobody else may hold it first).
  let leader: string | undefined;
  for (const until = Date.now() + 10_000; leader !== ctx.leader && Date.now() < until;) {
    await sleep(200);
    leader = (await fetchCluster(readClusterFile(ctx.dir)))?.members.find((m) => m.role === "leader")?.name;
  }
  const primaries = await watcher.stop();
  checkNoWriteOutage(ctx, "while the leader was cut off from etcd", faultAt, healedAt);
  checkNoOtherPrimary(ctx, primaries, "nobody else answered /primary: the replicas did not race for the expired key");
  check(ctx, "after the heal the old leader holds the key again", leader === ctx.leader, `/cluster names ${leader ?? "no leader"}`);
  ctx.say(`  healed ${ctx.leader}; ${leader ?? "nobody"} leads`);
  return { faultAt, newPrimary: ctx.leader };
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
