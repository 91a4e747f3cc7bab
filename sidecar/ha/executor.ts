/**
 * Executes the decision's actions in order against etcd and the PostgreSQL owner. The first action
 * that fails (returns false or throws) stops the list: e.g. a lost `acquireLeader` race means no
 * `promote`. Actions that make this node writable re-check the lease at execution time, because it
 * may have lapsed since the decision was taken. The process state is the owner's: commands move it,
 * the executor never writes it.
 */
import { stampHistory } from "./history";
import { LeaseLostError, type Dcs, type Member } from "../dcs/types";
import type { Logger } from "../log";
import type { PostgresOwner } from "../postgres/owner";
import type { Clock } from "./clock";
import type { LeaseKeeper } from "./lease";
import type { Action, AgentMemory, PeerView, SelfConfig, WatchdogControl } from "./types";
import type { FailsafeKeeper } from "./failsafe-keeper";

/** How often a hand-over asks the candidate for its received position. */
const HAND_OVER_POLL_MS = 20;

export interface ExecutorDeps {
  self: SelfConfig;
  dcs: Dcs;
  pg: PostgresOwner;
  clock: Clock;
  log: Logger;
  lease: LeaseKeeper;
  memory: AgentMemory;
  isLeaseValid: () => boolean;
  watchdog: WatchdogControl;
  /** Fresh views of members from their REST APIs (the hand-over asks the candidate). */
  fetchPeers: (members: Member[]) => Promise<PeerView[]>;
  /** Failsafe mode's race guard (a confirmation given to a failsafe leader forbids racing for ttl). */
  failsafe?: Pick<FailsafeKeeper, "beginRace" | "endRace" | "keyTaken">;
  /** Runs before initdb (the desired dynamic config goes into etcd and the new server's config first). */
  beforeBootstrap?: () => Promise<void>;
}

export class ActionExecutor {
  private lastOptime?: number;
  private lastSlots?: string;
  /** A checkpoint owed after a promotion in a synchronous mode: run once the plan released the promotion's wait. */
  private checkpointDue = false;

  constructor(private readonly d: ExecutorDeps) {}

  async run(actions: Action[]): Promise<boolean> {
    for (const action of actions) {
      const t0 = this.d.clock.now();
      let ok: boolean;
      try {
        ok = await this.execute(action);
      } catch (e) {
        this.d.log.error({ action: action.type, err: e instanceof Error ? e.message : String(e) }, `action ${action.type} failed`);
        ok = false;
      }
      const ms = Math.round(this.d.clock.now() - t0);
      if (action.type !== "publishOptime" && action.type !== "syncSlots")
        this.d.log.info({ action: action.type, ok, ms }, `action ${action.type} ${ok ? "done" : "did not succeed"}`);
      if (!ok) return false;
    }
    return true;
  }

