/**
 * The one HTTP client of every outbound call: the agent to etcd (mTLS, keep-alive, the watch's long
 * poll), to the other agents' APIs (the cluster CA, basic auth), to EC2's instance metadata; the CLI
 * to the agents; the local cluster's readiness probes. Retries follow the one policy of ./retry.ts.
 *
 * Built on node:http/https rather than the global fetch: fetch is undici, which costs every agent a
 * few MB of resident memory for nothing (../runtime.ts), and Node 20's fetch takes neither a CA nor
 * a client certificate without the separate `undici` package's Agent. A test
 * (test/unit/import-graph.test.ts) keeps every other file off node:http/https requests and fetch.
 */
import http from "node:http";
import https from "node:https";
import { type FailureKind, type RetryPolicy, isIdempotent, withRetry } from "./retry";

/** TLS of https:// requests. Without `ca`, Node's public CAs; cert + key: a client certificate (etcd mTLS). */
export interface TlsOptions {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** The name the server's certificate must carry when the URL's host is an address (SNI). */
  servername?: string;
}

/** Why a request failed: the policy's failure kind, Node's error code, and the answer when there was one. */
export class HttpError extends Error {
  constructor(
    readonly kind: FailureKind,
    message: string,
    readonly code?: string,
    readonly status?: number,
    readonly body?: string,
  ) {
    super(message);
    this.name = "HttpError";
  }
}

/** No connection was made: the server never saw the request. */
const CONNECT_CODES = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN", "EADDRNOTAVAIL"]);
/** A certificate or handshake refused (OpenSSL's verify codes, Node's ERR_TLS_ and ERR_SSL_). */
const TLS_CODE = /^(ERR_TLS_|ERR_SSL_|ERR_OSSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|HOSTNAME_MISMATCH)/;

/** The failure kind of an error a request raised (an HttpError keeps its own). */
export function failureKind(err: unknown): FailureKind {
  if (err instanceof HttpError) return err.kind;
  const e = err as { code?: unknown; name?: unknown };
  const code = typeof e?.code === "string" ? e.code : "";
  if (e?.name === "AbortError" || code === "ABORT_ERR") return "aborted";
  if (CONNECT_CODES.has(code)) return "connect";
  if (TLS_CODE.test(code)) return "tls";
  return "reset";
}

const asHttpError = (err: unknown): HttpError => {
  if (err instanceof HttpError) return err;
  const e = err as Error & { code?: string };
  return new HttpError(failureKind(e), e.message, e.code);
};

/**
 * Kept-alive connections to a fixed set of servers (etcd's members), with one TLS setup. Without a
 * pool, each request opens its own connection (calls minutes apart, or to ever other members).
 */
export class HttpPool {
  private httpAgent: http.Agent | undefined;
  private httpsAgent: https.Agent | undefined;
  constructor(private readonly tls: TlsOptions = {}) {}

  agentFor(secure: boolean): http.Agent {
    if (secure) return (this.httpsAgent ??= new https.Agent({ keepAlive: true, maxFreeSockets: 4, ...this.tls }));
    return (this.httpAgent ??= new http.Agent({ keepAlive: true, maxFreeSockets: 4 }));
  }

  close(): void {
    this.httpAgent?.destroy();
    this.httpsAgent?.destroy();
  }
}

export interface HttpRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** Deadline of the whole call, every attempt and retry wait included. */
  timeoutMs: number;
  /** For https:// URLs when no pool is given. */
  tls?: TlsOptions;
  basicAuth?: { username: string; password: string };
  /** Kept-alive connections (and their TLS); without: a connection of its own. */
  pool?: HttpPool;
  signal?: AbortSignal;
  /** Default: ./retry.ts's RETRY. NO_RETRY for a probe that polls in its own loop. */
  retry?: RetryPolicy;
  /** The caller says a non-idempotent request is safe to repeat. Default: by method. */
  idempotent?: boolean;
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

