/**
 * The operator's commands on this member behind POST/DELETE /restart, POST /reload and
 * POST /reinitialize (Patroni's routes and bodies). Requests are checked by the pure rules of
 * ./restart-request.ts; the work goes to the one owner of PostgreSQL (postgres/owner.ts), which
 * marks it in progress so the HA loop leaves the process alone (row OP1 of docs/ha-states.md).
 */
import type { ClusterSnapshot, Dcs } from "../dcs/types";
import type { HaDriver } from "../ha/driver";
import { hostPortOf } from "../ha/decide";
import type { Logger } from "../log";
import type { PostgresOwner } from "../postgres/owner";
import type { PgStatus } from "../postgres/types";
import type { Reply } from "./reply";
import { type MemberNow, type RestartRequest, reinitProblem, restartProblem } from "./restart-request";

export interface MemberOpsDeps {
  name: string;
  pg: Pick<PostgresOwner, "status" | "restart" | "reload" | "reinitialize" | "operation" | "operationDone" | "answers">;
  driver: Pick<HaDriver, "view" | "requestLoop" | "mayRestartAsPrimary" | "restarted">;
  dcs: Pick<Dcs, "load">;
  wallNow: () => number;
  log: Logger;
  /**
   * Re-reads what the agent applies without restarting (the agent config file's PostgreSQL
   * parameters); returns what it changed. Throws (nothing changed) when the file is refused.
   */
  rereadConfig?: () => string[];
}

