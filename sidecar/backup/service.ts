/**
 * The agent's backup side, beside the HA loop (its own timer, like the lease keeper): writes
 * pgBackRest's config, creates the stanza when this member leads, watches archiving, takes the
 * backups the schedule (sidecar/backup/schedule.ts) assigns to this member, answers `hapg backup`,
 * and restores new replicas from the repository. Nothing here can block or fail the HA loop.
 */
import type { ClusterSnapshot, Dcs, BackupClaim } from "../dcs/types";
import type { Logger } from "../log";
import { writeOwned, ensureDir } from "../postgres/files";
import { LocalSql } from "../postgres/sql";
import type { PgStatus } from "../postgres/types";
import type { BackupPolicy } from "../contract/settings/backup";
import { apiRequest } from "../http/transport";
import { readArchiveStatus, type ArchiveStatus } from "./archive-status";
import { backupPaths, resolvedRepo, type BackupConfig } from "../contract/backup-config";
import { archiveParameters, renderPgBackRestConf, retentionFullFor, type PgInstance, type S3Keys } from "./pgbackrest-conf";
import { PgBackRest, type BackupType, type StanzaInfo } from "./pgbackrest";
import { ReplicaArchive, type LeaderArchive } from "./replica-archive";
import { readKeys, readSecret } from "./secrets";
import { chooseBackupMember, planBackup } from "./schedule";
import { gateDir } from "./wal-gate";
import { handshakeCheck, LeaderServerProbe, primaryInstance, serverAdvert, type ServerCheck } from "./standby";
import { BackupTlsServer, renderServerConf } from "./tls-server";

/** How often the service looks at archiving and the schedule. */
const TICK_MS = 5000;
/**
 * While archiving fails, how often the archiver is woken to try again: every tick. After three
 * failures in a row PostgreSQL's archiver sleeps up to a minute unless its latch is set; a
 * configuration reload sets it, so WAL reaches S3 within seconds of S3 coming back.
 */
const ARCHIVE_NUDGE_MS = TICK_MS;
export interface BackupServiceOptions {
  cluster: string;
  name: string;
  dataDir: string;
  socketDir: string;
  pgPort: number;
  superuser: string;
  backup: BackupConfig;
  policy: BackupPolicy;
  dcs: Pick<Dcs, "load" | "attemptPutBackup">;
  /** What the HA loop knows now. */
  view: () => { cluster?: ClusterSnapshot; holdsLeader: boolean; pg?: PgStatus };
  log: Logger;
  /** The cluster CA an https:// member API chains to (api.tls.caFile): a replica reads the leader's archive progress there. */
  apiCa?: Buffer;
  /** pgBackRest (default: the real one on this node's config); tests give a fake. */
  runner?: Pick<PgBackRest, "stanzaCreate" | "backup" | "info" | "restore">;
  /** Checks a TLS server (default: a handshake with this member's certificate); tests give a fake. */
  probe?: ServerCheck;
}

/** A backup this member runs or ran, as GET /backup shows it. */
export interface BackupOperation {
  slot: string;
  type: BackupType;
  state: "running" | "done" | "failed";
  started: string;
  finished?: string;
  /** Percentage of the files copied (pgBackRest's own count). */
  percent?: number;
  label?: string;
  error?: string;
}

export interface BackupView {
  stanza: string;
  /** The stanza exists in the repository (created or checked by this member while it led). */
  stanza_ready: boolean;
  /** Why the stanza could not be created, or why the last backup failed. */
  problem?: string;
  archive?: ArchiveStatus;
  running?: BackupOperation;
  last?: BackupOperation;
  /** Who holds the cluster's backup slot (etcd's backup key). */
  claim?: BackupClaim;
  /** This member's pgBackRest TLS server (backup.server): whether it runs, and (a replica) the leader it reached. */
  server?: { running: boolean; pid?: number; reaches?: string };
}

export type ManualReply = { status: number; body: Record<string, unknown> };

