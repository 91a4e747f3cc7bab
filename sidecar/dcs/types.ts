/**
 * The distributed configuration store (etcd) as the agent sees it: a narrow interface with written
 * contracts. `EtcdDcs` implements it over etcd's v3 JSON gateway; `MemoryDcs` (test/helpers/memory-dcs.ts)
 * is the in-memory fake used by the simulated cluster. Keys live under `/<namespace>/<cluster>/`:
 *
 *   initialize        system identifier of the cluster ("" while the first bootstrap is in progress)
 *   config            dynamic config (JSON)               — not leased
 *   leader            member name of the leader           — bound to the leader's lease
 *   status            {"optime": <leader LSN>}            — last position the leader published
 *   members/<name>    MemberData (JSON)                   — bound to that member's lease
 *   sync              {"leader","sync_standby"}           — synchronous mode (later)
 *   failover          switchover/failover request (JSON)
 *   history           timeline history (JSON)
 *   failsafe          {"<member>": "<api_url>", ...}   — failsafe mode: who may race, whom the leader asks
 *   handover          {"from","to"}: the last holder released the leader key to `to` (a switchover) — every acquire deletes it
 *   backup            the backup slot last claimed (JSON, BackupClaim) — one member per slot
 *   hosts/<name>      HostReport: the revision and instance a host last booted — not leased
 *   roll              RollState: the host being replaced (sidecar/roll/state.ts) — not leased
 */

/** One line of the `history` key (ha/history.ts keeps it): [timeline, switch LSN (bytes), reason, ISO time of the promotion, member promoted]; the last two only where known. */
export type HistoryLine = [number, number, ...string[]];
import type { RollState } from "./roll-state";
import type { HostReport } from "../contract/topology";

/** What a member publishes about itself. Field names follow Patroni's member key where the meaning is the same. */
export interface MemberData {
  /** postgres://host:port/postgres — no credentials. */
  conn_url: string;
  /** http://host:port/patroni */
  api_url: string;
  /** PostgreSQL process state: "running", "starting", "stopped", "stopping", "creating replica", "crashed"... */
  state: string;
  /** standby_leader: the leader of a standby cluster (Patroni's), in recovery, following another cluster. */
  role: "primary" | "replica" | "standby_leader" | "uninitialized" | "demoted";
  /** Write position (primary) or received position (replica), in bytes. */
  xlog_location?: number;
  timeline?: number;
  /** Replica only: "streaming" when the WAL receiver is connected. */
  replication_state?: string;
  /** Primary only: its timeline history, [timeline, switch LSN] per earlier timeline (replicas check they have not diverged). */
  history?: [number, number][];
  tags: { nofailover: boolean; noloadbalance: boolean; failover_priority: number };
  version: string;
  /** Maintenance mode is on (Patroni's field: present only while paused). */
  pause?: boolean;
  /** A changed PostgreSQL parameter waits for a restart (Patroni's field: present only when true). */
  pending_restart?: boolean;
  /** This member's pgBackRest TLS server, present while it runs (backups taken on a replica: sidecar/backup/standby.ts). */
  pgbackrest?: BackupServerAdvert;
  /** A standby leader only (ours): how far it is behind the source cluster (./../ha/member.ts sourceLag). */
  source_lag?: SourceLag;
}

/** A standby leader's lag behind its source: bytes (streaming only) and seconds. */
export interface SourceLag {
  /** The source's end of WAL as its last message said (absent archive-only: the source is not asked). */
  source_lsn?: number;
  bytes?: number;
  seconds?: number;
  streaming: boolean;
}

/** What another member's pgBackRest needs to reach this member's PostgreSQL through its TLS server. */
export interface BackupServerAdvert {
  host: string;
  port: number;
  pg_path: string;
  pg_port: number;
  pg_socket_path: string;
  /** A replica only: the leader whose TLS server it reached last (it can take backups from standby while that one leads). */
  reaches?: string;
}

export interface Member {
  name: string;
  data: MemberData;
  /** etcd lease the key is bound to (decimal string). */
  leaseId: string;
  modRevision: number;
}

export interface LeaderKey {
  name: string;
  leaseId: string;
  modRevision: number;
}

/** The `failover` key as Patroni writes it: {leader, member, scheduled_at}; `candidate` is read too. */
export interface FailoverRequest {
  leader?: string;
  /** The member to hand over to (Patroni's field name). */
  member?: string;
  candidate?: string;
  /** ISO time at which a scheduled switchover should happen. */
  scheduled_at?: string;
}

