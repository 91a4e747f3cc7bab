/**
 * The part of a `Dcs` that is the same for real etcd and the in-memory fake: which key each method
 * touches and under which compare. Subclasses provide four etcd primitives (range over the prefix,
 * txn, leases, watch); the key layout and the transaction of each method live only here, so
 * `EtcdDcs` and `MemoryDcs` cannot drift apart.
 */
import { buildSnapshot, isValidMemberName, memberDataSchema, type RawKv } from "./snapshot";
import {
  KEYS,
  type BackupClaim,
  type ClusterSnapshot,
  type Dcs,
  type FailoverRequest,
  type HistoryLine,
  type MemberData,
  type WatchEvent,
} from "./types";
import type { RollState } from "./roll-state";
import { hostReportSchema, type HostReport } from "../contract/topology";

/** etcd compares used here: "key absent" (create_revision == 0), "value equals" and "mod revision equals". */
export type TxnCompare = { key: string; absent: true } | { key: string; valueEquals: string } | { key: string; modRevision: number };

/** lease undefined or "0": the key is not bound to a lease. */
export type TxnOp = { type: "put"; key: string; value: string; lease?: string } | { type: "delete"; key: string };

/** current: when the compares failed, the key of the first compare as it is now (undefined: absent). */
export interface TxnResult {
  succeeded: boolean;
  current?: RawKv;
}

export interface RangeResult {
  revision: number;
  kvs: RawKv[];
}

/** End of the etcd range covering every key that starts with `prefix`: the prefix with its last byte + 1. */
export function prefixRangeEnd(prefix: string): Buffer {
  const end = Buffer.from(prefix, "utf8");
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]); // prefix of all 0xff bytes: etcd's "to the end of the key space"
}

export function memberKey(prefix: string, name: string): string {
  return `${prefix}${KEYS.members}${name}`;
}

export abstract class KvDcs implements Dcs {
  protected constructor(readonly prefix: string) {
    if (!prefix.startsWith("/") || !prefix.endsWith("/")) {
      throw new Error(`DCS prefix must start and end with "/", e.g. /service/main/ (got "${prefix}")`);
    }
  }

  /** One linearizable range read of the whole prefix. */
  protected abstract rangePrefix(): Promise<RangeResult>;
  /**
   * One atomic transaction: when every compare holds, apply ops; otherwise read the first compare's
   * key in the same transaction. Rejects LeaseLostError when a put names a lease that does not exist.
   */
  protected abstract txn(compares: TxnCompare[], ops: TxnOp[]): Promise<TxnResult>;

  private async succeeded(compares: TxnCompare[], ops: TxnOp[]): Promise<boolean> {
    return (await this.txn(compares, ops)).succeeded;
  }

  abstract grantLease(ttlSeconds: number): Promise<string>;
  abstract keepAlive(leaseId: string): Promise<number>;
  abstract revokeLease(leaseId: string): Promise<void>;
  abstract watch(fromRevision: number, onEvent: (e: WatchEvent) => void, onError?: (err: Error) => void): () => void;
  abstract close(): Promise<void>;

  protected key(name: string): string {
    return this.prefix + name;
  }

  async load(): Promise<ClusterSnapshot> {
    const result = await this.rangePrefix();
    return buildSnapshot(this.prefix, result.kvs, result.revision);
  }

