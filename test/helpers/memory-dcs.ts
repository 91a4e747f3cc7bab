/**
 * An in-memory etcd for deterministic tests: `MemoryEtcd` is the one shared store (keys with
 * create/mod revisions, leases, watchers, one global revision); `MemoryDcs` is one agent's client
 * view onto it and can be cut off with `setReachable(false)`. No real timers, no I/O.
 *
 * Time. Leases run on the injected clock (ms). Like etcd: a lease cannot be renewed once
 * clock >= expiry, but its keys are deleted only when the lessor next checks, which etcd does every
 * 500 ms; here the check points are the multiples of `leaseCheckIntervalMs` (default 500, 0 = exact),
 * so keys vanish at the first check point >= expiry, observed by `tick()` or by any call on the store
 * or a client. A lease never ends earlier than grant/renewal + TTL.
 *
 * Watches. Events are delivered synchronously, after the change is committed, inside the call that
 * caused it (a put, a txn, a revoke, or the `tick()`/call that observed a lease expiry), in revision
 * order through one queue, so a callback that writes again does not reorder events. Watching from an
 * older revision replays history synchronously inside `watch()`. A cut-off client's watches get
 * onError once and no events; when it is reachable again they resume from the last delivered
 * revision + 1, as EtcdDcs re-establishes its stream.
 */
import { KvDcs, type RangeResult, type TxnCompare, type TxnOp, type TxnResult } from "../../sidecar/dcs/kv-dcs";
import { DcsUnavailableError, LeaseLostError, type WatchEvent } from "../../sidecar/dcs/types";

export interface MemoryEtcdOptions {
  /** Lease expiry check period in ms (etcd: 500). 0: keys vanish exactly at expiry. */
  leaseCheckIntervalMs?: number;
  /** Shorter grants are raised to this (etcd: 1.5 × election timeout, 2 s with the defaults). */
  minLeaseTtlSeconds?: number;
}

interface StoredKv {
  value: string;
  createRevision: number;
  modRevision: number;
  lease: string;
}

type LoggedEvent = WatchEvent & { seq: number };

interface Lease {
  ttlSeconds: number;
  expiresAt: number;
}

export interface MemoryWatcher {
  prefix: string;
  /** Sequence number (position in the store's event log) of the next event this watcher has to receive. */
  nextSeq: number;
  onEvent: (e: WatchEvent) => void;
  onError?: (err: Error) => void;
  paused: boolean;
  stopped: boolean;
}

export class MemoryEtcd {
  private readonly kvs = new Map<string, StoredKv>();
  private readonly leases = new Map<string, Lease>();
  /** Every change in commit order; seq = position in the log, counting the ones compaction dropped. */
  private readonly history: LoggedEvent[] = [];
  private nextSeq = 0;
  private droppedSeq = 0;
  private readonly watchers = new Set<MemoryWatcher>();
  private readonly queue: { watcher: MemoryWatcher; event: LoggedEvent }[] = [];
  private delivering = false;
  private compactRevision = 0;
  private lastLeaseId = 0x1000;
  private readonly checkIntervalMs: number;
  private readonly minTtlSeconds: number;
  /** Current revision; an empty etcd starts at 1. */
  revision = 1;

  constructor(
    private readonly clock: () => number,
    opts: MemoryEtcdOptions = {},
  ) {
    this.checkIntervalMs = opts.leaseCheckIntervalMs ?? 500;
    this.minTtlSeconds = opts.minLeaseTtlSeconds ?? 2;
  }

  /** Revoke every lease whose expiry check point has passed (deleting its keys, notifying watchers). */
  tick(): void {
    const now = this.clock();
    const due = [...this.leases.entries()]
      .map(([id, lease]) => ({ id, at: this.revokeAt(lease) }))
      .filter((l) => l.at <= now)
      .sort((a, b) => a.at - b.at || Number(a.id) - Number(b.id));
    for (const { id } of due) this.revoke(id);
  }

  private revokeAt(lease: Lease): number {
    const iv = this.checkIntervalMs;
    return iv > 0 ? Math.ceil(lease.expiresAt / iv) * iv : lease.expiresAt;
  }

  /** Value of a key, or undefined (for test assertions). */
  peek(key: string): string | undefined {
    this.tick();
    return this.kvs.get(key)?.value;
  }

  /** The stored key with its metadata (for test assertions). */
  get(key: string): Readonly<StoredKv> | undefined {
    this.tick();
    const kv = this.kvs.get(key);
    return kv && { ...kv };
  }

  /** Milliseconds until the lease can no longer be renewed, undefined when it is gone. */
  leaseRemainingMs(id: string): number | undefined {
    this.tick();
    const lease = this.leases.get(id);
    return lease && lease.expiresAt - this.clock();
  }

