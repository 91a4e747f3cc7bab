/**
 * Calling an agent's API for something that changes the cluster (switchover, failover), with the
 * credentials of `api.authentication`. Used by the CLI, the benchmarks and the tests.
 */
import * as fs from "node:fs";
import type { ApiCredentials } from "./mutations";
import { apiRequest } from "../http/transport";

export interface ApiReply {
  status: number;
  body: { message?: string; error?: string } & Record<string, unknown>;
}

/** An agent's API as a caller reaches it: base URL, the credentials for changes, the CA an https:// URL chains to. */
export interface ApiTarget {
  api: string;
  auth?: ApiCredentials;
  ca?: Buffer;
}

/**
 * method + path on the agent at baseUrl (http:// or https://), JSON body, basic auth when credentials
 * are given; `ca` verifies an https:// agent (the cluster CA).
 */
export async function callApi(
  baseUrl: string,
  method: string,
  path: string,
  body?: unknown,
  auth?: ApiCredentials,
  timeoutMs = 30_000,
  ca?: Buffer,
): Promise<ApiReply> {
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (auth) headers.Authorization = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString("base64")}`;
  const res = await apiRequest(baseUrl.replace(/\/+$/, "") + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    ca,
    timeoutMs,
  });
  try {
    return { status: res.status, body: JSON.parse(res.text) as ApiReply["body"] };
  } catch {
    return { status: res.status, body: { error: res.text } };
  }
}

/** callApi on a target. */
export function callTarget(t: ApiTarget, method: string, path: string, body?: unknown, timeoutMs?: number): Promise<ApiReply> {
  return callApi(t.api, method, path, body, t.auth, timeoutMs, t.ca);
}

/** The credentials `hapg local up` generated for its agents' API (undefined for a cluster.json from before). */
export function localApiCredentials(c: { api?: { username: string; passwordFile: string } }): ApiCredentials | undefined {
  if (!c.api) return undefined;
  return { username: c.api.username, password: fs.readFileSync(c.api.passwordFile, "utf8").trim() };
}
