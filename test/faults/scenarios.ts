/**
 * The fault suite's scenarios, in synchronous mode. All but the partitions run on a local cluster on
 * loopback; the partitions (partitions.ts) need one whose members have namespaces of their own.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { acksAfter } from "../helpers/fault-checker";
import { killNode, postmasterPid, reinitNode, restartNode, waitAgentGone, waitForPrimary, waitHealthy } from "../../local/faults";
import { callApi, localApiCredentials } from "../../sidecar/api/client";
import { crashPostgres, stopAgent } from "../helpers/faults";
import { apiStatus, fetchCluster, findNode, readClusterFile } from "../../local/state";
import { nodeDsn } from "../helpers/node-dsn";
import { childPids, sleep } from "../../sidecar/postgres/process";
import { query } from "../helpers/pg-client";
import { check, Ctx, failoverTarget, Injected, readLeaderKey, restartWhenGone, syncNames, syncStandbyOf, TTL_S } from "./context";
import { HA_DEFAULTS } from "../../sidecar/contract/settings/schema";
import { partitionFromEtcd, partitionFromReplicas } from "./partitions";
import { crashNodeBeforeStoppedReplicaLeft, crashNodeWithOneReplicaStopped, slowReplica } from "./quorum";
import { etcdQuorumLost, etcdQuorumLostCutReplica, QUORUM_OUTAGE_S } from "./failsafe";
import { etcdInfos, restartEtcd, stopEtcd } from "./etcd-members";

export const SCENARIO_NAMES = [
  "crash-node",
  "crash-pg",
  "freeze-node",
  "partition-from-etcd",
  "partition-from-replicas",
  "etcd-member-lost",
  "etcd-quorum-lost",
  "etcd-quorum-lost-cut-replica",
  "whole-cluster-restart",
  "lagging-replica",
  "fault-after-join",
  "switchover",
  "slow-replica",
  "crash-node-with-one-replica-stopped",
  "crash-node-before-stopped-replica-left",
] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

/** The scenarios that need every member in a network namespace of its own (local up --netns, root). */
export const NETNS_SCENARIOS: readonly ScenarioName[] = ["partition-from-etcd", "partition-from-replicas", "etcd-quorum-lost-cut-replica"];

/**
 * The scenarios of quorum commit: a cluster of their own in synchronous mode "quorum" (k = 1). They
 * stop a standby for 30 s, so they stay out of `npm test`'s reduced matrix (run them with test:faults).
 */
export const QUORUM_SCENARIOS: readonly ScenarioName[] = [
  "slow-replica",
  "crash-node-with-one-replica-stopped",
  "crash-node-before-stopped-replica-left",
];

// ---------- the scenarios on loopback ----------

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
  check(
    ctx,
    "the primary afterwards is the old leader or the sync standby",
    newPrimary === ctx.leader || syncNames(sync).includes(newPrimary),
    `sync key named ${sync}; primary now ${newPrimary}`,
  );
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
  check(
    ctx,
    "the resumed old primary acknowledged no write after the new leader existed",
    late.length === 0,
    `${late.length} late ack(s)${
      late.length
        ? `: ids ${late
            .slice(0, 5)
            .map((a) => a.id)
            .join(", ")}`
        : ""
    }`,
  );
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

/** lagging-replica: how far the paused replica falls behind in replay before the leader is killed. */
const LAG_BYTES = 128 * 1024;

async function laggingReplica(ctx: Ctx): Promise<Injected> {
  const sync = await syncStandbyOf(ctx.c, ctx.leader);
  const lagging = ctx.c.nodes.find((n) => n.name !== ctx.leader && !syncNames(sync).includes(n.name));
  if (!lagging) throw new Error(`lagging-replica needs an asynchronous replica; the sync key names ${sync} (synchronous mode "on" only)`);
  const laggingDsn = nodeDsn(ctx.c, lagging);
  await query(laggingDsn, "SELECT pg_wal_replay_pause()");
  ctx.say(`  paused replay on ${lagging.name} (async); sync standby ${sync}`);
  let f;
  let newPrimary: string;
  try {
    // It falls behind while the writer goes on (hundreds of kB of WAL a second), at most 5 s.
    let behind = 0;
    for (const until = Date.now() + 5000; behind < LAG_BYTES && Date.now() < until;) {
      await sleep(100);
      const [lag] = await query<{ behind: string }>(
        laggingDsn,
        "SELECT pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::text AS behind",
      );
      behind = Number(lag.behind);
    }
    ctx.say(`  ${lagging.name} is ${behind} bytes behind in replay`);
    f = killNode(ctx.dir, ctx.leader);
    newPrimary = await failoverTarget(ctx, sync);
    check(ctx, "the lagging (non-synchronous) replica was not promoted", newPrimary !== lagging.name, `promoted ${newPrimary}`);
  } finally {
    await query(laggingDsn, "SELECT pg_wal_replay_resume()").catch(() => undefined);
  }
  await restartWhenGone(ctx, ctx.leader);
  return { faultAt: f.at, newPrimary };
}

/** fault-after-join: how long it watches for a promotion once the killed leader's key is gone (five agent loops). */
const WATCH_AFTER_KEY_GONE_MS = 5 * HA_DEFAULTS.timing.loopWait * 1000;

