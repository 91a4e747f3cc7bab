/**
 * A self-healing watch on a key prefix over the gateway's streaming `/v3/watch`. Re-establishes the
 * stream after errors from the last seen revision + 1 (the one retry policy's backoff, 100 ms → 1 s:
 * ../http/retry.ts),
 * and restarts from the current revision after compaction (reporting it through onError: events in
 * between are lost, the consumer must reload). A stream can hang without breaking (a SIGSTOPped or
 * partitioned member keeps its TCP connection), so while connected we periodically make one
 * linearizable read on the watch's own endpoint and move on when it fails.
 */
import { backoffMs } from "../http/retry";
import type { EtcdHttp, StreamHandle } from "./etcd-http";
import { EtcdApiError, parseEtcdError } from "./etcd-http";
import { prefixRangeEnd } from "./kv-dcs";
import type { WatchEvent } from "./types";

export const b64 = (s: string | Buffer): string => Buffer.from(s).toString("base64");
export const unb64 = (s: string | undefined): string => (s === undefined ? "" : Buffer.from(s, "base64").toString("utf8"));

interface GwWatchResponse {
  header?: { revision?: string };
  created?: boolean;
  canceled?: boolean;
  cancel_reason?: string;
  compact_revision?: string;
  events?: { type?: "PUT" | "DELETE"; kv?: { key?: string; mod_revision?: string } }[];
}

export class EtcdWatch {
  private stopped = false;
  /** First revision still wanted; 0 = "from now" (only before the first stream was created). */
  private nextRevision: number;
  private stream: StreamHandle | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private checkTimer: NodeJS.Timeout | undefined;
  private checkAbort: AbortController | undefined;
  private failures = 0;

  constructor(
    private readonly http: EtcdHttp,
    private readonly prefix: string,
    fromRevision: number,
    private readonly onEvent: (e: WatchEvent) => void,
    private readonly onError: ((err: Error) => void) | undefined,
  ) {
    this.nextRevision = Math.max(0, Math.floor(fromRevision));
    this.connect();
  }

  /** Stops for good: no callback, socket or timer survives this call. */
  stop(): void {
    this.stopped = true;
    this.stream?.abort();
    this.stream = undefined;
    clearTimeout(this.retryTimer);
    clearTimeout(this.checkTimer);
    this.checkAbort?.abort();
  }

  private get checkIntervalMs(): number {
    return Math.max(1000, 2 * this.http.timeoutMs);
  }

  private connect(): void {
    this.retryTimer = undefined;
    if (this.stopped) return;
    const createRequest: Record<string, string> = { key: b64(this.prefix), range_end: b64(prefixRangeEnd(this.prefix)) };
    if (this.nextRevision > 0) createRequest.start_revision = String(this.nextRevision);
    // hasleader: etcd cancels the stream when its member loses the raft leader (instead of going quiet).
    this.http
      .openStream(
        "/v3/watch",
        { create_request: createRequest },
        { "grpc-metadata-hasleader": "true" },
        (line) => this.onLine(line),
        (err) => this.broken(err),
      )
      .then((handle) => {
        if (this.stopped) return handle.abort();
        this.stream = handle;
        this.scheduleCheck(handle);
      })
      .catch((err: unknown) => this.broken(err instanceof Error ? err : new Error(String(err))));
  }

  private onLine(line: unknown): void {
    if (this.stopped) return;
    const msg = line as { result?: GwWatchResponse; error?: unknown };
    if (msg.error !== undefined) return this.restart(parseEtcdError(200, JSON.stringify(msg.error)));
    const res = msg.result ?? {};
    const compactRevision = Number(res.compact_revision ?? 0);
    if (compactRevision > 0) {
      this.onError?.(
        new Error(
          `etcd watch from revision ${this.nextRevision} failed: compacted up to ${compactRevision}; events in between are lost, reload and continue from now`,
        ),
      );
      this.nextRevision = 0;
      return this.restart(undefined);
    }
    if (res.canceled) return this.restart(new Error(`etcd canceled the watch: ${res.cancel_reason ?? "no reason given"}`));
    if (res.created) {
      this.failures = 0;
      if (this.nextRevision === 0) this.nextRevision = Number(res.header?.revision ?? 0) + 1;
      return;
    }
    const events = res.events ?? [];
    for (const ev of events) {
      const revision = Number(ev.kv?.mod_revision ?? 0);
      this.nextRevision = Math.max(this.nextRevision, revision + 1);
      this.onEvent({ type: ev.type === "DELETE" ? "delete" : "put", key: unb64(ev.kv?.key), revision });
      if (this.stopped) return; // the callback may stop the watch
    }
    // A progress notification: nothing below header.revision is still to come.
    if (events.length === 0 && res.header?.revision !== undefined) {
      this.nextRevision = Math.max(this.nextRevision, Number(res.header.revision) + 1);
    }
  }

  /** Drop the current stream and connect again (err undefined: at once, without reporting). */
  private restart(err: Error | undefined): void {
    this.stream?.abort();
    if (err === undefined) {
      this.stream = undefined;
      clearTimeout(this.checkTimer);
      this.connect();
    } else {
      this.broken(err);
    }
  }

  private broken(err: Error): void {
    if (this.stopped) return;
    this.stream?.abort();
    this.stream = undefined;
    clearTimeout(this.checkTimer);
    this.checkAbort?.abort();
    if (err instanceof EtcdApiError && err.authProblem) this.http.dropToken();
    this.onError?.(err);
    const delay = backoffMs(this.failures + 1);
    this.failures++;
    if (this.retryTimer === undefined && !this.stopped) this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  private scheduleCheck(handle: StreamHandle): void {
    clearTimeout(this.checkTimer);
    this.checkTimer = setTimeout(() => {
      if (this.stopped || this.stream !== handle) return;
      const abort = new AbortController();
      this.checkAbort = abort;
      this.http.callOne(handle.endpoint, "/v3/kv/range", { key: b64(this.prefix), count_only: true }, abort.signal).then(
        () => {
          if (this.stream === handle) this.scheduleCheck(handle);
        },
        (err: unknown) => {
          if (this.stream !== handle || abort.signal.aborted) return;
          // Only "this member does not answer" means the stream is dead; other errors are not its fault.
          if (err instanceof EtcdApiError && !err.endpointProblem) return this.scheduleCheck(handle);
          this.http.markFailed(handle.endpoint);
          this.broken(new Error(`etcd watch endpoint ${handle.endpoint} stopped answering: ${(err as Error).message}`));
        },
      );
    }, this.checkIntervalMs);
  }
}