  private async execute(a: Action): Promise<boolean> {
    const { dcs, pg, self, memory } = this.d;
    switch (a.type) {
      case "claimInitialize":
        memory.initializing = await dcs.attemptInitialize("");
        return memory.initializing;
      case "bootstrap":
        try {
          await this.d
            .beforeBootstrap?.()
            .catch((e: unknown) =>
              this.d.log.warn(
                { err: String(e) },
                "cannot apply the desired dynamic config before bootstrap; bootstrapping with the agent file's",
              ),
            );
          const systemId = a.standby ? await pg.copySource(a.standby) : a.fromBackup ? await pg.restore() : await pg.bootstrap();
          await dcs.finishInitialize("", systemId);
          memory.initializing = false;
          return true;
        } catch (e) {
          this.d.log.error({ err: String(e) }, "bootstrap failed: giving the initialize key back so another member can try");
          await dcs.cancelInitialize("").catch(() => undefined);
          await pg.stop("immediate").catch(() => undefined);
          await pg.wipe().catch(() => undefined);
          memory.initializing = false;
          throw e;
        }
      case "acquireLeader":
        return this.acquireLeader(a.handedOverBy);
      case "updateLeader": {
        memory.syncSwitchLsn = undefined;
        const ok = await dcs.attemptUpdateLeader(self.name, await this.d.lease.ensure());
        if (ok) this.keyTaken();
        return ok;
      }
      case "releaseLeader":
        return a.to === undefined ? dcs.releaseLeader(self.name) : dcs.releaseLeader(self.name, a.to);
      case "promote":
        if (!this.d.isLeaseValid()) return this.refuse("promote");
        await pg.promote(a.synchronousStandbys);
        this.lastSlots = undefined;
        // Until the new timeline is in pg_control, pg_rewind against us would compare the old
        // timeline and wrongly find "no rewind required": checkpoint soon. The new leader's first
        // plan (which releases the promotion's wait) and its slots must not queue behind it: in a
        // synchronous mode it follows them, at the end of that loop's row P1.
        this.checkpointDue = true;
        if (!a.synchronousStandbys) this.checkpointAfterPromotion();
        return true;
      case "startPrimary":
        if (!this.d.isLeaseValid()) return this.refuse("startPrimary");
        await pg.startPrimary(a.synchronousStandbys);
        memory.handOver = undefined; // a hand-over that did not finish: we lead again
        return true;
      case "startReplica":
        try {
          await pg.startReplica(a.upstream ?? null);
          memory.replicaStartFailures = 0;
          if (a.upstream) memory.handOver = undefined;
          return true;
        } catch (e) {
          memory.replicaStartFailures = (memory.replicaStartFailures ?? 0) + 1;
          throw e;
        }
      case "followLeader":
        await pg.followUpstream(a.upstream);
        return true;
      case "rewind": {
        const result = await pg.rewind(a.upstream);
        // Only a real failure leads to a fresh copy; an unreachable leader is asked again next loop.
        if (result === "failed") memory.rewindFailed = true;
        return result === "done";
      }
      case "baseBackup":
        // The copy starts by wiping: never before the leader answers, or a leader that just died
        // would leave this member with nothing (it may be the one a failover needs).
        if (!(await pg.answers(a.upstream))) {
          const at = `${a.upstream.host}:${a.upstream.port}`;
          throw new Error(`leader ${a.leader} at ${at} does not answer: keeping the data directory until it does`);
        }
        await pg.createReplica(a.upstream);
        memory.rewindFailed = false;
        memory.replicaStartFailures = 0;
        return true;
      case "restoreReplica":
        // Nothing is wiped before the restore: the data directory is empty (row B2), and the source
        // is the backup repository, not the leader, so a leader that just died costs nothing here.
        await pg.restoreReplica({ timeline: a.timeline, history: a.history });
        memory.rewindFailed = false;
        memory.replicaStartFailures = 0;
        return true;
      case "armWatchdog":
        return this.armWatchdog();
      case "disarmWatchdog":
        this.d.watchdog.disarm();
        return true;
      case "demote":
      case "fence":
        await pg.fence();
        return true;
      case "publishOptime":
        if (a.lsn !== this.lastOptime) {
          await dcs.putLeaderOptime(a.lsn);
          this.lastOptime = a.lsn;
        }
        return true;
      case "publishHistory":
        return dcs.attemptWriteHistory(self.name, stampHistory(a.lines, new Date().toISOString(), self.name));
      case "writeSync":
        return dcs.attemptWriteSync(self.name, a.standbys, a.quorum);
      case "setSyncStandbys":
        await pg.setSynchronousStandbys(a.names, a.count);
        memory.syncSwitchLsn = (await pg.status()).lsn;
        return true;
      case "stopForHandOver":
        return this.stopForHandOver(a.candidate);
      case "stopForStandby": {
        // A fast shutdown: new writes refused at once, every WAL record up to the shutdown checkpoint
        // sent to the connected standbys (the other cluster's standby leader among them).
        await pg.stop("fast");
        const info = await pg.dataDirInfo();
        if (info.checkpointLsn !== undefined) await dcs.putLeaderOptime(info.checkpointLsn);
        return true;
      }
      case "awaitCandidate":
        return this.awaitCandidate(a.candidate);
      case "clearFailover":
        await dcs.putFailover(undefined);
        return true;
      case "writeFailsafe": {
        // Until the write is known to have happened, the members it lists are asked too (./failsafe.ts).
        const fs = (memory.failsafe ??= {});
        fs.pending = a.members;
        const ok = await dcs.attemptWriteFailsafe(self.name, a.members);
        if (ok) {
          fs.members = a.members && { ...a.members };
          fs.pending = undefined;
        }
        return ok;
      }
      case "syncSlots": {
        const key = [...a.members].sort().join(",");
        if (key !== this.lastSlots) {
          await pg.syncSlots(a.members);
          this.lastSlots = key;
        }
        this.checkpointAfterPromotion(); // the end of the leader's row P1, whatever its plan did
        return true;
      }
    }
  }

  /**
   * The create-if-absent race. A member that confirmed a failsafe leader within ttl does not send it
   * (the confirmation may have arrived after the decision), and refuses confirmations while it runs.
   */
  private async acquireLeader(handedOverBy?: string): Promise<boolean> {
    const leaseId = await this.d.lease.ensure();
    if (this.d.failsafe && !this.d.failsafe.beginRace(handedOverBy)) {
      this.d.log.info("not racing for the leader key: this member confirmed a failsafe leader less than ttl ago");
      return false;
    }
    // A transaction that timed out may still have happened: count it as won (no confirmations for ttl).
    // etcd's "lease not found" is an answer: no key can be bound to a lease that does not exist.
    let won = true;
    try {
      won = await this.d.dcs.attemptAcquireLeader(this.d.self.name, leaseId);
    } catch (e) {
      if (e instanceof LeaseLostError) won = false;
      throw e;
    } finally {
      this.d.failsafe?.endRace(won);
    }
    this.d.log.info({ won }, won ? "won the leader race" : "another member won the leader race");
    if (won) {
      // A new term: the synchronous wait of an earlier one says nothing about the commits of this one.
      this.d.memory.syncSwitchLsn = undefined;
      this.keyTaken();
    }
    return won;
  }

