/**
 * Ownership of the postmaster process: start it ourselves (so its exit is an event, not a poll),
 * adopt one a previous agent left running, watch it, stop it with escalation, fence it.
 */
import type { ChildProcess } from "node:child_process";
import * as path from "node:path";
import {
  childPids,
  isPostgresProcess,
  isRunning,
  processState,
  readPostmasterPid,
  removeStaleLockFiles,
  signalIfAlive,
  sleep,
  spawnPostmaster,
  tailFile,
  type RunAs,
} from "./process";
import { socketPath } from "./conf";
import { canConnect } from "./sql";

/** pino-compatible: (fields, message). */
export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export type StopMode = "smart" | "fast" | "immediate";

export interface ExitInfo {
  pid: number;
  /** Exit code when we are the parent; null when killed by a signal or when adopted (not our child: unknown). */
  code: number | null;
  signal: NodeJS.Signals | null;
  adopted: boolean;
}

export interface PostmasterOptions {
  binDir: string;
  dataDir: string;
  socketDir: string;
  port: number;
  superuser: string;
  logFile: string;
  runAs?: RunAs;
  logger: Logger;
  /** Seconds: smart → fast and fast → immediate escalation (0 smart = skip smart). */
  stopTimeouts: { smart: number; fast: number };
}

/** How long an immediate shutdown (SIGQUIT) may take before SIGKILL: the fence budget is ~1.5 s in all. */
const IMMEDIATE_TIMEOUT_MS = 1000;
const KILL_TIMEOUT_MS = 400;
/** An adopted postmaster is not our child: no exit event, so we poll. */
const ADOPTED_POLL_MS = 200;
const STOP_POLL_MS = 10;

interface Tracked {
  pid: number;
  adopted: boolean;
  gone: Promise<void>;
  unwatch: () => void;
}

export class Postmaster {
  private current?: Tracked;
  /** Pids we asked to exit (stop, fence) or that are mid-start: their exit is not "unexpected". */
  private readonly expected = new Set<number>();
  private readonly exitListeners = new Set<(e: ExitInfo) => void>();
  private readonly realDataDir: string;

  constructor(private readonly o: PostmasterOptions) {
    this.realDataDir = path.resolve(o.dataDir);
  }

  onUnexpectedExit(cb: (e: ExitInfo) => void): () => void {
    this.exitListeners.add(cb);
    return () => this.exitListeners.delete(cb);
  }

  /**
   * The live postmaster of this data directory: the one we track, else the one postmaster.pid names
   * if that pid is a running postgres (a stale file after a crash, or a reused pid, gives undefined).
   */
  livePid(): number | undefined {
    if (this.current && isRunning(this.current.pid)) return this.current.pid;
    const file = readPostmasterPid(this.o.dataDir);
    if (!file || !isRunning(file.pid) || !isPostgresProcess(file.pid)) return undefined;
    if (file.dataDir && path.resolve(file.dataDir) !== this.realDataDir) return undefined;
    return file.pid;
  }

  /** Takes over a postmaster a previous agent started (no second start). false when none is alive. */
  adopt(): boolean {
    if (this.current && isRunning(this.current.pid)) return true;
    const pid = this.livePid();
    if (pid === undefined) return false;
    this.track(pid, undefined);
    this.o.logger.info({ pid, state: readPostmasterPid(this.o.dataDir)?.status }, "adopted running postmaster");
    return true;
  }