/**
 * The `handover` key: `from`, the last holder of the leader key, released it to `to` (a switchover,
 * PostgreSQL stopped at the checkpoint `to` received), in the transaction that deleted the key. Every
 * acquire of the leader key deletes it in its own transaction, so while it exists nobody has held the
 * key since `from` released it.
 */
export interface HandOverKey {
  from: string;
  to: string;
}

/**
 * The synchronous-replication state (Patroni's /sync key): the leader that wrote it and the standbys
 * that may hold acknowledged commits the others lack. In synchronous mode only these (or the leader)
 * may be promoted. Stored as {"leader": "a", "sync_standby": "b,c"} like Patroni 3.
 */
export interface SyncState {
  leader: string;
  standbys: string[];
  /**
   * Quorum commit (Patroni 4's `quorum` field): how many of the other `standbys` a standby must see
   * before it may promote. Absent: the key of synchronous mode "on"/"strict" (each listed standby alone).
   */
  quorum?: number;
  modRevision: number;
}

/**
 * The `backup` key: the backup slot last claimed and by whom (sidecar/backup/schedule.ts). A slot is
 * a schedule time ("2026-11-29T01:00Z"), "initial" (the first full backup after bootstrap) or
 * "manual:<time>" (`hapg backup`). Claimed with a transaction on the previous value.
 */
export interface BackupClaim {
  slot: string;
  type: "full" | "diff" | "incr";
  member: string;
  state: "running" | "done" | "failed";
  /** ISO times. */
  started: string;
  finished?: string;
  error?: string;
  /** The last schedule slot (ISO minute) claimed: a scheduled slot is due only when later than this. */
  lastSlot?: string;
  /** The backup's label in the repository, once done. */
  label?: string;
}

/** One consistent read of the whole cluster prefix (a single etcd range request at one revision). */
export interface ClusterSnapshot {
  revision: number;
  /** undefined: key absent; "": bootstrap in progress; otherwise the system identifier. */
  initialize?: string;
  leader?: LeaderKey;
  /** Last WAL position the leader published (status key). */
  leaderOptime?: number;
  members: Member[];
  failover?: FailoverRequest;
  /** The handover key (a switchover's release, until the next acquire). */
  handover?: HandOverKey;
  sync?: SyncState;
  config?: Record<string, unknown>;
  /** The failsafe key: member name → API URL, as the leader last wrote it (Patroni's /failsafe layout). */
  failsafe?: Record<string, string>;
  /** The `history` key (Patroni's lines: timeline, switch LSN, reason, time, new leader). */
  history?: HistoryLine[];
  /** The config key's mod revision (also when its value is corrupt); undefined: absent. Writes compare on it. */
  configModRevision?: number;
  /** The backup key, parsed, and its raw value (what a claim compares against). */
  backup?: { claim: BackupClaim; raw: string };
  /**
   * Keys whose values could not be parsed, with the reason. The snapshot treats them as absent
   * (a corrupt member key is not a member; a corrupt leader key is still a leader key, by name).
   */
  corrupt: { key: string; reason: string }[];
  /** The `hosts/<name>` keys: what each host last booted (absent in snapshots built by hand: none). */
  hosts?: Record<string, HostReport>;
  /** The `roll` key, parsed, and its raw value (what a write compares against). */
  roll?: { state: RollState; raw: string };
}

export type WatchEvent = { type: "put" | "delete"; key: string; revision: number };

/**
 * Contracts (every method):
 * - Each call finishes or rejects within `timeoutMs` given at construction (retryTimeout): a call
 *   that did not finish in time rejects with DcsUnavailableError and may or may not have happened.
 * - Methods named attempt… and release… are single etcd transactions: atomic, linearizable.
 * - `load` is one linearizable range read: the snapshot is consistent at `revision`.
 * - Lease ids are decimal strings (etcd ids are 64-bit).
 */
export interface Dcs {
  /** Read the whole cluster prefix at one revision. */
  load(): Promise<ClusterSnapshot>;

  /** Grant a new lease of ttlSeconds. */
  grantLease(ttlSeconds: number): Promise<string>;
  /** Renew the lease once; resolves with the TTL etcd granted; rejects LeaseLostError if it expired. */
  keepAlive(leaseId: string): Promise<number>;
  /** Revoke the lease; every key bound to it is deleted at once. Idempotent. */
  revokeLease(leaseId: string): Promise<void>;

