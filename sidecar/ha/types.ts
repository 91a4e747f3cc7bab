/**
 * Inputs and outputs of the pure HA decision (`decide`). Everything the decision may look at is in
 * `HaInput`; everything it may cause is an `Action`. The driver executes actions in order and stops
 * at the first one that fails (e.g. `acquireLeader` lost the race → `promote` is not run).
 */
import type { ClusterSnapshot } from "../dcs/types";
import type { HistoryLine } from "./history";
import type { DataDirInfo, HostPort, PgOperation, PgProcessState, PgStatus } from "../postgres/types";
import type { SynchronousMode, WatchdogMode } from "../contract/settings/schema";
import type { StandbyCluster } from "../contract/settings/standby";

export interface SelfConfig {
  name: string;
  nofailover: boolean;
  failoverPriority: number;
  maximumLagOnFailover: number;
  ttlMs: number;
  /** The leader fences itself at (last renewal sent) + ttl − fenceMargin. */
  fenceMarginMs: number;
  synchronousMode: SynchronousMode;
  /** synchronousMode "quorum": how many standbys a commit waits for (ANY k). Default 1 (settings schema). */
  synchronousQuorum?: number;
  /** Rejoin a former primary with pg_rewind (false: always a fresh base backup). */
  usePgRewind: boolean;
  /** Keep the primary writable through an etcd outage while every member confirms (./failsafe.ts). Absent: off. */
  failsafeMode?: boolean;
  /** The cluster is created from another cluster's backup (`bootstrap.fromBackup`): rows B1–B3 (./restore-rules.ts). */
  restoreFromBackup?: boolean;
  /** etcd's config has standby_cluster: this cluster follows another one (rows SB0–SB6, ./standby-rules.ts). */
  standbyCluster?: StandbyCluster;
  /**
   * The agent config's bootstrap.standbyCluster (Patroni's bootstrap.dcs.standby_cluster): until the
   * cluster exists, it must be in etcd's config key before anyone bootstraps (row SB0).
   */
  bootstrapStandby?: StandbyCluster;
}

export type { PgProcessState } from "../postgres/types";

export interface LocalState {
  dataDir: DataDirInfo;
  pg: PgStatus;
  /** As the PostgreSQL owner reports it (sidecar/postgres/owner.ts). */
  process: PgProcessState;
  /** An operator's restart or reinitialize in progress (row OP1). */
  operation?: PgOperation;
}

/** What the driver remembers between runs (owned by the driver, read-only here). */
export interface AgentMemory {
  /** The lease our member key (and, when leader, the leader key) is bound to. */
  leaseId?: string;
  /** Local monotonic ms when the last *successful* keep-alive (or grant) was sent. */
  leaseRenewSentAt?: number;
  /** Highest leader WAL position seen (status key), so a stale snapshot cannot lower the bar. */
  lastLeaderOptime?: number;
  /** We created the initialize key and our bootstrap is not finished. */
  initializing?: boolean;
  /** pg_rewind failed for this data directory: the next rejoin takes a fresh base backup instead. */
  rewindFailed?: boolean;
  /** Consecutive failed starts as a replica (e.g. a rewound data directory that still cannot follow). */
  replicaStartFailures?: number;
  /** Our WAL position right after synchronous_standby_names last changed (sync mode). */
  syncSwitchLsn?: number;
  /** Set by a clean hand-over (switchover): to whom, and the shutdown checkpoint it has received. */
  handOver?: { candidate: string; checkpointLsn: number };
  /** The leader's failsafe state (./failsafe.ts). */
  failsafe?: FailsafeMemory;
}

/** What a leader remembers of failsafe mode (owned by the driver's FailsafeKeeper; read by the decision). */
export interface FailsafeMemory {
  /** Local monotonic ms when the last round that every listed member confirmed was sent. */
  confirmedSentAt?: number;
  /**
   * Set once a round was sent: from then on, renewals extend the leader's writability only while its
   * lease is this one, the lease its leader key was last seen bound to ("" = none seen). Cleared once
   * a snapshot shows the key ours under the current lease, or the key was (re)taken.
   */
  keyLeaseId?: string;
  /** The members (name → API URL) a round must reach: the failsafe key as last read, plus any write not confirmed yet. */
  members?: Record<string, string>;
  /** A write of the failsafe key whose outcome is unknown (it timed out): its members are asked too until a write succeeds. */
  pending?: Record<string, string>;
}

/** A failsafe leader's confirmation this member gave (POST /failsafe), as the decision reads it. */
export interface FailsafeHeard {
  /** "": unknown (this agent started less than ttl ago; its previous run may have confirmed someone). */
  leader: string;
  /** Local monotonic ms when it was given: no leader race until at + ttl. */
  at: number;
}

/** A fresh view of another member, read from its REST API in this run (only when there is no leader). */
export interface PeerView {
  name: string;
  reachable: boolean;
  /** Running as primary (not in recovery). */
  isPrimary?: boolean;
  lsn?: number;
  timeline?: number;
  nofailover?: boolean;
  failoverPriority?: number;
  /** Its watchdog is required but cannot be armed: it refuses leadership, so it does not block others. */
  watchdogFailed?: boolean;
}

