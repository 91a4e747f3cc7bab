/**
 * Applies etcd's `config` key on this member, live, after every read of etcd, as the table of
 * sidecar/contract/settings/live.ts says for each setting:
 * - next loop (lag limit, synchronous mode and quorum, pause): the next decision runs on them;
 * - loop_wait: the next loop waits that long (and the lease renews at least as often), provided
 *   the profile stays valid with the lease this agent holds;
 * - agent restart (ttl, retry_timeout, failsafe_mode): each agent takes them when it starts; until
 *   then they are reported as waiting for an agent restart;
 * - PostgreSQL parameters: written and reloaded on every member; those PostgreSQL applies only at a
 *   restart are reported as pending (`pending_restart`), for the rolling restart to apply.
 * On the leader it also converges the config key to the desired document (./converge.ts), at
 * start, before a bootstrap, and every `desiredConfig.intervalSeconds`.
 * A config key the schema refuses (written with etcdctl, say) changes nothing: the member keeps the
 * last settings it accepted and reports why.
 */
import type { ClusterSnapshot, Dcs } from "../dcs/types";
import type { SelfConfig } from "../ha/types";
import type { Logger } from "../log";
import {
  dynamicFromSettings,
  effectiveSettings,
  isPausedConfig,
  problemsText,
  type DynamicProblem,
  type DynamicSettings,
} from "../contract/settings/dynamic";
import type { ParamValue } from "../contract/settings/parameters";
import type { HaSettings } from "../contract/settings/schema";
import { liveSettings, waitingForAgentRestart, type LiveSettings } from "../contract/settings/live";
import { timingProblems } from "../contract/settings/timing";
import type { StandbyCluster } from "../contract/settings/standby";
import { converge } from "./converge";
import type { DesiredSource } from "./source";

export interface DynamicDeps {
  name: string;
  /** The agent file's HA settings: the defaults the dynamic config overrides. */
  base: HaSettings;
  /** What this agent started with (its lease and etcd client): changes wait for its restart. */
  started: DynamicSettings;
  dcs: Pick<Dcs, "load" | "attemptWriteConfig">;
  pg: { setParameters(p: Readonly<Record<string, ParamValue>>): Promise<boolean>; pendingRestartParameters(): Promise<string[]> };
  log: Logger;
  /** Monotonic ms. */
  now: () => number;
  wallNow: () => number;
  desired?: DesiredSource;
  desiredIntervalMs: number;
  /** The loop wait changed: the lease keeper renews at least this often from now on. */
  onLoopWait?: (loopWaitMs: number) => void;
  /** The agent config's bootstrap.standbyCluster: written into the config key while the cluster does not exist yet. */
  standbyAtBootstrap?: StandbyCluster;
}

export interface DesiredStatus {
  source: string;
  /** When the source was last read. */
  checked_at?: string;
  /** Fields the last convergence that changed something wrote to etcd, and when (kept until the next change). */
  applied: string[];
  applied_at?: string;
  refused: DynamicProblem[];
  /** The source could not be read (the config key is left as it was). */
  error?: string;
}

/**
 * What PostgreSQL's files are written from: the parameters, and a standby cluster's restore_command,
 * slot and apply delay (a change rewrites the files and reloads, like a parameter's).
 */
function configFingerprint(s: DynamicSettings): string {
  return JSON.stringify([s.postgres.parameters, s.standbyCluster ?? null]);
}

/** After a reload, pg_settings.pending_restart is read for this many loops (the reload is asynchronous). */
const PENDING_CHECK_LOOPS = 5;
const MAX_CAS_ATTEMPTS = 5;

export class DynamicConfigApplier {
  private settings: DynamicSettings;
  private invalid?: string;
  private appliedParameters: string;
  private pending: string[] = [];
  private pendingChecks = 0;
  private lastDesiredAt?: number;
  private wasLeader = false;
  private converging?: Promise<void>;
  private paused = false;
  /** The last etcd read had no config key (Patroni's tools need one: patronictl show-config, pause --wait). */
  private configAbsent = false;
  /** bootstrap.standbyCluster is not in the config key yet and the cluster does not exist: write it. */
  private standbyKeyMissing = false;
  desiredStatus?: DesiredStatus;

  constructor(private readonly d: DynamicDeps) {
    this.settings = d.started;
    this.appliedParameters = configFingerprint(d.started);
  }