export class BackupService {
  readonly stanza: string;
  readonly paths: ReturnType<typeof backupPaths>;
  readonly pgbackrest: Pick<PgBackRest, "stanzaCreate" | "backup" | "info" | "restore">;
  private readonly sql: LocalSql;
  private stanzaReady = false;
  private problem?: string;
  private archive?: ArchiveStatus;
  private running?: BackupOperation;
  private last?: BackupOperation;
  private timer?: NodeJS.Timeout;
  private ticking = false;
  private lastNudge = 0;
  private readonly replica: ReplicaArchive;
  private readonly server?: BackupTlsServer;
  private readonly leaderServer?: LeaderServerProbe;

  constructor(private readonly o: BackupServiceOptions) {
    this.stanza = resolvedRepo(o.backup, o.cluster).stanza;
    this.paths = backupPaths(o.dataDir);
    this.pgbackrest = o.runner ?? new PgBackRest({ confFile: this.paths.confFile, stanza: this.stanza, log: o.log });
    this.sql = new LocalSql({
      socketDir: o.socketDir,
      port: o.pgPort,
      user: o.superuser,
      applicationName: "hapg-backup",
      statementTimeoutMs: 2000,
      clientTimeoutMs: 3000,
    });
    this.replica = new ReplicaArchive({
      dataDir: o.dataDir,
      marksDir: gateDir(this.paths.dir),
      sql: this.sql,
      fetchLeader: (url) => leaderArchive(url, o.apiCa),
      log: o.log,
    });
    if (o.backup.server) {
      this.server = new BackupTlsServer({ confFile: this.paths.serverConfFile, pidFile: this.paths.serverPidFile, log: o.log });
      this.leaderServer = new LeaderServerProbe(o.probe ?? handshakeCheck(o.backup.server), o.log);
    }
  }

  /** Writes pgbackrest.conf (0600) and its directories; throws naming the config field when a file cannot be read. */
  prepare(): void {
    const b = this.o.backup;
    for (const d of [this.paths.dir, this.paths.spoolDir, this.paths.logDir, this.paths.lockDir]) ensureDir(d, 0o700);
    const text = this.render();
    writeOwned(this.paths.confFile, text, 0o600);
    if (b.server) {
      const conf = renderServerConf({ server: b.server, stanza: this.stanza, logDir: this.paths.logDir, lockDir: this.paths.lockDir });
      writeOwned(this.paths.serverConfFile, conf, 0o600);
    }
  }

  /** pgbackrest.conf's text: this member's instance as pg1, and `pg2` (the primary, for a backup from standby). */
  private render(pg2?: PgInstance): string {
    const b = this.o.backup;
    const r = resolvedRepo(b, this.o.cluster);
    let keys: S3Keys | undefined;
    if (b.repo.credentials.source === "keyFile") keys = readKeys("backup.repo.credentials.file", b.repo.credentials.file);
    let passphrase: string | undefined;
    if (b.cipherPassphraseFile) {
      passphrase = readSecret("backup.cipherPassphraseFile", b.cipherPassphraseFile);
    }
    return renderPgBackRestConf({
      stanza: r.stanza,
      repo: b.repo,
      repoPath: r.repoPath,
      endpoint: r.endpoint,
      keys,
      cipherPassphrase: passphrase,
      compressType: b.compressType,
      processMax: b.processMax,
      spoolDir: this.paths.spoolDir,
      logDir: this.paths.logDir,
      lockDir: this.paths.lockDir,
      pgUser: this.o.superuser,
      pg1: { path: this.o.dataDir, port: this.o.pgPort, socketPath: this.o.socketDir },
      ...(pg2 ? { pg2 } : {}),
      retention: this.o.policy.retention,
    });
  }

  /** This member's pgBackRest TLS server as its member key shows it: only while the server runs. */
  advert() {
    const s = this.o.backup.server;
    if (!s || !this.server?.running) return undefined;
    const v = this.o.view();
    const primary = v.holdsLeader && v.pg?.inRecovery === false;
    return serverAdvert(
      s,
      { dataDir: this.o.dataDir, port: this.o.pgPort, socketDir: this.o.socketDir },
      primary ? undefined : this.leaderServer?.reaches,
    );
  }

