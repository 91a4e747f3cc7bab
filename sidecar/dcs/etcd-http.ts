/**
 * Transport to etcd's v3 gRPC-JSON gateway over plain HTTP(S): JSON POSTs with a hard deadline,
 * failover across endpoints (one round, by the one retry policy: ../http/retry.ts), and auth tokens.
 * Requests go through the one HTTP client (../http/client.ts) with kept-alive connections. No etcd client library: the gateway is stable from
 * etcd 3.4 to 3.6 under /v3/, and this keeps the agent small.
 */
import * as fs from "node:fs";
import { HttpError, HttpPool, failureKind, openStream, sendOnce } from "../http/client";
import { type FailureKind, oneRound, withRetry } from "../http/retry";
import { DcsUnavailableError } from "./types";

export interface EtcdHttpOptions {
  endpoints: string[];
  /** Deadline of one call, all endpoint attempts included. */
  timeoutMs: number;
  username?: string;
  password?: string;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

/** An error etcd itself answered with (gRPC status code + message), as opposed to no answer at all. */
export class EtcdApiError extends Error {
  constructor(
    readonly code: number,
    readonly etcdMessage: string,
    readonly httpStatus: number,
  ) {
    super(`etcd error ${code}: ${etcdMessage}`);
    this.name = "EtcdApiError";
  }

  /** This member cannot serve now (no leader, timeout, overload): another member may. */
  get endpointProblem(): boolean {
    return (
      ([GRPC.DEADLINE_EXCEEDED, GRPC.RESOURCE_EXHAUSTED, GRPC.UNAVAILABLE, GRPC.DATA_LOSS] as number[]).includes(this.code) ||
      (this.code === GRPC.UNKNOWN && this.httpStatus >= 500)
    );
  }

  get authProblem(): boolean {
    return this.code === GRPC.UNAUTHENTICATED || /invalid auth token/.test(this.etcdMessage);
  }
}

const GRPC = {
  UNKNOWN: 2,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  RESOURCE_EXHAUSTED: 8,
  UNAUTHENTICATED: 16,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
} as const;

/**
 * How an etcd call failed, for the retry policy. Every etcd call may be repeated (idempotent: true):
 * reads and lease renewals are, and each compare-and-swap re-checks its compare (see
 * kv-dcs.ts's attemptAcquireLeader for the one whose answer may have been lost).
 */
export function etcdFailureKind(err: unknown): FailureKind {
  if (err instanceof EtcdApiError) return err.endpointProblem ? "unavailable" : "answer";
  return failureKind(err);
}

/**
 * Reads an etcd error body: 3.4 sends {error, code, message}, 3.5+ {code, message, details}; errors
 * inside a stream are {"error": {grpc_code, http_code, message}}.
 */
export function parseEtcdError(status: number, body: string): EtcdApiError {
  try {
    type ErrorJson = { error?: unknown; code?: unknown; grpc_code?: unknown; message?: unknown };
    const json = JSON.parse(body) as ErrorJson;
    const inner = typeof json.error === "object" && json.error !== null ? (json.error as ErrorJson) : json;
    const message = typeof inner.message === "string" ? inner.message : typeof inner.error === "string" ? inner.error : body;
    const code = typeof inner.code === "number" ? inner.code : typeof inner.grpc_code === "number" ? inner.grpc_code : GRPC.UNKNOWN;
    return new EtcdApiError(code, message, status);
  } catch {
    return new EtcdApiError(GRPC.UNKNOWN, body.slice(0, 200) || `HTTP ${status}`, status);
  }
}

export interface StreamHandle {
  endpoint: string;
  /** Ends the stream without calling onClose. */
  abort(): void;
}

export class EtcdHttp {
  endpoints: URL[];
  private preferred = 0;
  private token: string | undefined;
  private readonly pool: HttpPool;

