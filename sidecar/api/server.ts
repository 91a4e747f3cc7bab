/**
 * The agent's REST API on node:http (a handful of read-only routes needs no framework). Health
 * endpoints answer GET, HEAD and OPTIONS with the same status, as Patroni does, so HAProxy checks
 * with any of them work. The PostgreSQL status is read live (coalesced over 100 ms), so /primary
 * turns 503 the moment the server stops, not a loop later.
 */
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import type { ClusterSnapshot } from "../dcs/types";
import type { HaDriver } from "../ha/driver";
import { watchdogFailed } from "../ha/watchdog-rules";
import { AGENT_VERSION } from "../contract/version";
import type { Logger } from "../log";
import type { PgStatus, PostgresControl } from "../postgres/types";
import { configBody, historyBody } from "./read-routes";
import type { Mutations } from "./mutations";
import type { ApiTlsMaterial } from "../http/transport";
import type { BackupService } from "../backup/service";
import { HEALTH_PATHS, HealthState, clusterBody, evaluateHealth, isStandbyLeader, replicaLag } from "./health";
import { sourceLag } from "../ha/member";

const KNOWN_PATHS =
  "/patroni, /cluster, /history, /config, /metrics, /backup, /backups, /primary, /leader, /standby-leader, /replica, /read-only, /health, /liveness, /readiness";

export interface ApiDeps {
  scope: string;
  name: string;
  ttlMs: number;
  noloadbalance: boolean;
  driver: Pick<HaDriver, "view">;
  pg: Pick<PostgresControl, "status">;
  now: () => number;
  log: Logger;
  /** A fresh etcd read for GET /config (an edit shows at once, not a loop later); absent: the last loop's read. */
  readCluster?: () => Promise<ClusterSnapshot>;
  /** POST/DELETE/PATCH (switchover, failover...): ./mutations.ts. Absent: the API is read-only. */
  mutations?: Pick<Mutations, "handle">;
  /** A restart scheduled through POST /restart (./member-ops.ts), shown in /patroni. */
  scheduledRestart?: () => { schedule: string } | undefined;
  /** Archiving and backups (absent: no backup repository configured). */
  backup?: Pick<BackupService, "view" | "list">;
}

export class ApiServer {
  private server?: http.Server | https.Server;
  private cached?: { at: number; status: Promise<PgStatus> };

  constructor(private readonly d: ApiDeps) {}