  /** archive_mode, archive_command, restore_command and archive_timeout for postgresql.conf. */
  archiveParameters() {
    return archiveParameters(this.paths.confFile, this.stanza, this.o.policy.archiveTimeout, {
      dataDir: this.o.dataDir,
      marksDir: gateDir(this.paths.dir),
    });
  }

  start(): void {
    this.server?.start();
    this.timer = setInterval(() => void this.tick(), TICK_MS);
    this.timer.unref();
    void this.tick();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.server?.stop();
    await this.sql.close();
  }

  view(): BackupView {
    return {
      stanza: this.stanza,
      stanza_ready: this.stanzaReady,
      problem: this.problem,
      archive: this.archive,
      running: this.running,
      last: this.last,
      claim: this.o.view().cluster?.backup?.claim,
      ...(this.server ? { server: { running: this.server.running, pid: this.server.pid, reaches: this.leaderServer?.reaches } } : {}),
    };
  }

  /** The repository's backups (pgbackrest info). */
  list(): Promise<StanzaInfo> {
    return this.pgbackrest.info();
  }

  /**
   * A replica from the repository: the latest backup, restored over the data directory (delta), as
   * a standby. False when the repository has no backup of this cluster's database (then the leader
   * is copied instead); a backup of another database (a reused prefix) is never restored.
   */
  async restoreReplica(): Promise<boolean> {
    const info = await this.pgbackrest.info();
    if (info.backups.length === 0) return false;
    const expected = this.o.view().cluster?.initialize;
    if (expected && info.systemId && info.systemId !== expected) {
      this.o.log.warn({ repo: info.systemId, cluster: expected }, "the repository holds another database: copying from the leader instead");
      return false;
    }
    const latest = info.backups[info.backups.length - 1];
    let logged = 0;
    await this.pgbackrest.restore({
      type: "standby",
      delta: true,
      onProgress: (p) => {
        if (p < logged + 10) return;
        logged = Math.floor(p / 10) * 10;
        this.o.log.info({ label: latest.label, percent: Math.round(p) }, "restore from the backup repository: progress");
      },
    });
    this.o.log.info(
      { label: latest.label },
      `replica restored from backup ${latest.label} in the repository; replaying the archive, then streaming`,
    );
    return true;
  }

  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      await this.step();
    } catch (e) {
      this.o.log.warn({ err: (e as Error).message }, "backup service step failed");
    } finally {
      this.ticking = false;
    }
  }

  private async step(): Promise<void> {
    const v = this.o.view();
    const primary = v.holdsLeader && v.pg?.running === true && v.pg.inRecovery === false;
    if (!primary) {
      this.stanzaReady = false; // checked again when this member leads (another may have led meanwhile)
      const before = this.archive?.role === "replica" ? this.archive : undefined;
      this.archive =
        v.pg?.running && v.pg.inRecovery
          ? await this.replica.step(v.cluster).catch((e: Error) => {
              this.o.log.warn({ err: e.message }, "cannot look at the WAL kept for the leader");
              return before;
            })
          : undefined;
    } else {
      const before = this.archive;
      this.archive = await readArchiveStatus(this.sql, this.o.dataDir, this.paths.spoolDir, this.stanza, Date.now()).catch(() => before);
      if (this.archive?.problem && !before?.problem) this.o.log.warn({ ready: this.archive.ready_count }, this.archive.problem);
      if (before?.problem && this.archive && !this.archive.problem) {
        this.o.log.info({ last: this.archive.last_archived_wal }, "WAL archiving resumed: the waiting segments are archived");
      }
      if (this.archive?.problem && this.archive.ready_count > 0 && Date.now() - this.lastNudge >= ARCHIVE_NUDGE_MS) {
        this.lastNudge = Date.now();
        await this.sql.query("SELECT pg_reload_conf()").catch(() => undefined);
      }
      if (!this.stanzaReady) await this.createStanza();
    }
    if (!v.cluster) return;
    if (!primary) await this.leaderServer?.step(leaderOf(v.cluster), this.server?.running === true);
    if (this.running) return;
    const plan = planBackup({
      policy: this.o.policy,
      now: Date.now(),
      claim: v.cluster.backup?.claim,
      members: v.cluster.members,
      leader: v.cluster.leader?.name,
      self: { name: this.o.name, running: false },
    });
    if (!plan.due) return;
    if (plan.claim.member !== this.o.name) {
      // Our own "running" claim from before this agent restarted, for a slot another member should
      // take now: we hand it over. The others see us alive and would wait for us (found by the
      // chaos run's crash-during-backup: the slot stayed taken for 2 minutes, until we happened to
      // be the one to take it).
      const now = v.cluster.backup;
      if (now?.claim.state !== "running" || now.claim.member !== this.o.name) return;
      if (await this.o.dcs.attemptPutBackup(now.raw, plan.claim))
        this.o.log.info(
          { slot: plan.claim.slot, member: plan.claim.member },
          `backup: our claim of slot ${plan.claim.slot} is from before this agent restarted: ${plan.claim.member} takes it over`,
        );
      return;
    }
    if (primary && !this.stanzaReady) return; // the stanza first
    if (!(await this.o.dcs.attemptPutBackup(v.cluster.backup?.raw, plan.claim))) return; // another member was faster
    this.o.log.info({ slot: plan.claim.slot, type: plan.claim.type }, `backup: ${plan.reason}`);
    void this.run(plan.claim);
  }

  private async createStanza(): Promise<void> {
    try {
      await this.pgbackrest.stanzaCreate();
      this.stanzaReady = true;
      this.problem = undefined;
      this.o.log.info({ stanza: this.stanza }, "backup: stanza ready in the repository");
    } catch (e) {
      const msg = `cannot create stanza ${this.stanza}: ${(e as Error).message}`;
      if (msg !== this.problem) this.o.log.warn(msg);
      this.problem = msg;
    }
  }

  /** Runs the claimed backup and records its end in the key (compared with our own claim). */
  private async run(claim: BackupClaim): Promise<void> {
    const op: BackupOperation = { slot: claim.slot, type: claim.type, state: "running", started: claim.started };
    this.running = op;
    let raw = JSON.stringify(claim);
    let end: BackupClaim;
    try {
      let retentionFull: number | undefined;
      if (this.o.policy.retention.fullDays !== undefined) {
        const fulls = (await this.pgbackrest.info()).backups.filter((b) => b.type === "full").map((b) => b.stop);
        retentionFull = retentionFullFor(this.o.policy.retention, fulls, Date.now());
      }
      const confFile = await this.standbyConf();
      if (confFile)
        this.o.log.info({ slot: claim.slot }, "backup from standby: the data files are read here, the primary only starts and stops it");
      await this.pgbackrest.backup({ type: claim.type, retentionFull, confFile, onProgress: (p) => (op.percent = p) });
      const info = await this.pgbackrest.info().catch(() => undefined);
      op.label = info?.backups[info.backups.length - 1]?.label;
      op.state = "done";
      op.percent = 100;
      this.problem = undefined;
      end = { ...claim, state: "done", finished: new Date().toISOString(), ...(op.label ? { label: op.label } : {}) };
      this.o.log.info({ slot: claim.slot, type: claim.type, label: op.label }, "backup done");
    } catch (e) {
      op.state = "failed";
      op.error = (e as Error).message;
      this.problem = `backup of slot ${claim.slot} failed: ${op.error}`;
      end = { ...claim, state: "failed", finished: new Date().toISOString(), error: op.error.slice(0, 300) };
      this.o.log.error({ slot: claim.slot, type: claim.type, err: op.error }, "backup failed");
    }
    op.finished = end.finished;
    this.last = op;
    this.running = undefined;
    // Retry the write: a lost answer from etcd must not leave the slot "running" under a live member.
    for (let i = 0; i < 5; i++) {
      const ok = await this.o.dcs.attemptPutBackup(raw, end).catch(() => false);
      if (ok) return;
      const now = (await this.o.dcs.load().catch(() => undefined))?.backup;
      if (now?.raw === JSON.stringify(end)) return;
      if (now && now.claim.member !== this.o.name) return; // taken over meanwhile
      if (now) raw = now.raw;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  /**
   * On a replica: the config naming the primary (pg2, through its TLS server) beside this member (pg1),
   * with backup-standby; undefined on the leader. Throws when the leader cannot be reached that way.
   */
  private async standbyConf(): Promise<string | undefined> {
    const v = this.o.view();
    if (v.holdsLeader && v.pg?.inRecovery === false) return undefined;
    const s = this.o.backup.server;
    if (!s || !this.leaderServer) throw new Error("backup from standby: this member runs no pgBackRest TLS server (backup.server)");
    const at = await this.leaderServer.require(v.cluster && leaderOf(v.cluster));
    const text = this.render(primaryInstance(at, s));
    writeOwned(this.paths.standbyConfFile, text, 0o600);
    return this.paths.standbyConfFile;
  }

  /** `hapg backup` through this member's API: 202 when started here, 409 naming who should take it or what runs. */
  async requestBackup(type: BackupType): Promise<ManualReply> {
    if (this.running) return { status: 409, body: { error: `a ${this.running.type} backup (slot ${this.running.slot}) is running here` } };
    const cluster = await this.o.dcs.load();
    const prev = cluster.backup;
    if (prev?.claim.state === "running" && cluster.members.some((m) => m.name === prev.claim.member)) {
      return {
        status: 409,
        body: { error: `${prev.claim.member} is taking the ${prev.claim.type} backup of slot ${prev.claim.slot}: wait for it` },
      };
    }
    const taker = chooseBackupMember(cluster.members, cluster.leader?.name, this.o.policy.fromStandby);
    if (taker !== this.o.name) {
      const m = cluster.members.find((x) => x.name === taker);
      return {
        status: 409,
        body: {
          error: taker ? `${taker} takes backups now: ask its API` : "no running leader to take a backup",
          member: taker,
          api_url: m?.data.api_url,
        },
      };
    }
    // The leader creates the stanza; a replica (backup from standby) finds it made by the leader.
    const onPrimary = cluster.leader?.name === this.o.name;
    if (onPrimary && !this.stanzaReady) await this.createStanza();
    if (onPrimary && !this.stanzaReady) return { status: 503, body: { error: this.problem ?? "the stanza is not ready" } };
    const claim: BackupClaim = {
      slot: `manual:${new Date().toISOString()}`,
      type,
      member: this.o.name,
      state: "running",
      started: new Date().toISOString(),
      ...(prev?.claim.lastSlot ? { lastSlot: prev.claim.lastSlot } : {}),
    };
    if (!(await this.o.dcs.attemptPutBackup(prev?.raw, claim))) {
      return { status: 409, body: { error: "another member claimed a backup slot at the same moment: try again" } };
    }
    void this.run(claim);
    return { status: 202, body: { message: `${type} backup started on ${this.o.name}`, slot: claim.slot, member: this.o.name } };
  }
}

/** The leader's archive progress from its /patroni (`archiving`: false when it has no repository). */
async function leaderArchive(apiUrl: string, ca: Buffer | undefined): Promise<LeaderArchive | undefined> {
  const res = await apiRequest(apiUrl, { timeoutMs: 2000, ca });
  if (res.status !== 200 && res.status !== 503) return undefined;
  const body = JSON.parse(res.text) as { archiving?: boolean; archive?: ArchiveStatus };
  return { archiving: body.archiving, lastArchived: body.archive?.role === undefined ? body.archive?.last_archived_wal : undefined };
}

const leaderOf = (c: ClusterSnapshot) => c.members.find((m) => m.name === c.leader?.name);