  constructor(private readonly opts: EtcdHttpOptions) {
    if (opts.endpoints.length === 0) throw new Error("etcd: list at least one endpoint");
    this.endpoints = opts.endpoints.map((e) => new URL(e));
    const read = (file: string | undefined) => (file === undefined ? undefined : fs.readFileSync(file));
    const secure = this.endpoints.some((u) => u.protocol === "https:");
    this.pool = new HttpPool(secure ? { ca: read(opts.caFile), cert: read(opts.certFile), key: read(opts.keyFile) } : {});
  }

  /**
   * The members' client URLs changed (the topology: etcd members added or removed). Keeps preferring the
   * endpoint that answered last while it is still listed. An empty list is refused (keeps the old one).
   */
  setEndpoints(urls: string[]): boolean {
    if (urls.length === 0) return false;
    const next = urls.map((e) => new URL(e));
    const same = next.length === this.endpoints.length && next.every((u, i) => u.origin === this.endpoints[i].origin);
    if (same) return false;
    const current = this.endpoints[this.preferred]?.origin;
    this.endpoints = next;
    this.preferred = Math.max(
      0,
      next.findIndex((u) => u.origin === current),
    );
    return true;
  }

  get timeoutMs(): number {
    return this.opts.timeoutMs;
  }

  /** The endpoint the next call tries first: the last one that answered. */
  get currentEndpoint(): string {
    return this.endpoints[this.preferred].origin;
  }

  /**
   * POST a JSON body, parse the JSON answer. Tries endpoints in turn, starting at the last one that
   * answered; each attempt gets an equal share of what is left of the deadline. Rejects
   * DcsUnavailableError when no endpoint answered in time, EtcdApiError when etcd refused the request.
   */
  async call<T>(path: string, body: object): Promise<T> {
    const failures: string[] = [];
    const endpoints = this.endpoints;
    const n = endpoints.length;
    const first = this.preferred;
    const prefer = (index: number) => {
      if (this.endpoints === endpoints) this.preferred = index;
    };
    try {
      const run = { timeoutMs: this.opts.timeoutMs, idempotent: true, targets: n, policy: oneRound(n), classify: etcdFailureKind };
      return await withRetry(run, async (i, budgetMs) => {
        const index = (first + i) % n;
        try {
          const result = await this.callWithAuth<T>(endpoints[index], path, body, budgetMs);
          prefer(index);
          return result;
        } catch (err) {
          if (err instanceof EtcdApiError && !err.endpointProblem) prefer(index);
          else {
            failures.push(`${endpoints[index].origin}: ${(err as Error).message}`);
            if (index === this.preferred) prefer((index + 1) % n);
          }
          throw err;
        }
      });
    } catch (err) {
      if (err instanceof EtcdApiError && !err.endpointProblem) throw err;
      throw new DcsUnavailableError(`etcd ${path} failed within ${this.opts.timeoutMs} ms: ${failures.join("; ") || "no time left"}`);
    }
  }

  /** One call to one endpoint (used to check that a watch's endpoint is still alive). */
  callOne<T>(endpoint: string, path: string, body: object, signal?: AbortSignal): Promise<T> {
    return this.callWithAuth<T>(new URL(endpoint), path, body, this.opts.timeoutMs, signal).catch((err: unknown) => {
      throw err instanceof HttpError ? new DcsUnavailableError(`etcd ${endpoint}${path}: ${err.message}`) : err;
    });
  }

  private async callWithAuth<T>(url: URL, path: string, body: object, budgetMs: number, signal?: AbortSignal): Promise<T> {
    const deadline = performance.now() + budgetMs;
    const left = () => Math.max(1, deadline - performance.now());
    await this.ensureToken(url, left());
    try {
      return await this.post<T>(url, path, body, left(), true, signal);
    } catch (err) {
      if (!(err instanceof EtcdApiError && err.authProblem && this.opts.username !== undefined)) throw err;
      // Simple tokens expire (etcd --auth-token-ttl, 5 min): get a new one and try again, once.
      this.token = undefined;
      await this.ensureToken(url, left());
      return await this.post<T>(url, path, body, left(), true, signal);
    }
  }