  /** Put members/<name> bound to leaseId. */
  putMember(name: string, data: MemberData, leaseId: string): Promise<void>;

  /** Create the leader key = name bound to leaseId, only if absent, deleting the handover key in the same transaction. True when we now hold it. */
  attemptAcquireLeader(name: string, leaseId: string): Promise<boolean>;
  /**
   * Rebind the leader key to leaseId only if its value is still `name` (after a lease was lost and
   * re-granted while the key survived). True when the key is ours afterwards.
   */
  attemptUpdateLeader(name: string, leaseId: string): Promise<boolean>;
  /**
   * Delete the leader key only if its value is `name`; with `to` (a switchover's candidate), write the
   * handover key {from: name, to} in the same transaction. True when deleted.
   */
  releaseLeader(name: string, to?: string): Promise<boolean>;

  /** Create the initialize key with `value` only if absent. True when we created it. */
  attemptInitialize(value: string): Promise<boolean>;
  /** Set the initialize key to the system identifier, only if its current value is `expected`. */
  finishInitialize(expected: string, systemId: string): Promise<boolean>;
  /** Delete the initialize key only if its value is `expected` (bootstrap failed). */
  cancelInitialize(expected: string): Promise<boolean>;

  /** Publish the leader's WAL position (status key, not leased). */
  putLeaderOptime(lsn: number): Promise<void>;
  /** Write the timeline history (history key, not leased), only while the leader key's value is `leader`. True when written. */
  attemptWriteHistory(leader: string, lines: HistoryLine[]): Promise<boolean>;
  /**
   * Write the sync key, only while the leader key's value is `leader` (only the leader decides who is
   * synchronous). True when written.
   */
  attemptWriteSync(leader: string, standbys: string[], quorum?: number): Promise<boolean>;
  /**
   * Write (or delete, undefined) the failsafe key, only while the leader key's value is `leader`.
   * True when written.
   */
  attemptWriteFailsafe(leader: string, members: Record<string, string> | undefined): Promise<boolean>;
  /**
   * Write the config key only if its mod revision is still `expected` (undefined: only if absent), so two
   * concurrent edits cannot lose one. True when written.
   */
  attemptWriteConfig(config: Record<string, unknown>, expected: number | undefined): Promise<boolean>;
  /** Write or clear (undefined) the failover request key. */
  putFailover(request: FailoverRequest | undefined): Promise<void>;
  /** Create the failover key only if absent: of concurrent requests exactly one wins. True when we created it. */
  attemptCreateFailover(request: FailoverRequest): Promise<boolean>;
  /** Write the backup key only if its value is still `expectedRaw` (undefined: only if absent). True when written. */
  attemptPutBackup(expectedRaw: string | undefined, claim: BackupClaim): Promise<boolean>;

  /** Write hosts/<name> (not leased): what this host booted. */
  putHostReport(name: string, report: HostReport): Promise<void>;
  /** Write (or delete, undefined) the roll key only if its value is still `expectedRaw` (undefined: only if absent). */
  attemptWriteRoll(expectedRaw: string | undefined, state: RollState | undefined): Promise<boolean>;
  /** Delete members/<name> and hosts/<name> of a host no longer in the topology (the leader only). */
  deleteHostKeys(name: string): Promise<void>;

  /**
   * Watch the cluster prefix from `fromRevision` (exclusive of older events). `onEvent` is called for
   * each change; `onError` when the watch broke (the implementation re-establishes it by itself).
   * Returns a function that stops the watch.
   */
  watch(fromRevision: number, onEvent: (e: WatchEvent) => void, onError?: (err: Error) => void): () => void;

  close(): Promise<void>;
}

export class DcsUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DcsUnavailableError";
  }
}

export class LeaseLostError extends Error {
  constructor(leaseId: string) {
    super(`etcd lease ${leaseId} has expired or was revoked`);
    this.name = "LeaseLostError";
  }
}

/** Key names relative to the cluster prefix. */
export const KEYS = {
  initialize: "initialize",
  config: "config",
  leader: "leader",
  status: "status",
  members: "members/",
  sync: "sync",
  failover: "failover",
  history: "history",
  failsafe: "failsafe",
  handover: "handover",
  backup: "backup",
  hosts: "hosts/",
  roll: "roll",
} as const;

export function clusterPrefix(namespace: string, cluster: string): string {
  return `/${namespace}/${cluster}/`;
}