  /** The key is bound to our current lease: its renewals count again and pet an armed watchdog. */
  private keyTaken(): void {
    this.d.failsafe?.keyTaken();
    this.d.watchdog.rebind?.(this.d.lease);
  }

  /**
   * Arms the watchdog before PostgreSQL may take writes. Opening it starts the countdown, which must
   * end before the lease can expire: if the last renewal is too old for that, renew first. With mode
   * "automatic" a device that cannot be armed is logged and the leader goes on without it.
   */
  private async armWatchdog(): Promise<boolean> {
    const { watchdog, lease } = this.d;
    let result = watchdog.arm(lease);
    if (result === "late") {
      await lease.renewOnce();
      result = watchdog.arm(lease);
    }
    if (result === "late")
      this.d.log.warn("cannot arm the watchdog: the lease renewal did not come back soon enough after it was sent; trying again next loop");
    if (result === "failed" && watchdog.view().mode === "automatic") {
      this.d.log.warn("going on without the watchdog (watchdog.mode automatic)");
      return true;
    }
    return result === "armed";
  }

  /**
   * A fast shutdown: new writes are refused at once, and PostgreSQL sends every WAL record up to its
   * shutdown checkpoint to the connected standbys before it exits. The checkpoint is published as
   * the leader's last position, so the candidate (and anyone else) measures itself against it.
   */
  private async stopForHandOver(candidate: string): Promise<boolean> {
    await this.d.pg.stop("fast");
    const info = await this.d.pg.dataDirInfo();
    if (info.checkpointLsn === undefined) throw new Error("no checkpoint position after the clean shutdown: cannot hand over safely");
    this.d.memory.handOver = { candidate, checkpointLsn: info.checkpointLsn };
    await this.d.dcs.putLeaderOptime(info.checkpointLsn);
    // The request may name no candidate (the leader picked one): name it now, so that only it takes
    // the key and the others (this member included) wait for it instead of racing.
    await this.d.dcs.putFailover({ leader: this.d.self.name, member: candidate });
    return true;
  }

  /**
   * Waits (at most ttl) until the candidate has received up to our shutdown checkpoint. When it does
   * not, the hand-over is abandoned: the request is dropped and the next loop restarts PostgreSQL as
   * the primary under the key we still hold (row S1). A candidate whose member key says "stopping" or
   * is gone (its agent stopped, or its lease expired) can take nothing over: abandoned at once, not
   * after ttl (the whole cluster stopped at once: every agent's planned stop).
   */
  private async awaitCandidate(candidate: string): Promise<boolean> {
    const h = this.d.memory.handOver;
    if (!h) return false;
    const { clock, self } = this.d;
    const deadline = clock.now() + self.ttlMs;
    let seen: number | undefined;
    let gone = false;
    for (;;) {
      const member = (await this.d.dcs.load()).members.find((m) => m.name === candidate);
      const view = member ? (await this.d.fetchPeers([member]))[0] : undefined;
      seen = view?.lsn ?? seen;
      if (view?.reachable && view.lsn !== undefined && view.lsn >= h.checkpointLsn) return true;
      if (!member || member.data.state === "stopping") {
        gone = true;
        break;
      }
      if (clock.now() >= deadline) break;
      await new Promise<void>((resolve) => clock.setTimeout(resolve, HAND_OVER_POLL_MS));
    }
    this.d.log.error(
      { candidate, checkpointLsn: h.checkpointLsn, candidateLsn: seen },
      gone
        ? `switchover abandoned: ${candidate} is stopping (or its member key is gone) and did not receive our shutdown checkpoint; restarting as the primary`
        : `switchover abandoned: ${candidate} did not receive our shutdown checkpoint within ${self.ttlMs} ms; restarting as the primary`,
    );
    this.d.memory.handOver = undefined;
    await this.d.dcs.putFailover(undefined).catch(() => undefined);
    return false;
  }

  private checkpointAfterPromotion(): void {
    if (!this.checkpointDue) return;
    this.checkpointDue = false;
    void this.d.pg.checkpoint().catch((e) => this.d.log.warn({ err: String(e) }, "checkpoint after promotion failed"));
  }

  private refuse(what: string): boolean {
    this.d.log.warn(`not running ${what}: our lease may have lapsed since the decision`);
    return false;
  }
}
