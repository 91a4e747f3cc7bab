/**
 * pgBackRest's TLS server on this member (`pgbackrest server`): a child of the agent, restarted when
 * it exits, stopped by its pid with the agent. A replica taking a backup (backup-from-standby) calls
 * the primary's server to start and stop the backup there and to copy the few files a standby does
 * not have (pg_control, the configuration files); the data files come from the replica itself.
 *
 * A child of the agent rather than a systemd unit of its own: the agent already owns the data
 * directory, the certificates and pgBackRest's config, runs as the same OS user on AWS and locally,
 * and publishes the server in its member key only while it runs, so the scheduler never picks a
 * replica whose backup path is down. An orphan left by a killed agent is found by its pid file and
 * stopped before a new one starts.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { Logger } from "../log";
import { isRunning } from "../postgres/process";
import type { BackupServerConfig } from "../contract/backup-config";

/** Restarts of a server that keeps exiting wait this long, doubling up to the maximum. */
const RESTART_MIN_MS = 1000;
const RESTART_MAX_MS = 60_000;

export interface ServerConfOptions {
  server: BackupServerConfig;
  stanza: string;
  logDir: string;
  lockDir: string;
}

/** A pgBackRest option line: one line, no control characters (a newline would inject options). */
function line(name: string, v: string | number): string {
  const s = String(v);
  // eslint-disable-next-line no-control-regex -- refusing control characters is the point
  if (/[\x00-\x1f]/.test(s)) throw new Error(`pgBackRest option ${name}: the value must not contain control characters`);
  return `${name}=${s}`;
}

/**
 * The server's own config file. Pure. It holds no repository settings or keys: a client's requests
 * carry the PostgreSQL instance they address, and the server only reaches this node's PostgreSQL.
 * Clients are admitted by their certificate's chain (caFile) and common name, for this stanza only.
 */
export function renderServerConf(o: ServerConfOptions): string {
  const s = o.server;
  return [
    "# Written by the HaPostgresCluster agent for `pgbackrest server`; changes here are overwritten.",
    "[global]",
    line("tls-server-address", s.listen.host),
    line("tls-server-port", s.listen.port),
    line("tls-server-cert-file", s.certFile),
    line("tls-server-key-file", s.keyFile),
    line("tls-server-ca-file", s.caFile),
    ...s.clients.map((cn) => line("tls-server-auth", `${cn}=${o.stanza}`)),
    line("log-path", o.logDir),
    line("lock-path", o.lockDir),
    "log-level-console=warn",
    "log-level-file=info",
    "log-level-stderr=off",
    "",
  ].join("\n");
}

export interface TlsServerOptions {
  confFile: string;
  pidFile: string;
  log: Logger;
  /** pgbackrest binary (default: from PATH). */
  bin?: string;
}

/** Runs and supervises one `pgbackrest server`. */
export class BackupTlsServer {
  private child?: ChildProcess;
  private stopped = false;
  private delay = RESTART_MIN_MS;
  private timer?: NodeJS.Timeout;
  private startedAt = 0;

  constructor(private readonly o: TlsServerOptions) {}

  /** True while the server process runs. */
  get running(): boolean {
    return this.child?.pid !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  start(): void {
    this.stopped = false;
    this.stopOrphan();
    this.spawn();
  }

  private spawn(): void {
    if (this.stopped) return;
    this.startedAt = Date.now();
    const child = spawn(this.o.bin ?? "pgbackrest", [`--config=${this.o.confFile}`, "server"], {
      stdio: ["ignore", "ignore", "pipe"],
      cwd: "/",
    });
    this.child = child;
    let stderr = "";
    child.stderr?.on("data", (c: Buffer) => (stderr = (stderr + c.toString("utf8")).slice(-2000)));
    child.on("error", (e) => this.o.log.warn({ err: e.message }, "pgBackRest TLS server: cannot start"));
    if (child.pid !== undefined) {
      fs.mkdirSync(path.dirname(this.o.pidFile), { recursive: true, mode: 0o700 });
      fs.writeFileSync(this.o.pidFile, `${child.pid}\n`, { mode: 0o600 });
      this.o.log.info({ pid: child.pid }, "pgBackRest TLS server started");
    }
    child.on("exit", (code, signal) => {
      if (this.stopped) return;
      // A server that ran for a while starts again at once; one that keeps exiting backs off.
      this.delay = Date.now() - this.startedAt > RESTART_MAX_MS ? RESTART_MIN_MS : Math.min(this.delay * 2, RESTART_MAX_MS);
      this.o.log.warn(
        { code, signal, err: stderr.trim().split("\n").slice(-3).join(" ") || undefined, retryMs: this.delay },
        "pgBackRest TLS server exited: starting it again",
      );
      this.timer = setTimeout(() => this.spawn(), this.delay);
      this.timer.unref();
    });
  }

  /** Stops the server by its pid (SIGTERM, then SIGKILL after 3 s) and removes the pid file. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const pid = this.pid;
    if (pid !== undefined) await stopPid(pid, 3000);
    fs.rmSync(this.o.pidFile, { force: true });
  }

  /** A server left running by an agent that was killed holds the port: stop it, by the pid it recorded. */
  private stopOrphan(): void {
    let pid: number;
    try {
      pid = Number(fs.readFileSync(this.o.pidFile, "utf8").trim());
    } catch {
      return;
    }
    if (!Number.isInteger(pid) || pid <= 1 || !isRunning(pid)) return;
    let cmd: string;
    try {
      cmd = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8");
    } catch {
      return;
    }
    if (!cmd.includes(`--config=${this.o.confFile}`)) return; // the pid was reused by another process
    this.o.log.warn({ pid }, "stopping the pgBackRest TLS server an earlier run of the agent left behind");
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone meanwhile
    }
  }
}

async function stopPid(pid: number, graceMs: number): Promise<void> {
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(pid, s);
    } catch {
      // already gone
    }
  };
  signal("SIGTERM");
  const deadline = Date.now() + graceMs;
  while (isRunning(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (isRunning(pid)) signal("SIGKILL");
}
