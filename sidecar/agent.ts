/**
 * `hapg agent --config FILE`: wires the config to etcd, the PostgreSQL owner, the HA driver and the
 * REST API, and handles signals (SIGTERM/SIGINT = graceful stop, releasing the leader key).
 */
import { fileStopMarker, stopMarkerFile } from "./ha/failsafe-stop-marker";
import { loadAgentConfig, readCredential } from "./config/load";
import { reloadPlan } from "./config/reload";
import type { AgentConfig } from "./contract/agent-config";
import { EtcdDcs } from "./dcs/etcd";
import { clusterPrefix } from "./dcs/types";
import { MemberOperations } from "./api/member-ops";
import { Mutations } from "./api/mutations";
import { ApiServer } from "./api/server";
import { loadApiTls } from "./http/transport";
import { watchApiTls } from "./api/tls-reload";
import { systemClock } from "./ha/clock";
import { HaDriver } from "./ha/driver";
import { handOverBeforeStop } from "./ha/planned-stop";
import { topologyKeeper } from "./topology/wiring";
import { promotionWait } from "./ha/promotion";
import { probePrimaryEndpoint } from "./postgres/remote-probe";
import { fetchPeerViews, postFailsafe } from "./ha/peers";
import { createLogger } from "./log";
import { findPgBinDir } from "./postgres/bin";
import { PostgresManager } from "./postgres/manager";
import { PostgresOwner } from "./postgres/owner";
import { DynamicConfigApplier } from "./dynamic/apply";
import { converge } from "./dynamic/converge";
import { desiredSource, type DesiredSource } from "./dynamic/source";
import { effectiveSettings, problemsText, type DynamicSettings } from "./contract/settings/dynamic";
import type { StandbyCluster } from "./contract/settings/standby";
import { pickHaSettings, type HaSettings } from "./contract/settings/schema";
import { resolveTiming } from "./contract/settings/timing";
import type { Logger } from "./log";
import { watchdogFromConfig } from "./watchdog/watchdog";
import { readFileSync } from "node:fs";
import path from "node:path";
import { BackupService } from "./backup/service";
import { prepareRestore } from "./restore/source";