  /** Serves HTTPS with `tls` (the node's certificate and key), plain HTTP without. */
  async listen(host: string, port: number, tls?: ApiTlsMaterial): Promise<AddressInfo> {
    const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
      this.handle(req, res).catch((e) => {
        this.d.log.error({ err: String(e), url: req.url }, "API request failed");
        if (!res.headersSent) send(res, 500, { error: "internal error" }, req.method === "HEAD");
      });
    };
    if (tls) {
      try {
        this.server = https.createServer({ cert: tls.cert, key: tls.key }, onRequest);
      } catch (e) {
        // e.g. "key values mismatch": the key is not the certificate's.
        throw new Error(`api.tls: cannot serve HTTPS with api.tls.certFile and api.tls.keyFile (${(e as Error).message})`, { cause: e });
      }
      // A client that fails the handshake (a health check without the CA, a port scan) is its problem, not an error here.
      this.server.on("tlsClientError", () => undefined);
    } else {
      this.server = http.createServer(onRequest);
    }
    this.server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      this.server!.once("error", reject);
      this.server!.listen(port, host, () => resolve());
    });
    return this.server.address() as AddressInfo;
  }

  /** A renewed certificate and key (./tls-reload.ts): new connections get them. Throws when they do not go together. */
  setTls(tls: ApiTlsMaterial): void {
    if (!(this.server instanceof https.Server)) return;
    this.server.setSecureContext({ cert: tls.cert, key: tls.key });
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://agent");
    const method = req.method ?? "GET";
    const head = method === "HEAD";
    if (!["GET", "HEAD", "OPTIONS"].includes(method) && this.d.mutations) {
      const reply = await this.d.mutations.handle(req, method, url.pathname.replace(/\/+$/, "") || "/");
      for (const [k, v] of Object.entries(reply.headers ?? {})) res.setHeader(k, v);
      return send(res, reply.status, reply.body, false);
    }
    if (!["GET", "HEAD", "OPTIONS"].includes(method)) {
      res.setHeader("Allow", "GET, HEAD, OPTIONS");
      return send(res, 405, { error: `method ${method} is not allowed: this API is read-only (use GET, HEAD or OPTIONS)` }, false);
    }
    const path = url.pathname.replace(/\/+$/, "") || "/";
    const state = await this.state();
    if (path === "/metrics") return this.metrics(state.pg, res, head);
    if (path === "/history") return send(res, 200, historyBody(this.d.driver.view().cluster), head);
    if (path === "/config") {
      const fresh = await this.d.readCluster?.().catch(() => undefined);
      return send(res, 200, configBody(fresh ?? this.d.driver.view().cluster), head);
    }
    if (path === "/patroni") return send(res, 200, this.patroniBody(state), head);
    if (path === "/backup" || path === "/backups") return this.backupRoute(path, res, head);
    if (path === "/cluster") return send(res, 200, clusterBody(this.d.scope, this.d.driver.view().cluster), head);
    if (HEALTH_PATHS.includes(path)) {
      const r = evaluateHealth(path, url.searchParams, state.health);
      return send(res, r.status, r.error ? { error: r.error } : this.patroniBody(state), head);
    }
    return send(res, 404, { error: `unknown path ${path}: see ${KNOWN_PATHS}` }, head);
  }

  /** Prometheus text; the renderer (and prom-client) load on the first scrape only. */
  private async metrics(pg: PgStatus, res: http.ServerResponse, head: boolean): Promise<void> {
    const { METRICS_CONTENT_TYPE, metricsInput, renderMetrics } = await import("./metrics");
    const ids = { scope: this.d.scope, name: this.d.name, version: AGENT_VERSION };
    const text = await renderMetrics(metricsInput(ids, this.d.driver.view(), pg, this.d.now(), this.d.backup?.view()));
    res.writeHead(200, { "Content-Type": METRICS_CONTENT_TYPE, "Content-Length": Buffer.byteLength(text) });
    res.end(head ? undefined : text);
  }

  /** GET /backup: this member's backup state; GET /backups: the repository's backups (pgbackrest info). */
  private async backupRoute(path: string, res: http.ServerResponse, head: boolean): Promise<void> {
    const b = this.d.backup;
    if (!b) return send(res, 404, { error: "no backup repository: the agent config has no backup section" }, head);
    if (path === "/backup") return send(res, 200, b.view(), head);
    try {
      return send(res, 200, await b.list(), head);
    } catch (e) {
      return send(res, 503, { error: `cannot read the repository: ${(e as Error).message}` }, head);
    }
  }

  private async state(): Promise<{ health: HealthState; pg: PgStatus; cluster?: ClusterSnapshot }> {
    const now = this.d.now();
    if (!this.cached || now - this.cached.at > 100) this.cached = { at: now, status: this.d.pg.status() };
    const pg = await this.cached.status.catch((): PgStatus => ({ running: false }));
    const v = this.d.driver.view();
    const health: HealthState = {
      pg,
      holdsLeader: v.holdsLeader,
      leaseValid: v.leaseValid,
      noloadbalance: this.d.noloadbalance,
      formerPrimary: v.local?.dataDir.formerPrimary === true,
      standbyLeader: isStandbyLeader(v.holdsLeader, pg, v.standbyCluster !== undefined),
      leaderOptime: v.cluster?.leaderOptime,
      loopAgeMs: v.lastLoopAt === undefined ? undefined : now - v.lastLoopAt,
      ttlMs: this.d.ttlMs,
    };
    return { health, pg, cluster: v.cluster };
  }

  private patroniBody(s: { health: HealthState; pg: PgStatus }) {
    const pg = s.pg;
    const v = this.d.driver.view();
    const primary = pg.running && pg.inRecovery === false;
    return {
      state: pg.running ? "running" : v.process,
      postmaster_start_time: pg.postmasterStartTime,
      role: pg.running ? (primary ? "primary" : s.health.standbyLeader ? "standby_leader" : "replica") : "unknown",
      server_version: pg.serverVersion,
      timeline: pg.timeline,
      database_system_identifier: pg.systemId,
      xlog: primary ? { location: pg.lsn } : pg.running ? { received_location: pg.receiveLsn, replayed_location: pg.replayLsn } : undefined,
      replication_state: pg.inRecovery ? (pg.streaming ? "streaming" : "stopped") : undefined,
      lag: pg.inRecovery && !s.health.standbyLeader ? replicaLag(s.health) : undefined,
      // Ours: a standby leader's lag behind the source cluster (bytes while streaming, seconds).
      source_lag: s.health.standbyLeader ? sourceLag(pg) : undefined,
      // Patroni's /patroni: the standby_cluster a standby cluster follows.
      standby_cluster: v.standbyCluster,
      replication: primary ? pg.replication : undefined,
      // Patroni's fields: a changed parameter waits for a restart; a restart scheduled through the API.
      pending_restart: (pg.running && pg.pendingRestart) || (v.dynamic?.pending_restart.length ?? 0) > 0 || undefined,
      scheduled_restart: this.d.scheduledRestart?.(),
      patroni: { version: AGENT_VERSION, scope: this.d.scope, name: this.d.name },
      ha: {
        leader: v.cluster?.leader?.name,
        holds_leader: v.holdsLeader,
        lease_valid: v.leaseValid,
        role: v.decision?.role,
        reason: v.decision?.reason,
      },
      // Patroni's field: the others' elections skip a member that refuses leadership for want of its watchdog.
      watchdog_failed: watchdogFailed(v.watchdog) || undefined,
      // Patroni's field, present only when true: maintenance mode.
      pause: v.paused || undefined,
      // Ours: what the dynamic config changed here and what waits (PostgreSQL or agent restart, desired config).
      dynamic_config: v.dynamic,
      // Ours, not Patroni's: how long lease renewals take (the soak benchmark reads it).
      lease_renewal: v.lease,
      // Ours: archiving health on the leader (pg_stat_archiver, segments waiting, pgBackRest's reason when it fails).
      archive: this.d.backup?.view().archive,
      // Ours: this member archives to a backup repository (false: none configured; replicas keep no WAL for such a leader).
      archiving: this.d.backup !== undefined,
    };
  }
}

function send(res: http.ServerResponse, status: number, body: unknown, head: boolean): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
  res.end(head ? undefined : text);
}