  range(prefix: string): RangeResult {
    this.tick();
    const kvs = [...this.kvs.entries()]
      .filter(([key]) => key.startsWith(prefix))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, kv]) => ({ key, value: kv.value, lease: kv.lease, modRevision: kv.modRevision }));
    return { revision: this.revision, kvs };
  }

  /** etcd semantics: a "value equals" compare on an absent key fails; a put to a missing lease throws. */
  txn(compares: TxnCompare[], ops: TxnOp[]): TxnResult {
    this.tick();
    const holds = compares.every((c) => {
      const kv = this.kvs.get(c.key);
      if ("absent" in c) return kv === undefined;
      if ("modRevision" in c) return kv !== undefined && kv.modRevision === c.modRevision;
      return kv !== undefined && kv.value === c.valueEquals;
    });
    if (!holds) {
      const key = compares[0].key;
      const kv = this.kvs.get(key);
      return { succeeded: false, current: kv && { key, value: kv.value, lease: kv.lease, modRevision: kv.modRevision } };
    }
    for (const op of ops) {
      if (op.type === "put" && op.lease !== undefined && op.lease !== "0" && !this.leases.has(op.lease)) throw new LeaseLostError(op.lease);
    }
    const revision = this.revision + 1;
    const events: WatchEvent[] = [];
    for (const op of ops) {
      if (op.type === "put") {
        const old = this.kvs.get(op.key);
        this.kvs.set(op.key, {
          value: op.value,
          createRevision: old?.createRevision ?? revision,
          modRevision: revision,
          lease: op.lease ?? "0",
        });
        events.push({ type: "put", key: op.key, revision });
      } else if (this.kvs.delete(op.key)) {
        events.push({ type: "delete", key: op.key, revision });
      }
    }
    this.commit(events);
    return { succeeded: true };
  }

  grant(ttlSeconds: number): string {
    this.tick();
    if (!(ttlSeconds > 0)) throw new Error(`lease TTL must be positive (got ${ttlSeconds})`);
    const id = String(++this.lastLeaseId);
    const ttl = Math.max(Math.ceil(ttlSeconds), this.minTtlSeconds);
    this.leases.set(id, { ttlSeconds: ttl, expiresAt: this.clock() + ttl * 1000 });
    return id;
  }

  /** Renews from now; throws LeaseLostError when the lease expired (even if not yet revoked). */
  keepAlive(id: string): number {
    this.tick();
    const lease = this.leases.get(id);
    if (lease === undefined || this.clock() >= lease.expiresAt) throw new LeaseLostError(id);
    lease.expiresAt = this.clock() + lease.ttlSeconds * 1000;
    return lease.ttlSeconds;
  }

  /** Deletes the lease and every key bound to it in one revision. Idempotent. */
  revoke(id: string): void {
    if (!this.leases.delete(id)) return;
    const keys = [...this.kvs.entries()]
      .filter(([, kv]) => kv.lease === id)
      .map(([key]) => key)
      .sort();
    if (keys.length === 0) return;
    const revision = this.revision + 1;
    for (const key of keys) this.kvs.delete(key);
    this.commit(keys.map((key) => ({ type: "delete", key, revision })));
  }

  /** Forget history before `revision`: watches from older revisions fail as in etcd. */
  compact(revision: number): void {
    this.compactRevision = Math.max(this.compactRevision, Math.min(revision, this.revision));
    while (this.history.length > 0 && this.history[0].revision < this.compactRevision) {
      this.history.shift();
      this.droppedSeq++;
    }
  }

  private commit(events: WatchEvent[]): void {
    if (events.length === 0) return;
    this.revision = events[0].revision;
    const logged = events.map((e) => ({ ...e, seq: this.nextSeq++ }));
    this.history.push(...logged);
    for (const watcher of this.watchers) {
      for (const event of logged) if (event.key.startsWith(watcher.prefix)) this.queue.push({ watcher, event });
    }
    this.drain();
  }

  private drain(): void {
    if (this.delivering) return; // the outer drain delivers what a callback caused, in order
    this.delivering = true;
    try {
      let item;
      while ((item = this.queue.shift()) !== undefined) {
        const { watcher, event } = item;
        if (watcher.stopped || watcher.paused || event.seq < watcher.nextSeq) continue;
        watcher.nextSeq = event.seq + 1;
        watcher.onEvent({ type: event.type, key: event.key, revision: event.revision });
      }
    } finally {
      this.delivering = false;
    }
  }

  /** Registers a watcher (paused: its client is cut off) and replays history from `fromRevision`. */
  addWatcher(
    prefix: string,
    fromRevision: number,
    onEvent: (e: WatchEvent) => void,
    onError: ((err: Error) => void) | undefined,
    paused: boolean,
  ): MemoryWatcher {
    this.tick();
    const watcher: MemoryWatcher = { prefix, nextSeq: this.nextSeq, onEvent, onError, paused, stopped: false };
    if (fromRevision > 0 && fromRevision < this.compactRevision)
      watcher.nextSeq = -1; // reported as compacted below
    else if (fromRevision > 0) watcher.nextSeq = this.history.find((e) => e.revision >= fromRevision)?.seq ?? this.nextSeq;
    this.watchers.add(watcher);
    if (paused) onError?.(new DcsUnavailableError("etcd unreachable: watch not established"));
    else this.catchUp(watcher);
    return watcher;
  }

  removeWatcher(watcher: MemoryWatcher): void {
    watcher.stopped = true;
    this.watchers.delete(watcher);
  }

  pauseWatcher(watcher: MemoryWatcher, err: Error): void {
    if (watcher.paused || watcher.stopped) return;
    watcher.paused = true;
    watcher.onError?.(err);
  }

  resumeWatcher(watcher: MemoryWatcher): void {
    if (!watcher.paused || watcher.stopped) return;
    watcher.paused = false;
    this.catchUp(watcher);
  }

  private catchUp(watcher: MemoryWatcher): void {
    if (watcher.nextSeq < this.droppedSeq) {
      watcher.onError?.(
        new Error(
          `etcd watch failed: history compacted up to revision ${this.compactRevision}; events in between are lost, reload and continue from now`,
        ),
      );
      watcher.nextSeq = this.nextSeq;
      return;
    }
    for (const event of this.history) {
      if (event.seq >= watcher.nextSeq && event.key.startsWith(watcher.prefix)) this.queue.push({ watcher, event });
    }
    this.drain();
  }
}