/** configFile: where config was read from; POST /reload re-reads its PostgreSQL parameters. */
export async function runAgent(config: AgentConfig, configFile?: string): Promise<void> {
  const log = createLogger(config.name, config.log.level);
  if (process.getuid?.() === 0) {
    throw new Error(
      "the agent must not run as root (PostgreSQL refuses to): run it as the postgres OS user, e.g. `runuser -u postgres -- hapg agent --config FILE`",
    );
  }
  const superuser = readCredential("postgres.superuser", config.postgres.superuser);
  const replication = readCredential("postgres.replication", config.postgres.replication);
  const apiAuth = config.api.authentication && readCredential("api.authentication", config.api.authentication);
  // Read (and checked) before anything starts: a missing or wrong file stops the agent naming the field.
  const apiTls = config.api.tls && loadApiTls(config.api.tls);
  const etcdPassword = config.etcd.passwordFile ? readFileSync(config.etcd.passwordFile, "utf8").trim() : undefined;
  const etcdAt = (timeoutMs: number) =>
    new EtcdDcs({
      endpoints: config.etcd.endpoints,
      prefix: clusterPrefix(config.namespace, config.cluster),
      timeoutMs,
      username: config.etcd.username,
      password: etcdPassword,
      caFile: config.etcd.caFile,
      certFile: config.etcd.certFile,
      keyFile: config.etcd.keyFile,
    });
  // The agent file's settings are the defaults; etcd's config key (the dynamic config) wins over them.
  const base = pickHaSettings(config);
  const desired = desiredSource(config.desiredConfig);
  const started = await startingSettings(base, etcdAt(resolveTiming(config).retryTimeoutMs), desired, log, config.bootstrap.standbyCluster);
  // Every duration below comes from this one value (milliseconds), derived once from the settings.
  const timing = resolveTiming(started);
  const dcs = etcdAt(timing.retryTimeoutMs);
  const pgConnect = config.postgres.connectAddress ?? config.postgres.listen;
  const socketDir = `${path.resolve(config.postgres.dataDir)}.sock`;
  // The driver is made below; the backup service reads its view only once running.
  const ref: { driver?: HaDriver; dynamic?: DynamicConfigApplier } = {};
  const backup = config.backup
    ? new BackupService({
        cluster: config.cluster,
        name: config.name,
        dataDir: config.postgres.dataDir,
        socketDir,
        pgPort: config.postgres.listen.port,
        superuser: superuser.username,
        backup: config.backup,
        policy: config.backupPolicy,
        dcs,
        apiCa: apiTls?.ca,
        view: () => {
          const v = ref.driver?.view();
          return { cluster: v?.cluster, holdsLeader: v?.holdsLeader ?? false, pg: v?.local?.pg };
        },
        log: log.child({ component: "backup" }),
      })
    : undefined;
  // Before PostgreSQL starts: its archive_command and restore_command read this config.
  backup?.prepare();
  // A cluster created from a backup: refused here, before anything is written, when it cannot work.
  const restore = await prepareRestore({
    fromBackup: config.bootstrap.fromBackup,
    dataDir: config.postgres.dataDir,
    socketDir,
    pgPort: config.postgres.listen.port,
    superuser: superuser.username,
    log: log.child({ component: "restore" }),
  });
  const manager = new PostgresManager({
    binDir: findPgBinDir(config.postgres.binDir),
    dataDir: config.postgres.dataDir,
    listen: config.postgres.listen,
    connect: pgConnect,
    parameters: started.postgres.parameters,
    timing,
    superuser,
    replication,
    allowedCidrs: config.postgres.allowedCidrs,
    stopTimeouts: config.postgres.stopTimeouts,
    memberName: config.name,
    socketDir,
    archive: backup?.archiveParameters(),
    restoreFromArchive: backup && (() => backup.restoreReplica()),
    restore,
    logFile: path.join(path.dirname(config.postgres.dataDir), `${path.basename(config.postgres.dataDir)}.log`),
    log: log.child({ component: "postgres" }),
    // The mode the HA loop decides with (the dynamic config's, once it is made below).
    promotionWait: () => promotionWait(ref.dynamic?.live.synchronousMode ?? started.synchronousMode),
    // etcd's standby_cluster as the HA loop last read it: a standby cluster's members follow the source.
    standbyCluster: () => (ref.dynamic ? ref.dynamic.effective.standbyCluster : started.standbyCluster),
  });
  // The one owner of PostgreSQL: the driver and the API talk to it; the manager runs its commands.
  const pg = new PostgresOwner(manager);
  // Probed before anything starts: mode "required" without a device is a startup error.
  const watchdog = watchdogFromConfig(config, timing, systemClock, log.child({ component: "watchdog" }));
  const dynamic = new DynamicConfigApplier({
    name: config.name,
    base,
    started,
    dcs,
    pg,
    log: log.child({ component: "config" }),
    now: () => systemClock.now(),
    wallNow: () => Date.now(),
    desired,
    desiredIntervalMs: (config.desiredConfig?.intervalSeconds ?? 60) * 1000,
    onLoopWait: (ms) => driver.lease.setIntervalMs(Math.min(ms, timing.ttlMs / 4)),
    standbyAtBootstrap: config.bootstrap.standbyCluster,
  });
  ref.dynamic = dynamic;
  const driver = new HaDriver({
    self: {
      name: config.name,
      nofailover: config.tags.nofailover,
      failoverPriority: config.tags.failoverPriority,
      maximumLagOnFailover: started.maximumLagOnFailover,
      ttlMs: timing.ttlMs,
      fenceMarginMs: timing.fenceMarginMs,
      synchronousMode: started.synchronousMode,
      synchronousQuorum: started.synchronousQuorum,
      usePgRewind: config.postgres.usePgRewind,
      failsafeMode: started.failsafeMode,
      restoreFromBackup: restore !== undefined,
    },
    identity: {
      pgConnect,
      apiConnect: config.api.connectAddress ?? config.api.listen,
      apiScheme: apiTls ? "https" : "http",
      tags: config.tags,
    },
    dcs,
    pg,
    clock: systemClock,
    log,
    timing,
    fetchPeers: (members) => fetchPeerViews(members, timing.peerFetchTimeoutMs, apiTls?.ca),
    watchdog,
    dynamic,
    backupServer: backup && (() => backup.advert()),
    stopMarker: fileStopMarker(stopMarkerFile(config.postgres.dataDir)),
    // Every member's API shares api.authentication (the component and `hapg local` give them one).
    confirmPeer: (m, body, timeoutMs) => postFailsafe(m.apiUrl, body, apiAuth, timeoutMs, apiTls?.ca),
  });
  const operations = new MemberOperations({
    name: config.name,
    pg,
    driver,
    dcs,
    wallNow: () => Date.now(),
    log: log.child({ component: "api" }),
    rereadConfig: configFile ? () => rereadParameters(configFile, config, manager) : undefined,
  });
  ref.driver = driver;
  const api = new ApiServer({
    scope: config.cluster,
    name: config.name,
    ttlMs: timing.ttlMs,
    noloadbalance: config.tags.noloadbalance,
    driver,
    pg,
    now: () => systemClock.now(),
    log: log.child({ component: "api" }),
    scheduledRestart: () => operations.scheduledRestart(),
    readCluster: () => dcs.load(),
    backup,
    mutations: new Mutations({
      dcs,
      // Read at each request: the dynamic config may have changed them (next-loop settings).
      rules: () => dynamic.live,
      auth: apiAuth,
      wallNow: () => Date.now(),
      // A hand-over takes well under a second; the lease's ttl plus a loop bounds a slow one.
      waitMs: timing.ttlMs + timing.loopWaitMs * 2,
      log: log.child({ component: "api" }),
      operations,
      failsafe: driver.failsafe,
      config: { dcs, base, log: log.child({ component: "api" }) },
      backup,
      promoteCluster: {
        dcs,
        config: { dcs, base, log: log.child({ component: "api" }) },
        probe: (host, port) => probePrimaryEndpoint(host, port, replication),
        log: log.child({ component: "api" }),
        // The standby leader promotes at its next loop (the config key's change does not wake it).
        waitMs: timing.ttlMs + timing.loopWaitMs * 4,
      },
    }),
  });
  const rules = () => ({
    synchronousMode: dynamic.effective.synchronousMode,
    maximumLagOnFailover: dynamic.effective.maximumLagOnFailover,
  });
  const keeper = topologyKeeper(config, dcs, () => driver.view().holdsLeader, rules, log.child({ component: "topology" }));
  await api.listen(config.api.listen.host, config.api.listen.port, apiTls);
  const stopTlsWatch =
    config.api.tls && apiTls
      ? watchApiTls({ files: config.api.tls, current: apiTls, apply: (m) => api.setTls(m), reloadPostgres: () => pg.reload(), log })
      : undefined;
  const apiAt = `${apiTls ? "https" : "http"}://${config.api.listen.host}:${config.api.listen.port}`;
  log.info(
    { api: apiAt, timing: started.timing, synchronousMode: started.synchronousMode, failsafeMode: started.failsafeMode },
    "agent started",
  );

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "graceful stop requested");
    operations.close();
    // The leader hands over first (a switchover's pause, not a failover's), within a bound; then the usual stop.
    void handOverBeforeStop({
      name: config.name,
      dcs,
      rules,
      log,
      timeoutMs: timing.ttlMs + timing.loopWaitMs * 2,
    })
      .then(() => stopTlsWatch?.())
      .then(() => keeper?.stop())
      .then(() => driver.shutdown())
      .then(() => backup?.stop())
      .then(() => api.close())
      .then(() => {
        log.info("agent stopped");
        process.exit(0);
      });
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  await driver.start();
  backup?.start();
  keeper?.start();
}

