/**
 * Calling an agent's API for something that changes the cluster (switchover, failover), with the
 * credentials of `api.authentication`. Used by the CLI, the benchmarks and the tests.
 */
import * as fs from "node:fs";
import type { ClusterFile } from "../local/state";
import type { ApiCredentials } from "./mutations";

export interface ApiReply {
  status: number;
  body: { message?: string; error?: string } & Record<string, unknown>;
}

/** method + path on the agent at baseUrl (http://host:port), JSON body, basic auth when credentials are given. */
export async function callApi(
  baseUrl: string,
  method: string,
  path: string,
  body?: unknown,
  auth?: ApiCredentials,
  timeoutMs = 30_000,
): Promise<ApiReply> {
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (auth) headers.Authorization = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString("base64")}`;
  const res = await fetch(baseUrl.replace(/\/+$/, "") + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) as ApiReply["body"] };
  } catch {
    return { status: res.status, body: { error: text } };
  }
}

/** The credentials `hapg local up` generated for its agents' API (undefined for a cluster.json from before). */
export function localApiCredentials(c: ClusterFile): ApiCredentials | undefined {
  if (!c.api) return undefined;
  return { username: c.api.username, password: fs.readFileSync(c.api.passwordFile, "utf8").trim() };
}
