/**
 * What every fault scenario shares: the run's context (cluster, leader, tracked writer, checks), the
 * sync key, and the waits for a failover.
 */
import { restartNode, waitAgentGone, waitForPrimary } from "../../local/faults";
import { HA_DEFAULTS } from "../../sidecar/contract/settings/schema";
import { apiStatus, ClusterFile, readClusterFile } from "../../local/state";
import { sleep } from "../../sidecar/postgres/process";
import { TrackedWriter } from "./workload";

/** The agents' ttl in the local cluster (the settings' default), seconds. */
export const TTL_S = HA_DEFAULTS.timing.ttl;

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export type Say = (line: string) => void;

export interface Ctx {
  dir: string;
  c: ClusterFile;
  leader: string;
  writer: TrackedWriter;
  say: Say;
  checks: Check[];
  /**
   * `npm test`'s reduced matrix: a scenario whose fault lasts a fixed time keeps it at what the
   * property needs (a few leases) instead of the longer figure `npm run test:faults` reports.
   */
  reduced: boolean;
}

export interface Injected {
  faultAt: number;
  newPrimary?: string;
}

export const check = (ctx: Ctx, name: string, ok: boolean, detail: string) => ctx.checks.push({ name, ok, detail });

/** The sync key: the standby the leader recorded as synchronous (who may be promoted), via any live etcd member. */
export async function readSyncKey(c: ClusterFile): Promise<{ leader: string; sync_standby: string | null; quorum?: number } | undefined> {
  const raw = await readKey(c, "sync");
  return raw ? (JSON.parse(raw) as { leader: string; sync_standby: string | null; quorum?: number }) : undefined;
}

/** Who holds the leader key (undefined once its lease expired), via any live etcd member; null when no member answered. */
export async function readLeaderKey(c: ClusterFile): Promise<string | undefined | null> {
  return readKey(c, "leader");
}

/** A key of the local cluster as text (undefined when absent), via any live etcd member; null when no member answered. */
async function readKey(c: ClusterFile, name: string): Promise<string | undefined | null> {
  const key = Buffer.from(`/service/local/${name}`).toString("base64");
  for (const e of c.etcd) {
    try {
      const res = await fetch(`${e.clientUrl}/v3/kv/range`, {
        method: "POST",
        body: JSON.stringify({ key }),
        signal: AbortSignal.timeout(1000),
      });
      const body = (await res.json()) as { kvs?: { value: string }[] };
      if (!body.kvs?.length) return undefined;
      return Buffer.from(body.kvs[0].value, "base64").toString();
    } catch {
      /* next member */
    }
  }
  return null;
}

/**
 * Waits until the sync key names the current leader and a standby that may be promoted (the steady
 * state in synchronous mode: a quorum below the size of the set; right after a standby is recorded
 * the quorum equals it until the standby has every acknowledged commit, about one loop).
 */
export async function syncStandbyOf(c: ClusterFile, leader: string, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await readSyncKey(c);
    const size = s?.sync_standby?.split(",").length ?? 0;
    if (s && s.leader === leader && s.sync_standby && (s.quorum ?? 0) < size) return s.sync_standby;
    if (Date.now() > deadline)
      throw new Error(`the sync key does not name ${leader} with a standby within ${timeoutMs} ms (it holds ${JSON.stringify(s)})`);
    await sleep(200);
  }
}

/** The standbys a sync key value names ("b" in mode "on", "b,c" for a quorum set). */
export const syncNames = (syncStandby: string): string[] => syncStandby.split(",");

/** Which member a failover promoted: the first other member to answer /primary 200 (one the sync key named: the standby, or a member of the quorum set). */
export async function failoverTarget(ctx: Ctx, syncStandby: string): Promise<string> {
  const next = await waitForPrimary(ctx.dir, { exclude: [ctx.leader], timeoutMs: 30_000 });
  check(
    ctx,
    "promoted the standby named in the sync key",
    syncNames(syncStandby).includes(next),
    `sync key named ${syncStandby}; ${next} was promoted`,
  );
  return next;
}

export async function restartWhenGone(ctx: Ctx, name: string): Promise<void> {
  await waitAgentGone(ctx.dir, name, 30_000);
  restartNode(ctx.dir, name);
}

/**
 * Polls /primary on every node every 200 ms until stopped; returns, per member, the times it
 * answered 200 (who acted as primary during a fault).
 */
export function watchPrimaries(dir: string): { stop: () => Promise<Map<string, number[]>> } {
  const times = new Map<string, number[]>();
  let watching = true;
  const loop = (async () => {
    while (watching) {
      const c = readClusterFile(dir);
      const codes = await Promise.all(c.nodes.map((n) => apiStatus(n, "/primary", 300)));
      const now = Date.now();
      codes.forEach((s, i) => {
        if (s === 200) times.set(c.nodes[i].name, [...(times.get(c.nodes[i].name) ?? []), now]);
      });
      await sleep(200);
    }
  })();
  return {
    stop: async () => {
      watching = false;
      await loop;
      return times;
    },
  };
}

/** A check that nobody but the leader answered /primary 200 while watched. */
export function checkNoOtherPrimary(ctx: Ctx, primaries: Map<string, number[]>, name: string): void {
  const others = [...primaries.keys()].filter((n) => n !== ctx.leader);
  check(ctx, name, others.length === 0, others.length ? `${others.join(", ")} answered /primary 200` : "none did");
}