/**
 * POST /reload: re-reads the agent config file and applies its PostgreSQL parameters (the caller then
 * rewrites postgresql.conf and reloads). A file the schema refuses throws, naming the field: nothing changes.
 */
function rereadParameters(file: string, current: AgentConfig, manager: PostgresManager): string[] {
  const fresh = loadAgentConfig(file);
  const plan = reloadPlan(current, fresh);
  if (plan.parameters) {
    manager.replaceParameters(plan.parameters);
    current.postgres.parameters = plan.parameters;
  }
  const later = plan.needAgentRestart.length ? [`not ${plan.needAgentRestart.join(", ")} (read at the agent's start only)`] : [];
  return [...plan.applied, ...later];
}

/**
 * The settings this agent starts on: its file's, with etcd's config key over them (read once; the
 * lease and the etcd client are set up with its ttl and retry_timeout). On a new cluster (no config
 * key yet) the desired config, which the first leader is about to write there, stands in for it. etcd
 * unreachable or a refused config key: the file's, said in the log (the HA loop applies the key once
 * it can read it).
 */
async function startingSettings(
  base: HaSettings,
  dcs: EtcdDcs,
  desired: DesiredSource | undefined,
  log: Logger,
  standbyAtBootstrap?: StandbyCluster,
): Promise<DynamicSettings> {
  try {
    let cluster = await dcs.load();
    // Patroni's bootstrap.dcs.standby_cluster: into the config key once, before the cluster exists.
    if (standbyAtBootstrap && cluster.initialize === undefined && cluster.config?.standby_cluster === undefined) {
      const next = { ...(cluster.config ?? {}), standby_cluster: standbyAtBootstrap };
      if (await dcs.attemptWriteConfig(next, cluster.configModRevision))
        log.info("a new standby cluster: wrote standby_cluster into etcd's config key");
      cluster = await dcs.load();
    }
    let config = cluster.config;
    if (config === undefined && cluster.configModRevision === undefined && desired) {
      const doc = await desired.read().catch((e: unknown) => log.warn({ err: String(e) }, "cannot read the desired config at start"));
      if (doc) config = converge({}, doc, base).next;
    }
    const r = effectiveSettings(base, config);
    if (r.ok) return r.settings;
    log.warn({ problems: r.problems }, `etcd's config key is refused (${problemsText(r.problems)}): starting on the agent file's settings`);
  } catch (e) {
    log.warn({ err: String(e) }, "cannot read etcd's config key at start: starting on the agent file's settings");
  } finally {
    await dcs.close().catch(() => undefined);
  }
  return base;
}
