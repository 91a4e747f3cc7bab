/** What a PostgresManager is given: the local server's paths, addresses, credentials and hooks. */
import type { HaTiming } from "../contract/settings/timing";
import type { StandbyCluster } from "../contract/settings/standby";
import type { ParamValue } from "./conf";
import type { Logger } from "./postmaster";
import type { RunAs } from "./process";
import type { HostPort, LeaderTimeline } from "./types";

export interface Credentials {
  username: string;
  password: string;
}

export interface PostgresManagerOptions {
  /** Directory with postgres, initdb, pg_basebackup... (findPgBinDir). */
  binDir: string;
  dataDir: string;
  listen: HostPort;
  /** How other members reach this server (not used for local connections; kept for status/logs). */
  connect: HostPort;
  parameters: Readonly<Record<string, ParamValue>>;
  /** The HA timing, resolved once from the settings (settings/timing.ts), for the parameters derived from it. */
  timing: HaTiming;
  superuser: Credentials;
  replication: Credentials;
  allowedCidrs: readonly string[];
  /** Seconds: smart → fast and fast → immediate (see Postmaster.stop). */
  stopTimeouts: { smart: number; fast: number };
  memberName: string;
  /** The postmaster's stdout/stderr are appended here. */
  logFile: string;
  /** Run every child process as this user (tests run as root; PostgreSQL refuses root). */
  runAs?: RunAs;
  log: Logger;
  /** pgpass file (0600) for replication and rewind connections; default `<dataDir>.pgpass`, outside the data dir. */
  passfile?: string;
  /** Private (0700) directory for the Unix socket; default `<dataDir>.sock`, outside the data dir (see conf.ts). */
  socketDir?: string;
  /** Seconds to wait for a started server to accept connections (crash recovery may be long). Default 300. */
  startTimeout?: number;
  /** initdb --locale. Default C.UTF-8: UTF-8 text with code-point collation, stable across glibc upgrades. */
  locale?: string;
  /** Continuous archiving parameters (archive_mode, archive_command, restore_command, archive_timeout), when backups are on. */
  archive?: Readonly<Record<string, ParamValue>>;
  /**
   * Restores the data directory from the backup repository (pgBackRest delta restore, as a standby);
   * true when done, false when there is nothing to restore from. Absent: replicas copy from the leader.
   */
  restoreFromArchive?: () => Promise<boolean>;
  /** A cluster created from another's backup (`bootstrap.fromBackup`): the restores (sidecar/restore/source.ts). */
  restore?: RestoreHooks;
  /**
   * The synchronous wait a promotion starts with in the current synchronous mode (sidecar/ha/promotion.ts),
   * read whenever a replica's config is written: a standby ignores synchronous_standby_names, so it runs
   * with that wait already loaded and its promotion needs no reload (see promote()). Absent: none.
   */
  promotionWait?: () => readonly string[] | undefined;
  /**
   * etcd's standby_cluster as the HA loop last read it (a standby cluster), read whenever a replica's
   * config is written: the standby leader follows the source with its slot and apply delay, and every
   * member reads the source's archive with its restore_command. Absent or undefined: not a standby cluster.
   */
  standbyCluster?: () => StandbyCluster | undefined;
}

/** The restores of a cluster created from a backup, as the manager runs them (RestoreSource implements them). */
export interface RestoreHooks {
  /** Restores the backup into the empty data directory; returns the recovery parameters to start with. */
  restorePrimary(): Promise<Record<string, ParamValue>>;
  /** Restores a backup from before the fork into the empty data directory, as a standby of the leader's timeline. */
  restoreReplica(leader: LeaderTimeline): Promise<void>;
  /** restore_command reading the source's archive. */
  restoreCommand(): string;
}
