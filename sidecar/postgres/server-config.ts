/**
 * The files PostgresManager keeps in and beside the data directory for the role the server runs in
 * (postgresql.conf, pg_hba.conf, standby.signal, the pgpass file, the former-primary marker), and
 * the state they are rendered from: the server parameters, the synchronous wait, the upstream, the
 * recovery parameters of a restore. Only the manager's commands call it, one at a time (its queue).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import {
  cloneRestoreCommand,
  renderPgpass,
  renderPostgresqlConf,
  renderSynchronousStandbyNames,
  slotName,
  type ParamValue,
  type PostgresqlConfOptions,
} from "./conf";
import { formerPrimaryMarker } from "./controldata";
import { writeOwned, writeServerFiles } from "./files";
import type { PostgresManagerOptions } from "./options";
import type { HostPort } from "./types";

/** keepSyncWait: a replica about to be promoted keeps the synchronous_standby_names it must start with (not promotionWait's). */
export type Role = { primary: true } | { primary: false; upstream: HostPort | null; keepSyncWait?: boolean };

/** application_name of a standby leader towards its source cluster: `standby-cluster/<member>`. */
export const STANDBY_APPLICATION_PREFIX = "standby-cluster/";

export class ServerConfig {
  readonly passfile: string;
  readonly socketDir: string;
  /** This member's physical replication slot on its upstream. */
  readonly slot: string;
  /** The upstream we last configured (reported by status() while the WAL receiver is down). */
  upstream: HostPort | null = null;
  /** While the first member of a restored cluster replays to its target: the recovery parameters. */
  recovering?: Record<string, ParamValue>;
  /** synchronous_standby_names as the HA loop last set it (rendered into postgresql.conf on a primary). */
  private syncStandbys: string[] = [];
  /** Quorum commit: ANY syncCount of syncStandbys; undefined: the first of them. */
  private syncCount?: number;
  /** Whether this manager set a wait since it began (an agent that adopted a running primary has not). */
  private syncWaitSet = false;
  /** The server parameters in effect for the next write: the agent file's, then the dynamic config's. */
  private parameters: Readonly<Record<string, ParamValue>>;

  constructor(private readonly o: PostgresManagerOptions) {
    this.slot = slotName(o.memberName);
    this.parameters = o.parameters;
    this.passfile = o.passfile ?? `${path.resolve(o.dataDir)}.pgpass`;
    this.socketDir = o.socketDir ?? `${path.resolve(o.dataDir)}.sock`;
    // Render once up front so bad parameters fail at construction, naming the field.
    renderPostgresqlConf(this.confOptions({ primary: true }));
  }

  /** New server parameters for the next write; refused, naming the parameter, when invalid (nothing changes then). */
  setParameters(parameters: Readonly<Record<string, ParamValue>>): void {
    renderPostgresqlConf({ ...this.confOptions({ primary: true }), parameters });
    this.parameters = { ...parameters };
  }

  /** The synchronous wait for the next write of a primary's config (FIRST 1, or ANY count with count). */
  setSyncWait(names: readonly string[], count?: number): void {
    this.syncStandbys = [...names];
    this.syncCount = count;
    this.syncWaitSet = true;
  }

  get syncWaitKnown(): boolean {
    return this.syncWaitSet;
  }

  /** A wait given at start after an agent restart, unless the HA loop set one since this manager began. */
  setSyncWaitIfUnset(names: readonly string[]): void {
    if (!this.syncStandbys.length) this.setSyncWait(names);
  }

  /** synchronous_standby_names as the next write renders it. */
  renderedSyncWait(): string {
    return renderSynchronousStandbyNames(this.syncStandbys, this.syncCount);
  }

  /** postgresql.conf, pg_hba.conf, pgpass, socket dir and standby.signal for the role. */
  write(role: Role): void {
    // A standby waits for nobody whatever the setting; it carries the wait its promotion starts with
    // (synchronous modes), so that promoting it needs no reload. Once promoted, the HA loop decides.
    if (!role.primary && !role.keepSyncWait) this.setSyncWait(this.o.promotionWait?.() ?? []);
    writeServerFiles({
      conf: this.confOptions(role),
      hba: { replicationUser: this.o.replication.username, allowedCidrs: this.o.allowedCidrs },
      runAs: this.o.runAs,
    });
    this.writePassfile();
    this.upstream = role.primary ? null : role.upstream;
  }

  writePassfile(): void {
    writeOwned(this.passfile, renderPgpass([this.o.replication, this.o.superuser]), 0o600, this.o.runAs);
  }

  /** The marker of a data directory that ran as a primary and has not been rewound or rebuilt since. */
  setFormerPrimary(on: boolean): void {
    const marker = formerPrimaryMarker(this.o.dataDir);
    if (on) writeOwned(marker, "", 0o600, this.o.runAs);
    else fs.rmSync(marker, { force: true });
  }

  private confOptions(role: Role): PostgresqlConfOptions {
    return {
      dataDir: this.o.dataDir,
      socketDir: this.socketDir,
      listen: this.o.listen,
      parameters: this.parameters,
      timing: this.o.timing,
      memberName: this.o.memberName,
      synchronousStandbys: this.syncStandbys,
      synchronousCount: this.syncCount,
      archive: this.o.archive,
      recovery: this.recoveryParameters(),
      ...(role.primary ? {} : this.standbyClusterOptions(role.upstream)),
    };
  }

  /** A replica's upstream settings; in a standby cluster, the standby leader's towards the source (Patroni's standby_cluster keys). */
  private standbyClusterOptions(upstream: HostPort | null): Pick<PostgresqlConfOptions, "standby" | "standbyCluster"> {
    const base = { upstream, replicationUser: this.o.replication.username, passfile: this.passfile, slotName: this.slot };
    const s = this.o.standbyCluster?.();
    if (!s) return { standby: base };
    const toSource = upstream === null || (s.host !== undefined && upstream.host === s.host && upstream.port === s.port);
    const params: Record<string, ParamValue> = {};
    if (s.restore_command) params.restore_command = s.restore_command;
    if (toSource && s.recovery_min_apply_delay !== undefined) params.recovery_min_apply_delay = s.recovery_min_apply_delay;
    if (!toSource) return { standby: base, standbyCluster: params };
    return {
      // Never the member's name towards the source: a member of the source with the same name is in its
      // synchronous_standby_names, and this server's acknowledgements would count as that member's.
      // A member name cannot contain "/", so no member of any cluster is called this.
      standby: {
        ...base,
        slotName: s.primary_slot_name,
        readWrite: s.host?.includes(","),
        applicationName: `${STANDBY_APPLICATION_PREFIX}${this.o.memberName}`.slice(0, 63),
      },
      standbyCluster: params,
    };
  }

  /**
   * A restored cluster's restore_command: its own archive, then the source's (cloneRestoreCommand);
   * during the first member's restore, the recovery target as well.
   */
  private recoveryParameters(): Record<string, ParamValue> | undefined {
    if (this.recovering) return this.recovering;
    if (!this.o.restore) return undefined;
    return { restore_command: cloneRestoreCommand(undefined, this.o.restore.restoreCommand()) };
  }
}