/** setTimeout's longest delay; a schedule further out waits in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class MemberOperations {
  private scheduled?: { request: RestartRequest; timer: NodeJS.Timeout };

  constructor(private readonly d: MemberOpsDeps) {}

  /** Shown in /patroni as Patroni does (`scheduled_restart`). */
  scheduledRestart(): { schedule: string; restart_pending?: boolean; role?: string } | undefined {
    const r = this.scheduled?.request;
    if (!r?.schedule) return undefined;
    return { schedule: r.schedule, ...(r.restartPending ? { restart_pending: true } : {}), ...(r.role ? { role: r.role } : {}) };
  }

  /** POST /restart: now (200 once it runs again, 503 when conditions are not met or it failed) or scheduled (202). */
  async restart(request: RestartRequest): Promise<Reply> {
    if (request.scheduleAt === undefined) return this.restartNow(request);
    if (this.scheduled) {
      return {
        status: 409,
        body: {
          error: `another restart is already scheduled (at ${this.scheduled.request.schedule}): cancel it first with DELETE /restart`,
        },
      };
    }
    this.arm(request);
    this.d.log.info({ request }, `restart scheduled at ${request.schedule}`);
    return { status: 202, body: { message: `Restart scheduled at ${request.schedule}` } };
  }

  /** DELETE /restart. */
  cancelScheduled(): Reply {
    if (!this.scheduled) return { status: 404, body: { error: "no restarts are scheduled" } };
    clearTimeout(this.scheduled.timer);
    const at = this.scheduled.request.schedule;
    this.scheduled = undefined;
    this.d.log.info(`scheduled restart (at ${at}) cancelled through the API`);
    return { status: 200, body: { message: `scheduled restart (at ${at}) deleted` } };
  }

  /** POST /reload: the agent re-reads what it may, rewrites its PostgreSQL files and has PostgreSQL re-read them. */
  async reload(): Promise<Reply> {
    let changed: string[];
    try {
      changed = this.d.rereadConfig?.() ?? [];
    } catch (e) {
      return { status: 400, body: { error: `reload refused, nothing changed: ${(e as Error).message}` } };
    }
    let pendingRestart: boolean | undefined;
    try {
      ({ pendingRestart } = await this.d.pg.reload());
    } catch (e) {
      return { status: 503, body: { error: `reload failed: ${(e as Error).message}` } };
    }
    this.d.driver.requestLoop("reloaded");
    const what = changed.length ? `applied ${changed.join(", ")}; ` : "";
    const pending =
      pendingRestart === undefined ? "PostgreSQL is not running" : pendingRestart ? "a restart is pending" : "no restart pending";
    this.d.log.info({ changed, pendingRestart }, "reloaded through the API");
    // 202 as Patroni answers (patronictl reads it as "reload received"); here the reload is already done.
    return { status: 202, body: { message: `reloaded: ${what}${pending}`, pending_restart: pendingRestart === true } };
  }

  /** POST /reinitialize: refused on the leader and without a running leader; else started (200) and run in the background. */
  async reinitialize(force: boolean): Promise<Reply> {
    const cluster: ClusterSnapshot | undefined = await this.d.dcs.load().catch(() => undefined);
    const now = await this.memberNow();
    const problem = reinitProblem(cluster, this.d.name, now, force);
    if (problem) {
      this.d.log.info(`reinitialize refused: ${problem}`);
      return { status: 503, body: { error: problem } };
    }
    const leader = cluster!.members.find((m) => m.name === cluster!.leader!.name)!;
    const source = hostPortOf(leader);
    if (!source || !(await this.d.pg.answers(source))) {
      return { status: 503, body: { error: `leader ${leader.name} does not accept connections now: nothing was changed; try again` } };
    }
    const run = async () => {
      if (force) await this.d.pg.operationDone();
      this.d.log.info({ source }, `reinitialize: rebuilding this replica from leader ${leader.name}`);
      await this.d.pg.reinitialize(source);
    };
    void run().then(
      () => {
        this.d.log.info(`reinitialize done: streaming from ${leader.name}`);
        this.d.driver.requestLoop("reinitialized");
      },
      (e) => {
        this.d.log.error({ err: (e as Error).message }, "reinitialize failed; the HA loop takes over");
        this.d.driver.requestLoop("reinitialize failed");
      },
    );
    return { status: 200, body: { message: `reinitialize started: copying from leader ${leader.name}` } };
  }

  close(): void {
    if (this.scheduled) clearTimeout(this.scheduled.timer);
    this.scheduled = undefined;
  }

  private async memberNow(): Promise<MemberNow> {
    const st = await this.d.pg.status().catch((): PgStatus => ({ running: false }));
    return {
      running: st.running,
      role: st.running ? (st.inRecovery ? "replica" : "primary") : undefined,
      pendingRestart: st.pendingRestart,
      operation: this.d.pg.operation,
    };
  }

  private async restartNow(r: RestartRequest): Promise<Reply> {
    const problem = restartProblem(r, await this.memberNow());
    if (problem) {
      this.d.log.info(`restart refused: ${problem}`);
      return { status: 503, body: { error: problem } };
    }
    const t0 = Date.now();
    this.d.log.info({ request: r }, "restart requested: stopping PostgreSQL (fast) and starting it again in the same role");
    try {
      const result = await this.d.pg.restart({ timeoutS: r.timeoutS, mayStartPrimary: () => this.d.driver.mayRestartAsPrimary() });
      if (result === "stopped") {
        const error =
          "restart: PostgreSQL stopped but was not started again as the primary: this member no longer held the leader key " +
          "under a valid lease; the HA loop decides what it becomes (see its log)";
        this.d.log.warn(error);
        return { status: 503, body: { error } };
      }
      this.d.log.info({ ms: Date.now() - t0 }, "restarted through the API");
      return { status: 200, body: { message: `restarted successfully (${Date.now() - t0} ms)` } };
    } catch (e) {
      this.d.log.error({ err: (e as Error).message }, "restart failed");
      return { status: 503, body: { error: `restart failed: ${(e as Error).message}` } };
    } finally {
      await this.d.driver.restarted();
    }
  }

  /** The timer of a scheduled restart; the conditions are checked when it fires, as for one asked now. */
  private arm(request: RestartRequest): void {
    const wait = request.scheduleAt! - this.d.wallNow();
    const timer = setTimeout(
      () => {
        if (wait > MAX_TIMER_MS) return this.arm(request);
        this.scheduled = undefined;
        void this.restartNow(request).then((reply) =>
          this.d.log.info({ status: reply.status, answer: reply.body }, `scheduled restart (at ${request.schedule}) ran`),
        );
      },
      Math.max(0, Math.min(wait, MAX_TIMER_MS)),
    );
    timer.unref();
    this.scheduled = { request, timer };
  }
}
