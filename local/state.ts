/**
 * DIR/cluster.json (what `up` started: the shape the issue documents) and reading the cluster's
 * state through the agents' REST API.
 */
import * as fs from "node:fs";
import { httpRequest } from "../sidecar/http/client";
import { NO_RETRY } from "../sidecar/http/retry";
import { clusterJsonPath, readClusterFile as readBaseClusterFile, type ClusterFile as BaseClusterFile } from "../sidecar/cli/cluster-file";
import type { NetnsPlan } from "./netns";

export type ClusterFile = BaseClusterFile<NetnsPlan>;
export type NodeEntry = ClusterFile["nodes"][number];
export { clusterJsonPath };

export function readClusterFile(dir: string): ClusterFile {
  return readBaseClusterFile<NetnsPlan>(dir);
}

/** Written to a temp file and renamed, so a reader never sees half a file; mode 0600 (the DSN has the password). */
export function writeClusterFile(dir: string, c: ClusterFile): void {
  const file = clusterJsonPath(dir);
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(c, null, 2) + "\n", { mode: 0o600 });
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
}

export function findNode(c: ClusterFile, name: string): NodeEntry {
  const n = c.nodes.find((x) => x.name === name);
  if (!n) throw new Error(`no node "${name}" in this cluster (nodes: ${c.nodes.map((x) => x.name).join(", ")})`);
  return n;
}

/** Patroni's /cluster member, the fields we use. */
export interface ApiMember {
  name: string;
  role: string;
  state: string;
  host?: string;
  port?: number;
  api_url?: string;
  timeline?: number;
  lag?: number | string;
}

export interface ApiCluster {
  scope?: string;
  members: ApiMember[];
}

/**
 * GET url; resolves status and parsed JSON body (undefined when not JSON), rejects on network errors/timeouts.
 * One attempt: its callers poll in their own loops.
 */
export async function httpGet(url: string, timeoutMs = 1000): Promise<{ status: number; body: unknown }> {
  const res = await httpRequest(url, { timeoutMs, retry: NO_RETRY });
  const text = res.text;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, body };
}

export function apiUrl(node: NodeEntry, p: string): string {
  return node.apiUrl.replace(/\/+$/, "") + p;
}

/** Status code of GET <api>/<p>, or undefined when the agent does not answer. */
export async function apiStatus(node: NodeEntry, p: string, timeoutMs = 1000): Promise<number | undefined> {
  try {
    return (await httpGet(apiUrl(node, p), timeoutMs)).status;
  } catch {
    return undefined;
  }
}

/** /cluster as the agents answer it (each reads it from etcd), or undefined when none answers. */
export async function fetchCluster(c: ClusterFile, timeoutMs = 1000): Promise<ApiCluster | undefined> {
  const answers = await Promise.all(
    c.nodes.map(async (n) => {
      try {
        const r = await httpGet(apiUrl(n, "/cluster"), timeoutMs);
        const body = r.body as ApiCluster | undefined;
        return r.status === 200 && body && Array.isArray(body.members) ? body : undefined;
      } catch {
        return undefined;
      }
    }),
  );
  // An agent that just started answers before it has read etcd (no members): prefer the fullest view.
  const score = (a: ApiCluster) => (a.members.some((m) => m.role === "leader") ? 1000 : 0) + a.members.length;
  return answers.filter((a): a is ApiCluster => a !== undefined).sort((a, b) => score(b) - score(a))[0];
}

export interface HealthVerdict {
  healthy: boolean;
  leader?: string;
  /** Why not healthy, for progress lines and timeouts: "node2: starting", "no leader"... */
  waitingFor: string[];
}

/**
 * Healthy = exactly one leader, running, and every other expected node a replica, streaming, on the
 * leader's timeline. Pure: takes the /cluster answer.
 */
export function judgeHealth(cluster: ApiCluster | undefined, expected: readonly string[]): HealthVerdict {
  if (!cluster) return { healthy: false, waitingFor: ["no agent API answers yet"] };
  const leaders = cluster.members.filter((m) => ["leader", "primary", "master", "standby_leader"].includes(m.role));
  // Patroni names the synchronous standby's role "sync_standby" in /cluster: a replica all the same.
  const isReplica = (role: string) => role === "replica" || role === "sync_standby";
  const waitingFor: string[] = [];
  if (leaders.length !== 1) waitingFor.push(leaders.length === 0 ? "no leader yet" : `${leaders.length} leaders`);
  const leader = leaders.length === 1 ? leaders[0] : undefined;
  if (leader && leader.state !== "running") waitingFor.push(`${leader.name} (leader): ${leader.state}`);
  for (const name of expected) {
    if (name === leader?.name) continue;
    const m = cluster.members.find((x) => x.name === name);
    if (!m) waitingFor.push(`${name}: not registered`);
    else if (!isReplica(m.role) || m.state !== "streaming") waitingFor.push(`${name}: ${m.role} ${m.state}`);
    else if (leader?.timeline !== undefined && m.timeline !== undefined && m.timeline !== leader.timeline) {
      waitingFor.push(`${name}: timeline ${m.timeline}, leader on ${leader.timeline}`);
    }
  }
  return { healthy: waitingFor.length === 0, leader: leader?.name, waitingFor };
}