  /** The settings this member runs on now. */
  get effective(): DynamicSettings {
    return this.settings;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** After each etcd read: takes the config key's settings, or keeps the last good ones and says why. */
  observe(cluster: ClusterSnapshot | undefined): void {
    if (!cluster) return;
    this.configAbsent = cluster.configModRevision === undefined;
    this.standbyKeyMissing =
      this.d.standbyAtBootstrap !== undefined && cluster.initialize === undefined && cluster.config?.standby_cluster === undefined;
    this.paused = isPausedConfig(cluster.config);
    const r = effectiveSettings(this.d.base, cluster.config);
    if (!r.ok) {
      const why = `etcd's config key is refused (${problemsText(r.problems)}): running on the last accepted settings`;
      if (why !== this.invalid) this.d.log.warn({ problems: r.problems }, why);
      this.invalid = why;
      return;
    }
    this.invalid = undefined;
    const before = this.settings;
    this.settings = r.settings;
    if (before.timing.loopWait !== r.settings.timing.loopWait && this.loopWaitApplies()) this.d.onLoopWait?.(this.loopWaitMs());
  }

  /** The settings that apply at the next loop (the decision's, the API's rules, the promotion wait). */
  get live(): LiveSettings {
    return liveSettings(this.settings);
  }

  /** The decision's view of this member, with the next-loop settings of the dynamic config. */
  self(base: SelfConfig): SelfConfig {
    return { ...base, ...this.live, ...(this.d.standbyAtBootstrap ? { bootstrapStandby: this.d.standbyAtBootstrap } : {}) };
  }

  loopWaitMs(): number {
    const s = this.loopWaitApplies() ? this.settings : this.d.started;
    return Math.round(s.timing.loopWait * 1000);
  }

  /** A new loop_wait must keep the profile valid with the ttl and retry_timeout this agent runs on. */
  private loopWaitApplies(): boolean {
    const { ttl, retryTimeout } = this.d.started.timing;
    const wd = this.d.started.watchdog.mode === "off" ? undefined : this.d.started.watchdog;
    return timingProblems({ ttl, retryTimeout, loopWait: this.settings.timing.loopWait }, wd).length === 0;
  }

  /** Settings changed in etcd that this agent applies only when it restarts. */
  pendingAgentRestart(): string[] {
    const loopWaitWaits = this.settings.timing.loopWait !== this.d.started.timing.loopWait && !this.loopWaitApplies();
    return [...waitingForAgentRestart(this.settings, this.d.started), ...(loopWaitWaits ? ["loop_wait"] : [])];
  }

  get pendingRestart(): string[] {
    return this.pending;
  }

  /** After the loop's actions: parameters, pending restarts, and (leader) the desired config. */
  async afterLoop(holdsLeader: boolean, pgRunning: boolean): Promise<void> {
    await this.applyParameters(pgRunning);
    if (this.standbyKeyMissing) await this.writeBootstrapStandby();
    // As Patroni's leader does: a missing config key is written with the settings this cluster runs on
    // (created only if still absent), so the key always shows them. A desired document converges it below.
    if (holdsLeader && this.configAbsent && !this.d.desired) {
      this.configAbsent = false;
      const written = await this.d.dcs.attemptWriteConfig(dynamicFromSettings(this.settings), undefined).catch(() => false);
      if (written) this.d.log.info("etcd's config key was absent: wrote the settings this cluster runs on");
    }
    if (holdsLeader && this.d.desired && !this.converging) {
      const due = !this.wasLeader || this.lastDesiredAt === undefined || this.d.now() - this.lastDesiredAt >= this.d.desiredIntervalMs;
      if (due) {
        this.converging = this.convergeDesired(false).finally(() => (this.converging = undefined));
      }
    }
    this.wasLeader = holdsLeader;
  }

  /** Patroni's bootstrap.dcs.standby_cluster: into the config key (compare-and-swap), only before the cluster exists. */
  private async writeBootstrapStandby(): Promise<void> {
    const snap = await this.d.dcs.load().catch(() => undefined);
    if (!snap || snap.initialize !== undefined || snap.config?.standby_cluster !== undefined) return;
    const next = { ...(snap.config ?? {}), standby_cluster: this.d.standbyAtBootstrap };
    if (await this.d.dcs.attemptWriteConfig(next, snap.configModRevision).catch(() => false))
      this.d.log.info("a new standby cluster: wrote bootstrap.standbyCluster into etcd's config key");
  }

  /** Before this member bootstraps the cluster: the desired config goes into etcd first, and into the new server's config. */
  async beforeBootstrap(): Promise<void> {
    if (!this.d.desired) return;
    await this.convergeDesired(true);
    this.observe(await this.d.dcs.load());
    await this.applyParameters(false);
  }

  private async applyParameters(pgRunning: boolean): Promise<void> {
    const wanted = configFingerprint(this.settings);
    if (wanted !== this.appliedParameters) {
      try {
        const reloaded = await this.d.pg.setParameters(this.settings.postgres.parameters);
        this.appliedParameters = wanted;
        this.d.log.info({ parameters: this.settings.postgres.parameters, reloaded }, "PostgreSQL parameters changed in the dynamic config");
        if (reloaded) this.pendingChecks = PENDING_CHECK_LOOPS;
      } catch (e) {
        this.d.log.warn({ err: String(e) }, "cannot apply the dynamic config's PostgreSQL parameters; retrying next loop");
      }
    }
    if (!pgRunning) {
      this.pending = [];
      return;
    }
    if (this.pending.length === 0 && this.pendingChecks <= 0) return;
    this.pendingChecks--;
    const names = await this.d.pg.pendingRestartParameters().catch(() => this.pending);
    if (names.join() !== this.pending.join() && names.length) {
      this.d.log.info({ pending_restart: names }, "PostgreSQL parameters wait for a restart");
    }
    this.pending = names;
  }

  /** Reads the desired document and writes the converged config key (compare-and-swap, retried on a concurrent edit). */
  private async convergeDesired(bootstrapping: boolean): Promise<void> {
    const source = this.d.desired!;
    this.lastDesiredAt = this.d.now();
    const status: DesiredStatus = { source: source.where, applied: [], refused: [] };
    try {
      const desired = await source.read();
      for (let attempt = 1; ; attempt++) {
        const snap = await this.d.dcs.load();
        if (!bootstrapping && snap.leader?.name !== this.d.name) return; // no longer the leader: the new one converges
        const r = converge(snap.config ?? {}, desired, this.d.base);
        status.refused = r.refused;
        if (!r.changed) break;
        if (await this.d.dcs.attemptWriteConfig(r.next, snap.configModRevision)) {
          status.applied = r.applied;
          break;
        }
        if (attempt >= MAX_CAS_ATTEMPTS) throw new Error(`the config key changed under us ${attempt} times in a row`);
      }
    } catch (e) {
      status.error = (e as Error).message;
    }
    status.checked_at = new Date(this.d.wallNow()).toISOString();
    this.report(status);
    if (status.applied.length) status.applied_at = status.checked_at;
    else Object.assign(status, { applied: this.desiredStatus?.applied ?? [], applied_at: this.desiredStatus?.applied_at });
    this.desiredStatus = status;
  }

  private report(s: DesiredStatus): void {
    const prev = this.desiredStatus;
    const fields = { source: s.source, applied: s.applied, refused: s.refused };
    if (s.error) {
      if (s.error !== prev?.error)
        this.d.log.warn({ source: s.source, err: s.error }, "cannot read the desired config; etcd's config key is left as it was");
      return;
    }
    if (s.applied.length) this.d.log.info(fields, `desired config applied to etcd: ${s.applied.join(", ")}`);
    if (s.refused.length && JSON.stringify(s.refused) !== JSON.stringify(prev?.refused)) {
      this.d.log.warn(fields, `desired config values refused: ${problemsText(s.refused)}`);
    }
  }

  /** For /patroni: what this member runs on and what waits. */
  status() {
    const waits = (this.desiredStatus?.applied ?? []).filter((f) => {
      const name = f.startsWith("postgresql.parameters.") ? f.slice("postgresql.parameters.".length) : undefined;
      return name ? this.pending.includes(name) : this.pendingAgentRestart().includes(f);
    });
    return {
      pending_restart: this.pending,
      pending_agent_restart: this.pendingAgentRestart(),
      ...(this.invalid ? { refused: this.invalid } : {}),
      ...(this.desiredStatus ? { desired: { ...this.desiredStatus, waits_for_restart: waits } } : {}),
    };
  }
}