/** What the watchdog's owner (sidecar/watchdog/watchdog.ts) reports; the decision reads only this. */
export interface WatchdogView {
  mode: WatchdogMode;
  /** Probed at start (device, permissions, timeout) and not failed to arm since. */
  usable: boolean;
  /** Why it is not usable, for logs and reasons. */
  problem?: string;
  /** The device is open and counting down. */
  armed: boolean;
  /** While armed: local monotonic ms at which the kernel resets the machine unless petted before. */
  firesAt?: number;
  /** The reset comes at least this long before the lease can expire (docs/ha-states.md). */
  safetyMarginMs: number;
}

/** This member's lease as the lease keeper holds it (sidecar/ha/lease.ts). */
export interface LeaseState {
  leaseId?: string;
  /** Local monotonic ms when the last successful renewal (or grant) was sent. */
  renewSentAt?: number;
}

/** The side-effect owner of the watchdog device, as the driver and executor use it. */
export interface WatchdogControl {
  view(): WatchdogView;
  /**
   * Opens the device (the kernel starts counting) and pets it, bound to this lease. "late": the last
   * renewal is too old for the reset to land before its lease can expire (renew, then try again);
   * "failed": cannot be armed.
   */
  arm(lease: LeaseState): "armed" | "late" | "failed";
  /**
   * After a successful renewal: pets the armed device if it is the lease it was armed under (a new
   * lease after the old one expired holds no leader key) and the reset then still lands in time.
   */
  pet(lease: LeaseState): void;
  /** Writes the magic close character and closes: the kernel stops counting. */
  disarm(): void;
  /**
   * The leader key was (re)taken under this lease while armed (a failsafe leader whose old lease
   * expired): renewals of it pet from now on. Optional: a watchdog that is off needs none.
   */
  rebind?(lease: LeaseState): void;
}

export interface HaInput {
  now: number;
  /** Wall-clock ms since the epoch, only to compare with a scheduled switchover's time. */
  wallNow?: number;
  self: SelfConfig;
  /** undefined: etcd could not be read this run. */
  cluster?: ClusterSnapshot;
  local: LocalState;
  memory: AgentMemory;
  peers: PeerView[];
  /** Absent: no watchdog (mode off). */
  watchdog?: WatchdogView;
  /** The last confirmation this member gave a failsafe leader (absent: none). */
  failsafeHeard?: FailsafeHeard;
}

export type Action =
  | { type: "claimInitialize" }
  /** initdb; with fromBackup a restore of bootstrap.fromBackup to its target (row B1); with standby a copy of the source cluster (row SB1). */
  | { type: "bootstrap"; fromBackup?: boolean; standby?: HostPort }
  /** A replica of a restored cluster built from the source's backup; `timeline`/`history`: the leader's (row B2). */
  | { type: "restoreReplica"; leader: string; upstream: HostPort; timeline: number; history: [number, number][] }
  /** handedOverBy: the switchover's former leader released the key to us, so a confirmation we gave it binds us no more (row FS5). */
  | { type: "acquireLeader"; handedOverBy?: string }
  | { type: "updateLeader" }
  /** to: a switchover's candidate (the handover key is written with the release). */
  | { type: "releaseLeader"; to?: string }
  /** synchronousStandbys: made the wait before pg_promote, so the new primary never acknowledges a commit unplanned. */
  | { type: "promote"; synchronousStandbys?: string[] }
  /** synchronousStandbys: the wait to start with when the PostgreSQL owner remembers none (an agent that restarted). */
  | { type: "startPrimary"; synchronousStandbys?: string[] }
  | { type: "startReplica"; leader?: string; upstream?: HostPort }
  /** upstream null: an archive-only standby leader (restore_command alone, no primary_conninfo). */
  | { type: "followLeader"; leader: string; upstream: HostPort | null }
  | { type: "rewind"; leader: string; upstream: HostPort }
  | { type: "baseBackup"; leader: string; upstream: HostPort }
  | { type: "armWatchdog" }
  | { type: "disarmWatchdog" }
  | { type: "demote" }
  | { type: "fence" }
  | { type: "publishOptime"; lsn: number }
  | { type: "publishHistory"; lines: HistoryLine[] }
  | { type: "writeSync"; standbys: string[]; quorum?: number }
  | { type: "setSyncStandbys"; names: string[]; count?: number }
  | { type: "syncSlots"; members: string[] }
  | { type: "stopForHandOver"; candidate: string }
  /** A leader whose cluster became a standby cluster (row SB5): a clean stop that sends every WAL record to connected standbys, its checkpoint published. */
  | { type: "stopForStandby" }
  | { type: "awaitCandidate"; candidate: string }
  | { type: "clearFailover" }
  | { type: "writeFailsafe"; members: Record<string, string> | undefined };

/** The role the decision believes this member has after its actions, for logs and the API. */
export type HaRole = "leader" | "standby_leader" | "replica" | "candidate" | "uninitialized" | "fenced" | "unknown";

export interface Decision {
  actions: Action[];
  /** One human-readable line: why these actions (or none). */
  reason: string;
  role: HaRole;
  /**
   * Run the next loop after this many ms instead of loopWait: a leader whose sync key does not yet
   * let its standby be promoted confirms it sooner (until then a crash of the leader has nobody to
   * fail over to). Absent: loopWait.
   */
  nextLoopMs?: number;
}
