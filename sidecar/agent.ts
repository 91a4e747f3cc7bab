/**
 * `hapg agent --config FILE`: wires the config to etcd, the PostgreSQL owner, the HA driver and the
 * REST API, and handles signals (SIGTERM/SIGINT = graceful stop, releasing the leader key).
 */
import { readCredential } from "./config/load";
import type { AgentConfig } from "./config/schema";
import { EtcdDcs } from "./dcs/etcd";
import { clusterPrefix } from "./dcs/types";
import { Mutations } from "./api/mutations";
import { ApiServer } from "./api/server";
import { systemClock } from "./ha/clock";
import { HaDriver } from "./ha/driver";
import { fetchPeerViews } from "./ha/peers";
import { createLogger } from "./log";
import { findPgBinDir } from "./postgres/bin";
import { PostgresManager } from "./postgres/manager";
import { PostgresOwner } from "./postgres/owner";
import { resolveTiming } from "./settings/timing";
import { watchdogFromConfig } from "./watchdog/watchdog";
import { readFileSync } from "node:fs";
import path from "node:path";
import { BackupService } from "./backup/service";

export async function runAgent(config: AgentConfig): Promise<void> {
  const log = createLogger(config.name, config.log.level);
  if (process.getuid?.() === 0) {
    throw new Error(
      "the agent must not run as root (PostgreSQL refuses to): run it as the postgres OS user, e.g. `runuser -u postgres -- hapg agent --config FILE`",
    );
  }
  const superuser = readCredential("postgres.superuser", config.postgres.superuser);
  const replication = readCredential("postgres.replication", config.postgres.replication);
  const apiAuth = config.api.authentication && readCredential("api.authentication", config.api.authentication);
  // Every duration below comes from this one value (milliseconds), derived once from the settings.
  const timing = resolveTiming(config);
  const etcdPassword = config.etcd.passwordFile ? readFileSync(config.etcd.passwordFile, "utf8").trim() : undefined;

  const dcs = new EtcdDcs({
    endpoints: config.etcd.endpoints,
    prefix: clusterPrefix(config.namespace, config.cluster),
    timeoutMs: timing.retryTimeoutMs,
    username: config.etcd.username,
    password: etcdPassword,
    caFile: config.etcd.caFile,
    certFile: config.etcd.certFile,
    keyFile: config.etcd.keyFile,
  });
  const pgConnect = config.postgres.connectAddress ?? config.postgres.listen;
  const socketDir = `${path.resolve(config.postgres.dataDir)}.sock`;
  // The driver is made below; the backup service reads its view only once running.
  const ref: { driver?: HaDriver } = {};
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
        view: () => {
          const v = ref.driver?.view();
          return { cluster: v?.cluster, holdsLeader: v?.holdsLeader ?? false, pg: v?.local?.pg };
        },
        log: log.child({ component: "backup" }),
      })
    : undefined;
  // Before PostgreSQL starts: its archive_command and restore_command read this config.
  backup?.prepare();
  const manager = new PostgresManager({
    binDir: findPgBinDir(config.postgres.binDir),
    dataDir: config.postgres.dataDir,
    listen: config.postgres.listen,
    connect: pgConnect,
    parameters: config.postgres.parameters,
    timing,
    superuser,
    replication,
    allowedCidrs: config.postgres.allowedCidrs,
    stopTimeouts: config.postgres.stopTimeouts,
    memberName: config.name,
    socketDir,
    archive: backup?.archiveParameters(),
    restoreFromArchive: backup && (() => backup.restoreReplica()),
    logFile: path.join(path.dirname(config.postgres.dataDir), `${path.basename(config.postgres.dataDir)}.log`),
    log: log.child({ component: "postgres" }),
  });
  // The one owner of PostgreSQL: the driver and the API talk to it; the manager runs its commands.
  const pg = new PostgresOwner(manager);
  // Probed before anything starts: mode "required" without a device is a startup error.
  const watchdog = watchdogFromConfig(config, timing, systemClock, log.child({ component: "watchdog" }));
  const driver = new HaDriver({
    self: {
      name: config.name,
      nofailover: config.tags.nofailover,
      failoverPriority: config.tags.failoverPriority,
      maximumLagOnFailover: config.maximumLagOnFailover,
      ttlMs: timing.ttlMs,
      fenceMarginMs: timing.fenceMarginMs,
      synchronousMode: config.synchronousMode,
      usePgRewind: config.postgres.usePgRewind,
    },
    identity: { pgConnect, apiConnect: config.api.connectAddress ?? config.api.listen, tags: config.tags },
    dcs,
    pg,
    clock: systemClock,
    log,
    timing,
    fetchPeers: (members) => fetchPeerViews(members, timing.peerFetchTimeoutMs),
    watchdog,
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
    backup,
    mutations: new Mutations({
      dcs,
      rules: { synchronousMode: config.synchronousMode, maximumLagOnFailover: config.maximumLagOnFailover },
      auth: apiAuth,
      wallNow: () => Date.now(),
      // A hand-over takes well under a second; the lease's ttl plus a loop bounds a slow one.
      waitMs: timing.ttlMs + timing.loopWaitMs * 2,
      log: log.child({ component: "api" }),
      backup,
    }),
  });
  await api.listen(config.api.listen.host, config.api.listen.port);
  const apiAt = `${config.api.listen.host}:${config.api.listen.port}`;
  log.info({ api: apiAt, timing: config.timing, synchronousMode: config.synchronousMode }, "agent started");

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "graceful stop requested");
    void driver
      .shutdown()
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
}