  private track(pid: number, child: ChildProcess | undefined): void {
    this.current?.unwatch();
    let resolveGone!: () => void;
    const gone = new Promise<void>((r) => (resolveGone = r));
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      unwatch();
      resolveGone();
      this.onGone({ pid, code, signal, adopted: child === undefined });
    };
    let unwatch: () => void;
    if (child) {
      const onExit = (code: number | null, signal: NodeJS.Signals | null) => finish(code, signal);
      child.once("exit", onExit);
      unwatch = () => child.off("exit", onExit);
    } else {
      const timer = setInterval(() => {
        if (!isRunning(pid)) finish(null, null);
      }, ADOPTED_POLL_MS);
      timer.unref();
      unwatch = () => clearInterval(timer);
    }
    this.current = { pid, adopted: !child, gone, unwatch: () => unwatch() };
  }

  private onGone(e: ExitInfo): void {
    if (this.current?.pid === e.pid) this.current = undefined;
    if (this.expected.delete(e.pid)) {
      this.o.logger.info({ ...e }, "postmaster exited");
      return;
    }
    this.o.logger.error({ ...e, log: tailFile(this.o.logFile, 5) }, "postmaster exited unexpectedly");
    for (const cb of this.exitListeners) {
      try {
        cb(e);
      } catch (err) {
        this.o.logger.error({ err: (err as Error).message }, "onUnexpectedExit listener threw");
      }
    }
  }

  /**
   * Before anything runs a server on this data directory (start, pg_rewind's single-user recovery):
   * the lock files of a postmaster that no longer runs go (process.ts removeStaleLockFiles).
   */
  clearStaleLocks(): void {
    if (this.livePid() !== undefined) return;
    const stale = removeStaleLockFiles(this.o.dataDir, `${socketPath(this.o.socketDir, this.o.port)}.lock`);
    if (stale.length) this.o.logger.warn({ removed: stale }, "removed the lock files of a postmaster that no longer runs");
  }

  /** Spawns `postgres -D` and waits until it accepts connections. Returns the pid. */
  async start(readyTimeoutMs: number): Promise<number> {
    const running = this.livePid();
    if (running !== undefined) throw new Error(`a postmaster (pid ${running}) already runs on ${this.o.dataDir}`);
    this.clearStaleLocks();
    const t0 = Date.now();
    const child = spawnPostmaster(path.join(this.o.binDir, "postgres"), this.o.dataDir, this.o.logFile, this.o.runAs);
    const pid = child.pid;
    if (pid === undefined) {
      const err = await new Promise<Error>((r) => child.once("error", r));
      throw new Error(`could not start postgres: ${err.message}`);
    }
    this.expected.add(pid); // an exit during startup fails start(); it is not a crash to report
    this.track(pid, child);
    this.o.logger.info({ pid, logFile: this.o.logFile }, "postmaster spawned, waiting until it accepts connections");
    try {
      await this.waitReady(pid, readyTimeoutMs);
    } finally {
      if (isRunning(pid)) this.expected.delete(pid);
    }
    this.o.logger.info({ pid, ms: Date.now() - t0 }, "postgres accepts connections");
    return pid;
  }

  private async waitReady(pid: number, timeoutMs: number): Promise<void> {
    const t0 = Date.now();
    let nextProgress = t0 + 5000;
    for (;;) {
      if (!isRunning(pid)) {
        throw new Error(`postgres exited during startup; last log lines:\n${tailFile(this.o.logFile, 10)}`);
      }
      const probe = await canConnect({ socketDir: this.o.socketDir, port: this.o.port, user: this.o.superuser }, 1000);
      if (probe.ok) return;
      const now = Date.now();
      if (now - t0 > timeoutMs) {
        throw new Error(`postgres (pid ${pid}) did not accept connections within ${Math.round(timeoutMs / 1000)} s: ${probe.error}`);
      }
      if (now >= nextProgress) {
        nextProgress = now + 5000;
        const state = readPostmasterPid(this.o.dataDir)?.status;
        this.o.logger.info({ pid, waitedMs: now - t0, state, lastError: probe.error }, "still waiting for postgres to accept connections");
      }
      await sleep(100);
    }
  }

  /** true once pid is gone (exit event for our child, else /proc), false after timeoutMs. */
  private async waitGone(pid: number, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    const tracked = this.current?.pid === pid ? this.current.gone : undefined;
    while (isRunning(pid)) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await Promise.race([sleep(Math.min(STOP_POLL_MS, left)), ...(tracked ? [tracked] : [])]);
    }
    return true;
  }

  /** SIGKILL the postmaster and its children (backends would otherwise outlive a frozen postmaster). */
  private async kill(pid: number): Promise<void> {
    const children = childPids(pid);
    signalIfAlive(pid, "SIGKILL");
    for (const c of children) signalIfAlive(c, "SIGKILL");
    if (!(await this.waitGone(pid, KILL_TIMEOUT_MS))) throw new Error(`postmaster ${pid} survived SIGKILL`);
  }

  /**
   * Shutdown with escalation. Each level sends one signal to the postmaster and waits:
   *   smart     SIGTERM: no new connections, waits for clients to leave — stopTimeouts.smart s (0: skipped)
   *   fast      SIGINT:  disconnects clients, aborts transactions, checkpoints — stopTimeouts.fast s
   *   immediate SIGQUIT: everything exits at once, crash recovery on next start — 1 s
   * then SIGKILL to the postmaster and its children (0.4 s). `mode` is the level to begin with.
   */
  async stop(mode?: StopMode): Promise<void> {
    const pid = this.livePid();
    if (pid === undefined) {
      this.o.logger.info({}, "stop: postgres is not running");
      return;
    }
    const levels: [StopMode, NodeJS.Signals, number][] = [
      ["smart", "SIGTERM", this.o.stopTimeouts.smart * 1000],
      ["fast", "SIGINT", this.o.stopTimeouts.fast * 1000],
      ["immediate", "SIGQUIT", IMMEDIATE_TIMEOUT_MS],
    ];
    const first = mode ?? (this.o.stopTimeouts.smart > 0 ? "smart" : "fast");
    this.expected.add(pid);
    for (const [level, sig, timeoutMs] of levels.slice(levels.findIndex((l) => l[0] === first))) {
      if (timeoutMs <= 0) continue;
      const t0 = Date.now();
      signalIfAlive(pid, sig);
      if (await this.waitGone(pid, timeoutMs)) {
        this.o.logger.info({ pid, mode: level, ms: Date.now() - t0 }, "postgres stopped");
        return;
      }
      this.o.logger.warn({ pid, mode: level, timeoutMs }, "postgres did not stop in time: escalating");
    }
    await this.kill(pid);
    this.o.logger.warn({ pid }, "postgres killed with SIGKILL");
  }

  /**
   * Stops accepting writes as fast as possible: SIGQUIT, then SIGKILL (postmaster and backends) if it
   * is not gone within 1 s — or at once if it is stopped (SIGSTOP): it cannot act on SIGQUIT then
   * while its backends still serve clients. Returns within ~1.5 s.
   */
  async fence(): Promise<void> {
    const pid = this.livePid();
    if (pid === undefined) return;
    this.expected.add(pid);
    const t0 = Date.now();
    if (processState(pid) === "T") {
      await this.kill(pid);
    } else {
      signalIfAlive(pid, "SIGQUIT");
      if (!(await this.waitGone(pid, IMMEDIATE_TIMEOUT_MS))) await this.kill(pid);
    }
    this.o.logger.warn({ pid, ms: Date.now() - t0 }, "fenced: postgres stopped immediately");
  }

  /** Stops watching (the agent is exiting); PostgreSQL keeps running for the next agent to adopt. */
  close(): void {
    this.current?.unwatch();
    this.current = undefined;
  }
}
