/**
 * How the agents' REST API is reached: plain HTTP (the local cluster) or HTTPS with the cluster CA
 * (AWS). One request function for every caller — the CLI, the agents' peer calls, the tests — so an
 * https:// URL is always verified against the CA it is given and never accepted unverified. The
 * requests themselves go through the one HTTP client, ./client.ts.
 */
import { readFileSync } from "node:fs";
import { ConfigError } from "../contract/agent-config";
import { httpRequest } from "./client";
import type { RetryPolicy } from "./retry";

/** The API's TLS files as the agent config names them (`api.tls`). */
export interface ApiTlsFiles {
  certFile: string;
  keyFile: string;
  caFile: string;
}

export interface ApiTlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
}

/** Reads `api.tls`'s files; an unreadable or non-PEM file is a ConfigError naming the field. */
export function loadApiTls(files: ApiTlsFiles, field = "api.tls"): ApiTlsMaterial {
  const read = (key: keyof ApiTlsFiles, marker: RegExp, what: string): Buffer => {
    let content: Buffer;
    try {
      content = readFileSync(files[key]);
    } catch (e) {
      throw new ConfigError([`${field}.${key}: cannot read ${files[key]} (${(e as Error).message})`]);
    }
    if (!marker.test(content.toString("latin1"))) {
      throw new ConfigError([`${field}.${key}: ${files[key]} is not a PEM ${what}: give the ${what} file`]);
    }
    return content;
  };
  return {
    cert: read("certFile", /-----BEGIN CERTIFICATE-----/, "certificate"),
    key: read("keyFile", /-----BEGIN [A-Z ]*PRIVATE KEY-----/, "private key"),
    ca: read("caFile", /-----BEGIN CERTIFICATE-----/, "CA certificate"),
  };
}

/** Reads a CA file for a client (the CLI's --cacert, a CLI config's caFile); the error names `what`. */
export function readCaFile(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new Error(`${what} ${file}: cannot read it (${(e as Error).message}): give the cluster CA certificate (PEM)`, { cause: e });
  }
}

export interface ApiRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** CA certificate(s) an https:// server must chain to. Without it, https:// URLs use Node's public CAs. */
  ca?: Buffer;
  timeoutMs: number;
  /** Default: the one policy's RETRY (./retry.ts: idempotent requests only). */
  retry?: RetryPolicy;
}

export interface ApiResponse {
  status: number;
  text: string;
}

/** One request to an agent's API over http:// or https:// (verified); rejects on network or TLS errors (./client.ts). */
export async function apiRequest(url: string, r: ApiRequest): Promise<ApiResponse> {
  const res = await httpRequest(url, {
    method: r.method,
    headers: r.headers,
    body: r.body,
    tls: r.ca ? { ca: r.ca } : undefined,
    timeoutMs: r.timeoutMs,
    retry: r.retry,
  });
  return { status: res.status, text: res.text };
}
