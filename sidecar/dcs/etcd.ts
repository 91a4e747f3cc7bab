/**
 * `Dcs` over a real etcd cluster through its v3 gRPC-JSON gateway (`/v3/...`, served by etcd 3.4,
 * 3.5 and 3.6). Keys and values travel base64-encoded; int64s (revisions, lease ids, TTLs) come back
 * as JSON strings and lease ids stay strings here (they exceed 2^53).
 */
import { EtcdApiError, EtcdHttp, parseEtcdError, type EtcdHttpOptions } from "./etcd-http";
import { EtcdWatch, b64, unb64 } from "./etcd-watch";
import { KvDcs, prefixRangeEnd, type RangeResult, type TxnCompare, type TxnOp, type TxnResult } from "./kv-dcs";
import type { RawKv } from "./snapshot";
import { DcsUnavailableError, LeaseLostError, type WatchEvent } from "./types";

export interface EtcdDcsOptions extends EtcdHttpOptions {
  /** Cluster prefix, `/<namespace>/<cluster>/` (see clusterPrefix). */
  prefix: string;
}

interface GwHeader {
  revision?: string;
}
interface GwKv {
  key?: string;
  value?: string;
  lease?: string;
  mod_revision?: string;
}

const LEASE_NOT_FOUND = /requested lease not found/;

export class EtcdDcs extends KvDcs {
  private readonly http: EtcdHttp;
  private readonly watches = new Set<EtcdWatch>();

  constructor(opts: EtcdDcsOptions) {
    super(opts.prefix);
    if (!(opts.timeoutMs > 0)) throw new Error(`etcd timeoutMs must be positive (got ${opts.timeoutMs})`);
    this.http = new EtcdHttp(opts);
  }

  /** New client URLs (../topology/keeper.ts); true when they differ from the current ones. */
  setEndpoints(urls: string[]): boolean {
    return this.http.setEndpoints(urls);
  }

  /** The client URLs in use. */
  get endpoints(): string[] {
    return this.http.endpoints.map((u) => u.origin);
  }

  /** The endpoint calls go to first: the last one that answered. */
  get currentEndpoint(): string {
    return this.http.currentEndpoint;
  }

  protected async rangePrefix(): Promise<RangeResult> {
    // serializable defaults to false: a linearizable read, answered only through the raft leader.
    const res = await this.http.call<{ header?: GwHeader; kvs?: GwKv[] }>("/v3/kv/range", {
      key: b64(this.prefix),
      range_end: b64(prefixRangeEnd(this.prefix)),
    });
    return {
      revision: Number(res.header?.revision ?? 0),
      kvs: (res.kvs ?? []).map(rawKv),
    };
  }

  protected async txn(compares: TxnCompare[], ops: TxnOp[]): Promise<TxnResult> {
    const leaseOf = ops.find((op) => op.type === "put" && op.lease !== undefined && op.lease !== "0");
    try {
      // Unconditional single writes go to the plain put/delete endpoints; everything else is a txn.
      if (compares.length === 0 && ops.length === 1) {
        const op = ops[0];
        if (op.type === "put") await this.http.call("/v3/kv/put", putRequest(op));
        else await this.http.call("/v3/kv/deleterange", { key: b64(op.key) });
        return { succeeded: true };
      }
      const res = await this.http.call<{ succeeded?: boolean; responses?: { response_range?: { kvs?: GwKv[] } }[] }>("/v3/kv/txn", {
        compare: compares.map(compareRequest),
        success: ops.map((op) => (op.type === "put" ? { request_put: putRequest(op) } : { request_delete_range: { key: b64(op.key) } })),
        failure: compares.length > 0 ? [{ request_range: { key: b64(compares[0].key) } }] : [],
      });
      if (res.succeeded === true) return { succeeded: true };
      const current = res.responses?.[0]?.response_range?.kvs?.[0];
      return { succeeded: false, current: current && rawKv(current) };
    } catch (err) {
      if (leaseOf?.type === "put" && err instanceof EtcdApiError && LEASE_NOT_FOUND.test(err.etcdMessage)) {
        throw new LeaseLostError(leaseOf.lease ?? "0");
      }
      throw err;
    }
  }

  async grantLease(ttlSeconds: number): Promise<string> {
    // ID 0: etcd picks the id.
    const res = await this.http.call<{ ID?: string; TTL?: string; error?: string }>("/v3/lease/grant", {
      TTL: String(Math.ceil(ttlSeconds)),
      ID: "0",
    });
    if (!res.ID || res.error) throw new Error(`etcd did not grant a lease: ${res.error ?? "no ID in the answer"}`);
    return res.ID;
  }

  async keepAlive(leaseId: string): Promise<number> {
    // A streaming RPC through the gateway: one request line in, one {"result": ...} line out.
    const res = await this.http.call<{ result?: { ID?: string; TTL?: string }; error?: unknown }>("/v3/lease/keepalive", { ID: leaseId });
    if (res.error !== undefined) {
      const err = parseEtcdError(200, JSON.stringify(res));
      throw err.endpointProblem ? new DcsUnavailableError(`etcd lease keepalive: ${err.etcdMessage}`) : err;
    }
    const ttl = Number(res.result?.TTL ?? 0);
    if (!(ttl > 0)) throw new LeaseLostError(leaseId);
    return ttl;
  }

  async revokeLease(leaseId: string): Promise<void> {
    try {
      await this.http.call("/v3/lease/revoke", { ID: leaseId });
    } catch (err) {
      if (err instanceof EtcdApiError && LEASE_NOT_FOUND.test(err.etcdMessage)) return; // already gone: idempotent
      throw err;
    }
  }

  /**
   * Events carry the full etcd key and the revision of the change. fromRevision 0 means "from now".
   * Delivery is asynchronous (as the stream delivers); after compaction onError says so and the
   * watch continues from the current revision.
   */
  watch(fromRevision: number, onEvent: (e: WatchEvent) => void, onError?: (err: Error) => void): () => void {
    const watch = new EtcdWatch(this.http, this.prefix, fromRevision, onEvent, onError);
    this.watches.add(watch);
    return () => {
      watch.stop();
      this.watches.delete(watch);
    };
  }

  async close(): Promise<void> {
    for (const watch of this.watches) watch.stop();
    this.watches.clear();
    this.http.close();
  }
}

function rawKv(kv: GwKv): RawKv {
  return { key: unb64(kv.key), value: unb64(kv.value), lease: kv.lease ?? "0", modRevision: Number(kv.mod_revision ?? 0) };
}

function putRequest(op: Extract<TxnOp, { type: "put" }>): Record<string, string> {
  const req: Record<string, string> = { key: b64(op.key), value: b64(op.value) };
  if (op.lease !== undefined && op.lease !== "0") req.lease = op.lease;
  return req;
}

function compareRequest(c: TxnCompare): Record<string, string> {
  if ("absent" in c) return { key: b64(c.key), target: "CREATE", result: "EQUAL", create_revision: "0" };
  if ("modRevision" in c) return { key: b64(c.key), target: "MOD", result: "EQUAL", mod_revision: String(c.modRevision) };
  return { key: b64(c.key), target: "VALUE", result: "EQUAL", value: b64(c.valueEquals) };
}
