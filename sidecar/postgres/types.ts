/** What the agent knows about the local PostgreSQL: the data directory on disk and the running server. */

export interface HostPort {
  host: string;
  port: number;
}

/** From pg_controldata and the files in the data directory; available whether or not PostgreSQL runs. */
export interface DataDirInfo {
  /** PG_VERSION exists: initdb or a base backup completed. */
  initialized: boolean;
  systemId?: string;
  /** pg_controldata "Database cluster state": "in production", "shut down", "shut down in recovery", "in archive recovery", "in crash recovery"... */
  clusterState?: string;
  /** Timeline of the latest checkpoint. */
  timeline?: number;
  /** Latest checkpoint location, bytes. */
  checkpointLsn?: number;
  /** standby.signal present: the server starts (or started) as a replica. */
  standbySignal: boolean;
  /** A former primary started read-only and not rewound since: it may have diverged from the next leader. */
  formerPrimary?: boolean;
}

/**
 * What the process is doing beyond the live status, as its one owner (PostgresOwner) reports it:
 * a command in progress (starting, stopping, bootstrapping, creating replica, rewinding), how it
 * last ended (crashed, fenced), or settled by the last status read (running, stopped).
 */
export type PgProcessState =
  | "stopped"
  | "starting"
  | "running"
  | "stopping"
  | "restarting"
  | "crashed"
  | "bootstrapping"
  | "restoring"
  | "creating replica"
  | "rewinding"
  | "fenced";

/** An operator's command on this member (POST /restart, POST /reinitialize) while it runs. */
export type PgOperation = "restart" | "reinitialize";

/** How a requested restart ended: running again, or left stopped because it may not come back as primary. */
export type RestartResult = "running" | "stopped";

/** After a reload: whether a changed parameter waits for a restart (undefined: PostgreSQL was not running). */
export interface ReloadResult {
  pendingRestart?: boolean;
}

export interface RestartOptions {
  /** Seconds the restarted server may take to accept connections (crash recovery may be long). */
  timeoutS?: number;
  /**
   * Asked after the stop, before a former primary starts again: true only while this member still
   * holds the leader key under a valid lease. False: the server stays stopped and the HA loop decides.
   */
  mayStartPrimary: () => boolean;
}

/** The leader's timeline and its history ([parent timeline, switch LSN] per line), as its member key publishes them. */
export interface LeaderTimeline {
  timeline: number;
  history: [number, number][];
}

/** How a pg_rewind ended: rewound, failed (fall back to a base backup), or the source did not answer (retry). */
export type RewindResult = "done" | "failed" | "unreachable";

/** A live view of the server, read over one local connection. */
export interface PgStatus {
  /** A postmaster is alive and accepts connections. */
  running: boolean;
  /** Postmaster process id (first line of postmaster.pid) when one is alive. */
  pid?: number;
  /** true: replica (pg_is_in_recovery), false: primary. Undefined when not running. */
  inRecovery?: boolean;
  timeline?: number;
  /** Primary: pg_current_wal_lsn. Replica: the greater of received and replayed. Bytes. */
  lsn?: number;
  receiveLsn?: number;
  replayLsn?: number;
  /** Replica: the timeline of the last replayed record (from its WAL segment names). */
  replayTimeline?: number;
  /** Replica: the WAL receiver is streaming. */
  streaming?: boolean;
  /** Replica: the upstream's end of WAL when it last sent (pg_stat_wal_receiver.latest_end_lsn). */
  upstreamEndLsn?: number;
  /** Replica: seconds since the commit time of the last replayed transaction. */
  replayAgeS?: number;
  /** Replica: host/port from the WAL receiver or primary_conninfo. */
  upstream?: HostPort;
  systemId?: string;
  serverVersion?: number;
  postmasterStartTime?: string;
  /** Primary: its timeline history file (every earlier timeline and where it ended). */
  history?: { timeline: number; switchLsn: number; reason?: string }[];
  /** Primary: synchronous_standby_names in effect (after the last reload). */
  synchronousStandbyNames?: string;
  /** A changed parameter waits for a restart (pg_settings.pending_restart of any row). */
  pendingRestart?: boolean;
  /** Primary: connected standbys (pg_stat_replication). */
  replication?: { application_name: string; client_addr: string | null; state: string; sync_state: string; replay_lsn?: number }[];
}

/**
 * The engine behind the one owner of PostgreSQL (PostgresOwner, which the HA driver talks to and
 * which alone keeps the process state): PostgresManager on a node, a model in the simulated
 * cluster. Commands are serialised by the engine, except `fence`, which must not wait behind
 * anything: it is the leader's last line of defence before its lease expires.
 */
export interface PostgresControl {
  dataDirInfo(): Promise<DataDirInfo>;
  status(): Promise<PgStatus>;
  onUnexpectedExit(cb: (code: number | null, signal: NodeJS.Signals | null) => void): void;
  adopt(): Promise<boolean>;
  /** initdb, configure, start as primary, create the replication role; returns the system identifier. */
  bootstrap(): Promise<string>;
  /** Restores bootstrap.fromBackup to its target, promotes, configures; returns the system identifier. */
  restore(): Promise<string>;
  /** Restores the backup the cluster was restored from, as a standby that will follow the leader's timeline. */
  restoreReplica(leader: LeaderTimeline): Promise<void>;
  /** With synchronousStandbys: the wait to start with when none was set since this engine began (an agent restart). */
  startPrimary(synchronousStandbys?: string[]): Promise<void>;
  startReplica(upstream: HostPort | null): Promise<void>;
  followUpstream(upstream: HostPort | null): Promise<void>;
  /** With synchronousStandbys: in effect (FIRST 1) before pg_promote, so no commit is acknowledged without them. */
  promote(synchronousStandbys?: string[]): Promise<void>;
  stop(mode?: "smart" | "fast" | "immediate"): Promise<void>;
  fence(): Promise<void>;
  baseBackup(source: HostPort): Promise<void>;
  /** Restore the latest backup from the repository as a replica (delta); false when there is none to restore (optional). */
  restoreFromArchive?(): Promise<boolean>;
  /** "unreachable": pg_rewind could not connect to the source; nothing was changed, try again later. */
  rewind(source: HostPort): Promise<RewindResult>;
  /** The source accepts TCP connections now (checked before a base backup wipes anything). */
  answers(source: HostPort): Promise<boolean>;
  wipe(): Promise<void>;
  syncSlots(wanted: string[]): Promise<void>;
  checkpoint(): Promise<void>;
  /**
   * Primary: make commits wait for the first of these standbys, or with `count` for any `count` of
   * them (quorum commit); empty: asynchronous. Returns once in effect.
   */
  setSynchronousStandbys(names: string[], count?: number): Promise<void>;
  /** A running server: fast stop, then start again in the same role (a primary only if options.mayStartPrimary()). */
  restart(options: RestartOptions): Promise<RestartResult>;
  /** Rewrites the files the agent owns and has PostgreSQL re-read them (pg_reload_conf); no-op when stopped. */
  reload(): Promise<ReloadResult>;
  /** A replica (running or not): fast stop, empty the data directory, base backup from source, start as its replica. */
  reinitialize(source: HostPort): Promise<void>;
  /** New server parameters: written and reloaded when running (true), else used at the next start. */
  setParameters(parameters: Readonly<Record<string, string | number | boolean>>): Promise<boolean>;
  /** Parameters whose new value waits for a restart (empty when not running). */
  pendingRestartParameters(): Promise<string[]>;
}
