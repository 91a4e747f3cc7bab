/**
 * Fresh views of the other members, read from their REST APIs (GET /patroni) in parallel with a
 * short timeout. Used only when there is no leader: the election compares *current* WAL positions,
 * not the ones in member keys, which can be a loop old. An unreachable member is not a competitor.
 * Also a failsafe leader's POST /failsafe (node:http, like the reads: no fetch stack in the agent).
 */
import http from "node:http";
import type { Member } from "../dcs/types";
import type { PeerView } from "./types";

export async function fetchPeerViews(members: Member[], timeoutMs: number): Promise<PeerView[]> {
  return Promise.all(members.map((m) => fetchOne(m, timeoutMs)));
}

async function fetchOne(m: Member, timeoutMs: number): Promise<PeerView> {
  const tags = { nofailover: m.data.tags.nofailover, failoverPriority: m.data.tags.failover_priority };
  try {
    const body = await getJson(m.data.api_url, timeoutMs);
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

function getJson(url: string, timeoutMs: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: timeoutMs, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>);
        } catch (e) {
          reject(e);
        }
      });
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    req.on("error", reject);
  });
}

/**
 * POST /failsafe on a member's API (its api_url's origin), with basic auth when given: true when it
 * answered 200 within timeoutMs (sidecar/ha/failsafe-keeper.ts).
 */
export function postFailsafe(
  apiUrl: string,
  body: { name: string },
  auth: { username: string; password: string } | undefined,
  timeoutMs: number,
): Promise<boolean> {
  return new Promise((resolve) => {
    const text = JSON.stringify(body);
    const headers: Record<string, string | number> = { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) };
    if (auth) headers.Authorization = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString("base64")}`;
    const req = http.request(new URL("/failsafe", apiUrl), { method: "POST", headers, timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode === 200));
      res.on("error", () => resolve(false));
    });
    req.on("timeout", () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    req.on("error", () => resolve(false));
    req.end(text);
  });
}