  private async ensureToken(url: URL, budgetMs: number): Promise<void> {
    if (this.opts.username === undefined || this.token !== undefined) return;
    const res = await this.post<{ token?: string }>(
      url,
      "/v3/auth/authenticate",
      { name: this.opts.username, password: this.opts.password ?? "" },
      budgetMs,
      false,
    );
    if (!res.token) throw new EtcdApiError(GRPC.UNAUTHENTICATED, "etcd returned no auth token", 200);
    this.token = res.token;
  }

  /** Stop preferring an endpoint that failed outside `call` (e.g. a watch found it dead). */
  markFailed(origin: string): void {
    if (this.endpoints[this.preferred].origin === origin) this.preferred = (this.preferred + 1) % this.endpoints.length;
  }

  /** Invalidate the token after an auth error seen outside `call` (e.g. on a watch stream). */
  dropToken(): void {
    this.token = undefined;
  }

  private headers(withToken: boolean, extra: Record<string, string> = {}): Record<string, string> {
    const headers: Record<string, string> = { "content-type": "application/json", ...extra };
    if (withToken && this.token !== undefined) headers.authorization = this.token;
    return headers;
  }

  /** One POST to one endpoint, no retry (call() decides): the JSON of a 200 answer, else EtcdApiError or HttpError. */
  private async post<T>(url: URL, path: string, body: object, timeoutMs: number, withToken = true, signal?: AbortSignal): Promise<T> {
    const res = await sendOnce(new URL(path, url), {
      method: "POST",
      headers: this.headers(withToken),
      body: JSON.stringify(body),
      timeoutMs,
      pool: this.pool,
      signal,
    });
    if (res.status !== 200) throw parseEtcdError(res.status, res.text);
    try {
      return JSON.parse(res.text) as T;
    } catch {
      throw new HttpError("unavailable", `unparsable answer: ${res.text.slice(0, 200)}`);
    }
  }

  /**
   * Open a streaming call (watch) on the current endpoint. `onLine` gets each newline-delimited JSON
   * object; `onClose` is called once when the stream ends or breaks (not after abort()). A failure
   * to connect also moves the preferred endpoint on, so the next attempt tries another member.
   */
  async openStream(
    path: string,
    body: object,
    extraHeaders: Record<string, string>,
    onLine: (line: unknown) => void,
    onClose: (err: Error) => void,
  ): Promise<StreamHandle> {
    const url = this.endpoints[this.preferred];
    const skipEndpoint = () => this.markFailed(url.origin);
    try {
      await this.ensureToken(url, this.opts.timeoutMs);
    } catch (err) {
      if (!(err instanceof EtcdApiError && !err.endpointProblem)) skipEndpoint();
      throw err instanceof HttpError ? new DcsUnavailableError(`etcd ${url.origin}: ${err.message}`) : err;
    }
    let closed = false;
    const close = (err: Error) => {
      if (closed) return;
      closed = true;
      stream.abort();
      onClose(err);
    };
    const stream = openStream(
      new URL(path, url),
      {
        method: "POST",
        headers: this.headers(true, extraHeaders),
        body: JSON.stringify(body),
        timeoutMs: this.opts.timeoutMs,
        pool: this.pool,
      },
      {
        onLine: (line) => {
          if (closed) return;
          let parsed: unknown;
          try {
            parsed = JSON.parse(line);
          } catch {
            return close(new Error(`etcd ${url.origin}${path}: unparsable stream line: ${line.slice(0, 200)}`));
          }
          onLine(parsed);
        },
        onClose: (err, streaming) => {
          if (err.status !== undefined) return close(parseEtcdError(err.status, err.body ?? ""));
          // No answer at all (refused, timed out): try another member next time.
          if (!streaming) skipEndpoint();
          close(new DcsUnavailableError(`etcd ${url.origin}${path}: ${err.message}`));
        },
      },
    );
    return {
      endpoint: url.origin,
      abort: () => {
        closed = true;
        stream.abort();
      },
    };
  }

  close(): void {
    this.pool.close();
  }
}