/** One agent's view of a MemoryEtcd, with the same semantics as EtcdDcs. */
export class MemoryDcs extends KvDcs {
  private reachable = true;
  private hangMs = 0;
  private readonly watchers = new Set<MemoryWatcher>();

  constructor(
    readonly store: MemoryEtcd,
    prefix: string,
    /** Waits ms on the caller's clock (a fake one in the simulation); needed for silent partitions. */
    private readonly sleep: (ms: number) => Promise<void> = () => Promise.resolve(),
  ) {
    super(prefix);
  }

  /**
   * Cut this client off from etcd (false) or reconnect it (true). Calls while cut off reject
   * DcsUnavailableError: at once (connection refused), or after o.hangMs (a partition that drops
   * packets: the client only gives up at its own timeout).
   */
  setReachable(reachable: boolean, o: { hangMs?: number } = {}): void {
    this.hangMs = o.hangMs ?? 0;
    if (this.reachable === reachable) return;
    this.reachable = reachable;
    for (const w of this.watchers) {
      if (reachable) this.store.resumeWatcher(w);
      else this.store.pauseWatcher(w, new DcsUnavailableError("etcd unreachable: watch stream broken"));
    }
  }

  get isReachable(): boolean {
    return this.reachable;
  }

  /** Runs op against the store unless cut off; store errors become rejections, as over the network. */
  private async call<T>(what: string, op: () => T): Promise<T> {
    if (!this.reachable) {
      if (this.hangMs > 0) await this.sleep(this.hangMs);
      throw new DcsUnavailableError(`etcd unreachable (simulated partition): ${what}`);
    }
    return op();
  }

  protected rangePrefix(): Promise<RangeResult> {
    return this.call("range", () => this.store.range(this.prefix));
  }

  protected txn(compares: TxnCompare[], ops: TxnOp[]): Promise<TxnResult> {
    return this.call("txn", () => this.store.txn(compares, ops));
  }

  grantLease(ttlSeconds: number): Promise<string> {
    return this.call("lease grant", () => this.store.grant(ttlSeconds));
  }

  keepAlive(leaseId: string): Promise<number> {
    return this.call("lease keepalive", () => this.store.keepAlive(leaseId));
  }

  revokeLease(leaseId: string): Promise<void> {
    return this.call("lease revoke", () => {
      this.store.tick();
      this.store.revoke(leaseId);
    });
  }

  /** fromRevision 0 = from now. Delivery is synchronous: see the file comment. */
  watch(fromRevision: number, onEvent: (e: WatchEvent) => void, onError?: (err: Error) => void): () => void {
    const watcher = this.store.addWatcher(this.prefix, fromRevision, onEvent, onError, !this.reachable);
    this.watchers.add(watcher);
    return () => {
      this.store.removeWatcher(watcher);
      this.watchers.delete(watcher);
    };
  }

  async close(): Promise<void> {
    for (const w of this.watchers) this.store.removeWatcher(w);
    this.watchers.clear();
  }
}