  async putMember(name: string, data: MemberData, leaseId: string): Promise<void> {
    if (!isValidMemberName(name)) throw new Error(`invalid member name "${name}": must be non-empty, without "/" or spaces around`);
    // Validate before writing: other members would list a bad value as corrupt and ignore us.
    const parsed = memberDataSchema.safeParse(data);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => `${i.path.join(".") || "data"}: ${i.message}`).join("; ");
      throw new Error(`refusing to publish invalid member data for "${name}": ${issues}`);
    }
    await this.txn([], [{ type: "put", key: memberKey(this.prefix, name), value: JSON.stringify(data), lease: leaseId }]);
  }

  async attemptAcquireLeader(name: string, leaseId: string): Promise<boolean> {
    const key = this.key(KEYS.leader);
    const result = await this.txn(
      [{ key, absent: true }],
      [
        { type: "put", key, value: name, lease: leaseId },
        { type: "delete", key: this.key(KEYS.handover) },
      ],
    );
    // A retry (on another endpoint, after our first attempt's answer was lost) finds the key we
    // created: lease ids are unique, so name + our lease means we hold it.
    return result.succeeded || (result.current?.value === name && result.current.lease === leaseId);
  }

  attemptUpdateLeader(name: string, leaseId: string): Promise<boolean> {
    const key = this.key(KEYS.leader);
    return this.succeeded([{ key, valueEquals: name }], [{ type: "put", key, value: name, lease: leaseId }]);
  }

  releaseLeader(name: string, to?: string): Promise<boolean> {
    const key = this.key(KEYS.leader);
    const handover: TxnOp[] =
      to === undefined ? [] : [{ type: "put", key: this.key(KEYS.handover), value: JSON.stringify({ from: name, to }) }];
    return this.succeeded([{ key, valueEquals: name }], [{ type: "delete", key }, ...handover]);
  }

  attemptWriteSync(leader: string, standbys: string[], quorum?: number): Promise<boolean> {
    const value = JSON.stringify({
      leader,
      sync_standby: standbys.length ? standbys.join(",") : null,
      ...(quorum === undefined ? {} : { quorum }),
    });
    return this.succeeded([{ key: this.key(KEYS.leader), valueEquals: leader }], [{ type: "put", key: this.key(KEYS.sync), value }]);
  }

  attemptWriteFailsafe(leader: string, members: Record<string, string> | undefined): Promise<boolean> {
    const key = this.key(KEYS.failsafe);
    const op: TxnOp = members === undefined ? { type: "delete", key } : { type: "put", key, value: JSON.stringify(members) };
    return this.succeeded([{ key: this.key(KEYS.leader), valueEquals: leader }], [op]);
  }

  attemptInitialize(value: string): Promise<boolean> {
    const key = this.key(KEYS.initialize);
    return this.succeeded([{ key, absent: true }], [{ type: "put", key, value }]);
  }

  finishInitialize(expected: string, systemId: string): Promise<boolean> {
    const key = this.key(KEYS.initialize);
    return this.succeeded([{ key, valueEquals: expected }], [{ type: "put", key, value: systemId }]);
  }

  cancelInitialize(expected: string): Promise<boolean> {
    const key = this.key(KEYS.initialize);
    return this.succeeded([{ key, valueEquals: expected }], [{ type: "delete", key }]);
  }

  async putLeaderOptime(lsn: number): Promise<void> {
    if (!Number.isSafeInteger(lsn) || lsn < 0) throw new Error(`leader optime must be a non-negative integer (got ${lsn})`);
    await this.txn([], [{ type: "put", key: this.key(KEYS.status), value: JSON.stringify({ optime: lsn }) }]);
  }

  attemptWriteHistory(leader: string, lines: HistoryLine[]): Promise<boolean> {
    return this.succeeded(
      [{ key: this.key(KEYS.leader), valueEquals: leader }],
      [{ type: "put", key: this.key(KEYS.history), value: JSON.stringify(lines) }],
    );
  }

  async putFailover(request: FailoverRequest | undefined): Promise<void> {
    const key = this.key(KEYS.failover);
    await this.txn([], [request === undefined ? { type: "delete", key } : { type: "put", key, value: JSON.stringify(request) }]);
  }

  attemptWriteConfig(config: Record<string, unknown>, expected: number | undefined): Promise<boolean> {
    const key = this.key(KEYS.config);
    const compare: TxnCompare = expected === undefined ? { key, absent: true } : { key, modRevision: expected };
    return this.succeeded([compare], [{ type: "put", key, value: JSON.stringify(config) }]);
  }

  attemptCreateFailover(request: FailoverRequest): Promise<boolean> {
    const key = this.key(KEYS.failover);
    return this.succeeded([{ key, absent: true }], [{ type: "put", key, value: JSON.stringify(request) }]);
  }

  attemptPutBackup(expectedRaw: string | undefined, claim: BackupClaim): Promise<boolean> {
    const key = this.key(KEYS.backup);
    const compare: TxnCompare = expectedRaw === undefined ? { key, absent: true } : { key, valueEquals: expectedRaw };
    return this.succeeded([compare], [{ type: "put", key, value: JSON.stringify(claim) }]);
  }

  async putHostReport(name: string, report: HostReport): Promise<void> {
    if (!isValidMemberName(name)) throw new Error(`invalid host name "${name}"`);
    const parsed = hostReportSchema.parse(report);
    await this.txn([], [{ type: "put", key: this.key(KEYS.hosts + name), value: JSON.stringify(parsed) }]);
  }

  attemptWriteRoll(expectedRaw: string | undefined, state: RollState | undefined): Promise<boolean> {
    const key = this.key(KEYS.roll);
    const compare: TxnCompare = expectedRaw === undefined ? { key, absent: true } : { key, valueEquals: expectedRaw };
    const op: TxnOp = state === undefined ? { type: "delete", key } : { type: "put", key, value: JSON.stringify(state) };
    return this.succeeded([compare], [op]);
  }

  async deleteHostKeys(name: string): Promise<void> {
    if (!isValidMemberName(name)) throw new Error(`invalid host name "${name}"`);
    await this.txn([], [{ type: "delete", key: memberKey(this.prefix, name) }]);
    await this.txn([], [{ type: "delete", key: this.key(KEYS.hosts + name) }]);
  }
}
