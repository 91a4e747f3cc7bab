/**
 * Fresh views of the other members, read from their REST APIs (GET /patroni) in parallel with a
 * short timeout. Used only when there is no leader: the election compares *current* WAL positions,
 * not the ones in member keys, which can be a loop old. An unreachable member is not a competitor.
 * Also a failsafe leader's POST /failsafe. Neither is retried: an unreachable member counts as
 * unreachable at once (a retry's wait would delay the election), and the keeper posts again next loop.
 */
import { NO_RETRY } from "../http/retry";
import { apiRequest } from "../http/transport";
import type { Member } from "../dcs/types";
import type { PeerView } from "./types";

/** `ca`: the cluster CA an https:// member API must chain to (api.tls.caFile); absent with plain HTTP. */
export async function fetchPeerViews(members: Member[], timeoutMs: number, ca?: Buffer): Promise<PeerView[]> {
  return Promise.all(members.map((m) => fetchOne(m, timeoutMs, ca)));
}

async function fetchOne(m: Member, timeoutMs: number, ca: Buffer | undefined): Promise<PeerView> {
  const tags = { nofailover: m.data.tags.nofailover, failoverPriority: m.data.tags.failover_priority };
  try {
    const res = await apiRequest(m.data.api_url, { timeoutMs, ca, retry: NO_RETRY });
    const body = JSON.parse(res.text) as Record<string, unknown>;
    const xlog = (body.xlog ?? {}) as Record<string, unknown>;
    const lsn = [xlog.location, xlog.received_location, xlog.replayed_location].filter((v): v is number => typeof v === "number");
    return {
      name: m.name,
      reachable: body.state === "running",
      isPrimary: body.role === "primary",
      lsn: lsn.length ? Math.max(...lsn) : undefined,
      timeline: typeof body.timeline === "number" ? body.timeline : undefined,
      watchdogFailed: body.watchdog_failed === true,
      ...tags,
    };
  } catch {
    return { name: m.name, reachable: false, ...tags };
  }
}

/**
 * POST /failsafe on a member's API (its api_url's origin), with basic auth when given: true when it
 * answered 200 within timeoutMs (sidecar/ha/failsafe-keeper.ts). `ca` as for fetchPeerViews.
 */
export async function postFailsafe(
  apiUrl: string,
  body: { name: string },
  auth: { username: string; password: string } | undefined,
  timeoutMs: number,
  ca?: Buffer,
): Promise<boolean> {
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (auth) headers.Authorization = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString("base64")}`;
  try {
    const res = await apiRequest(new URL("/failsafe", apiUrl).toString(), {
      method: "POST",
      headers,
      body: JSON.stringify(body),
      timeoutMs,
      ca,
      retry: NO_RETRY,
    });
    return res.status === 200;
  } catch {
    return false;
  }
}