function requestOptions(u: URL, r: Omit<HttpRequest, "timeoutMs" | "retry">): https.RequestOptions {
  const secure = u.protocol === "https:";
  if (!secure && u.protocol !== "http:") throw new HttpError("answer", `${u.href}: not an http:// or https:// URL`);
  const headers: Record<string, string> = { ...r.headers };
  if (r.body !== undefined) headers["Content-Length"] = String(Buffer.byteLength(r.body));
  if (r.basicAuth) headers.Authorization = `Basic ${Buffer.from(`${r.basicAuth.username}:${r.basicAuth.password}`).toString("base64")}`;
  const options: https.RequestOptions = {
    method: r.method ?? "GET",
    headers,
    agent: r.pool ? r.pool.agentFor(secure) : false,
    signal: r.signal,
  };
  if (secure && !r.pool && r.tls) Object.assign(options, r.tls);
  return options;
}

const clientFor = (u: URL) => (u.protocol === "https:" ? https : http);

/** One attempt, no retry: the whole answer within timeoutMs. */
export function sendOnce(url: string | URL, r: Omit<HttpRequest, "retry">): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    let options: https.RequestOptions;
    try {
      options = requestOptions(u, r);
    } catch (e) {
      return reject(asHttpError(e));
    }
    const req = clientFor(u).request(u, options);
    const timer = setTimeout(() => req.destroy(new HttpError("timeout", `no answer within ${Math.round(r.timeoutMs)} ms`)), r.timeoutMs);
    const fail = (err: unknown) => {
      clearTimeout(timer);
      reject(asHttpError(err));
    };
    req.on("error", fail);
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", fail);
      res.on("end", () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString("utf8") });
      });
    });
    req.end(r.body);
  });
}

/**
 * A request with the retry policy: network failures are retried (see ./retry.ts), any answer is
 * returned whatever its status. Rejects HttpError (kind, Node's code, message) when no answer came.
 */
export function httpRequest(url: string | URL, r: HttpRequest): Promise<HttpResponse> {
  const idempotent = r.idempotent ?? isIdempotent(r.method ?? "GET");
  return withRetry({ timeoutMs: r.timeoutMs, idempotent, policy: r.retry, classify: failureKind, signal: r.signal }, (_i, budgetMs) =>
    sendOnce(url, { ...r, timeoutMs: budgetMs }),
  );
}

/** GET that resolves the parsed JSON body of a 200 answer, undefined for any failure or other answer. */
export async function getJsonOrUndefined<T>(url: string | URL, r: Omit<HttpRequest, "method" | "body">): Promise<T | undefined> {
  try {
    const res = await httpRequest(url, r);
    return res.status === 200 ? (JSON.parse(res.text) as T) : undefined;
  } catch {
    return undefined;
  }
}

export interface StreamHandlers {
  /** Each non-empty line of a 200 answer (a newline-delimited JSON stream). Not after abort(). */
  onLine(line: string): void;
  /**
   * Once, when the stream ends or breaks (an answer other than 200: kind "answer" with status and
   * body); `streaming`: a 200 answer had begun. Not after abort().
   */
  onClose(err: HttpError, streaming: boolean): void;
}

/**
 * A long-lived request whose answer streams lines (etcd's watch). `timeoutMs` bounds the wait for the
 * answer to start, not the stream. Never retried: the caller reconnects (with ./retry.ts's backoffMs).
 */
export function openStream(url: string | URL, r: Omit<HttpRequest, "retry" | "signal">, h: StreamHandlers): { abort(): void } {
  const u = new URL(url);
  let closed = false;
  let streaming = false;
  const req = clientFor(u).request(u, requestOptions(u, r));
  const close = (err: HttpError) => {
    if (closed) return;
    closed = true;
    clearTimeout(connectTimer);
    req.destroy();
    h.onClose(err, streaming);
  };
  const connectTimer = setTimeout(() => close(new HttpError("timeout", `no answer within ${r.timeoutMs} ms`)), r.timeoutMs);
  req.on("error", (err) => close(asHttpError(err)));
  req.on("response", (res) => {
    clearTimeout(connectTimer);
    if (res.statusCode !== 200) {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        close(new HttpError("answer", `HTTP ${res.statusCode}`, undefined, res.statusCode ?? 0, body));
      });
      return;
    }
    streaming = true;
    let buffered = "";
    res.setEncoding("utf8");
    res.on("data", (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while (!closed && (nl = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (line !== "") h.onLine(line);
      }
    });
    res.on("error", (err) => close(asHttpError(err)));
    res.on("end", () => close(new HttpError("reset", "stream ended")));
  });
  req.end(r.body);
  return {
    abort: () => {
      closed = true;
      clearTimeout(connectTimer);
      req.destroy();
    },
  };
}
