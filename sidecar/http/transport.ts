/**
 * How the agents' REST API is reached: plain HTTP (the local cluster) or HTTPS with the cluster CA
 * (AWS). One request function for every caller — the CLI, the agents' peer calls, the tests — so an
 * https:// URL is always verified against the CA it is given and never accepted unverified.
 */
import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { ConfigError } from "../contract/agent-config";

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
}

export interface ApiResponse {
  status: number;
  text: string;
}

/** One request to an agent's API over http:// or https:// (verified); rejects on network or TLS errors. */
export function apiRequest(url: string, r: ApiRequest): Promise<ApiResponse> {
  const u = new URL(url);
  const secure = u.protocol === "https:";
  if (!secure && u.protocol !== "http:") return Promise.reject(new Error(`${url}: not an http:// or https:// URL`));
  const headers = { ...r.headers, ...(r.body !== undefined ? { "Content-Length": String(Buffer.byteLength(r.body)) } : {}) };
  const options: https.RequestOptions = { method: r.method ?? "GET", headers, timeout: r.timeoutMs, agent: false };
  if (secure && r.ca) options.ca = r.ca;
  return new Promise((resolve, reject) => {
    const onResponse = (res: http.IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    };
    const req = secure ? https.request(u, options, onResponse) : http.request(u, options, onResponse);
    req.on("timeout", () => req.destroy(new Error(`timed out after ${r.timeoutMs} ms`)));
    req.on("error", reject);
    req.end(r.body);
  });
}