async function faultAfterJoin(ctx: Ctx): Promise<Injected> {
  const sync = await syncStandbyOf(ctx.c, ctx.leader);
  const joiner = syncNames(sync)[0]; // the hardest case: the standby the key named comes back empty
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
  // Watch who becomes primary; nobody may be fine (the key may still name the joiner), the joiner may not.
  // Until the killed leader's key has been gone for a few loops (a member that races for it does so at
  // once and promotes within a loop or two), at most 15 s.
  const c = readClusterFile(ctx.dir);
  const watched = c.nodes.filter((n) => n.name !== ctx.leader);
  let newPrimary: string | undefined;
  let joinerPrimary = false;
  let keyGoneAt: number | undefined;
  const until = Date.now() + 15_000;
  while (Date.now() < until && !newPrimary) {
    if (keyGoneAt === undefined) {
      const holder = await readLeaderKey(c);
      if (holder !== null && holder !== ctx.leader) keyGoneAt = Date.now();
    } else if (Date.now() - keyGoneAt > WATCH_AFTER_KEY_GONE_MS) break;
    const codes = await Promise.all(watched.map((n) => apiStatus(n, "/primary", 300)));
    codes.forEach((s, i) => {
      if (s === 200) {
        if (watched[i].name === joiner) joinerPrimary = true;
        newPrimary ??= watched[i].name;
      }
    });
    await sleep(100);
  }
  check(
    ctx,
    "the just-joined replica was not promoted",
    !joinerPrimary,
    newPrimary ? `${newPrimary} was promoted` : "nobody was promoted while the leader was down",
  );
  await restartWhenGone(ctx, ctx.leader);
  return { faultAt: f.at, newPrimary: newPrimary ?? (await waitForPrimary(ctx.dir, { timeoutMs: 60_000 })) };
}

/** A planned switchover (POST /switchover, the leader picks): the sync standby takes over, the old leader follows without a rewind. */
async function switchover(ctx: Ctx): Promise<Injected> {
  const sync = await syncStandbyOf(ctx.c, ctx.leader);
  const logFile = path.join(ctx.dir, ctx.leader, "agent.log");
  const rewindsBefore = (fs.readFileSync(logFile, "utf8").match(/"action":"(rewind|baseBackup)"/g) ?? []).length;
  const faultAt = Date.now();
  const r = await callApi(findNode(ctx.c, ctx.leader).apiUrl, "POST", "/switchover", { leader: ctx.leader }, localApiCredentials(ctx.c));
  check(ctx, "POST /switchover answered 200", r.status === 200, `${r.status} ${JSON.stringify(r.body)}`);
  const newPrimary = await failoverTarget(ctx, sync);
  await waitHealthy(ctx.dir, 30_000);
  const rewinds = (fs.readFileSync(logFile, "utf8").match(/"action":"(rewind|baseBackup)"/g) ?? []).length - rewindsBefore;
  check(
    ctx,
    "the old leader rejoined without pg_rewind or a base backup",
    rewinds === 0,
    `${rewinds} rewind/base backup action(s) in its log`,
  );
  return { faultAt, newPrimary };
}

export const INJECT: Record<ScenarioName, (ctx: Ctx) => Promise<Injected>> = {
  "crash-node": crashNode,
  "crash-pg": crashPg,
  "freeze-node": freezeNode,
  "partition-from-etcd": partitionFromEtcd,
  "partition-from-replicas": partitionFromReplicas,
  "etcd-member-lost": etcdMemberLost,
  "etcd-quorum-lost": etcdQuorumLost,
  "etcd-quorum-lost-cut-replica": etcdQuorumLostCutReplica,
  "whole-cluster-restart": wholeClusterRestart,
  "lagging-replica": laggingReplica,
  "fault-after-join": faultAfterJoin,
  switchover,
  "slow-replica": slowReplica,
  "crash-node-with-one-replica-stopped": crashNodeWithOneReplicaStopped,
  "crash-node-before-stopped-replica-left": crashNodeBeforeStoppedReplicaLeft,
};

export const DESCRIPTIONS: Record<ScenarioName, string> = {
  "crash-node": "kill -9 agent + PostgreSQL of the leader",
  "crash-pg": "kill -9 postmaster of the leader",
  "freeze-node": "SIGSTOP leader's agent + postgres, SIGCONT after a new leader",
  "partition-from-etcd": "drop all packets between the leader and etcd for 3 × ttl (clients and nodes still reach it), then heal",
  "partition-from-replicas": "drop all packets between the leader and the other nodes (etcd still reaches it), then heal",
  "etcd-member-lost": "stop 1 of 3 etcd members, restart it",
  "etcd-quorum-lost": `stop 2 of 3 etcd members for ${QUORUM_OUTAGE_S} s, restart them`,
  "etcd-quorum-lost-cut-replica": "freeze 2 of 3 etcd members (SIGSTOP), then cut the leader off from the async replica; restore both",
  "whole-cluster-restart": "SIGTERM all agents, start in another order",
  "lagging-replica": "pause replay on the async replica, kill -9 the leader",
  "fault-after-join": "wipe + rejoin the sync standby, kill -9 the leader once it is in /cluster",
  switchover: "POST /switchover to the leader's API (planned hand-over to the sync standby)",
  "slow-replica": "quorum mode (k = 1): SIGSTOP one standby's node for 30 s, writes go on through the other",
  "crash-node-with-one-replica-stopped":
    "quorum mode (k = 1): SIGSTOP one standby's node, kill -9 the leader once the key names the other alone",
  "crash-node-before-stopped-replica-left":
    "quorum mode (k = 1): SIGSTOP one standby's node, kill -9 the leader 0.5 s later; SIGCONT the standby 10 s later",
};
