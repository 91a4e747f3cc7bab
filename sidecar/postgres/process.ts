/** Child processes and the postmaster's lock file: the OS-level helpers behind PostgresManager. */
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

/** Run children as this user (the agent runs as root only in tests: PostgreSQL refuses root). */
export interface RunAs {
  uid: number;
  gid: number;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export class ToolError extends Error {
  constructor(
    readonly tool: string,
    readonly result: RunResult,
  ) {
    const why = result.signal ? `killed by ${result.signal}` : `exit code ${result.code}`;
    super(`${tool} failed (${why}): ${lastLines(result.stderr || result.stdout, 8)}`);
    this.name = "ToolError";
  }
}

export function lastLines(text: string, n: number): string {
  return text.trimEnd().split("\n").slice(-n).join("\n");
}

/**
 * A minimal environment for children: the agent's own environment may hold passwords
 * (postgres.*.passwordEnv) that must not leak into PostgreSQL or its tools. LC_ALL=C keeps tool
 * output in English for parsing.
 */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? "/usr/bin:/bin", LC_ALL: "C", ...extra };
}

export interface RunOptions {
  runAs?: RunAs;
  env?: Record<string, string>;
  timeoutMs?: number;
  /** Called with each stderr chunk as it arrives (progress reporting). */
  onStderr?: (chunk: string) => void;
  /** Called with each stdout chunk as it arrives. */
  onStdout?: (chunk: string) => void;
}

/** Runs a tool to completion; never rejects for a non-zero exit (see runToolChecked). */
export function runTool(file: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    // cwd "/": the service user may not be able to read the agent's working directory.
    const child = spawn(file, args, {
      cwd: "/",
      env: childEnv(opts.env),
      stdio: ["ignore", "pipe", "pipe"],
      uid: opts.runAs?.uid,
      gid: opts.runAs?.gid,
      timeout: opts.timeoutMs,
      killSignal: "SIGKILL",
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => {
      stdout += c;
      opts.onStdout?.(c);
    });
    child.stderr.setEncoding("utf8").on("data", (c: string) => {
      stderr += c;
      opts.onStderr?.(c);
    });
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** runTool, rejecting with a ToolError (stderr tail included) unless the tool exits 0. */
export async function runToolChecked(file: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const result = await runTool(file, args, opts);
  if (result.code !== 0) throw new ToolError(path.basename(file), result);
  return result;
}

/** The postmaster.pid lines PostgreSQL documents (src/include/utils/pidfile.h). */
export interface PostmasterPidFile {
  pid: number;
  dataDir: string;
  startTime: number;
  port: number;
  socketDir: string;
  listenAddr: string;
  /** "starting", "stopping", "ready" or "standby"; absent in the first moments of startup. */
  status?: string;
}

export function readPostmasterPid(dataDir: string): PostmasterPidFile | undefined {
  let text: string;
  try {
    text = fs.readFileSync(path.join(dataDir, "postmaster.pid"), "utf8");
  } catch {
    return undefined;
  }
  const l = text.split("\n").map((s) => s.trim());
  const pid = Number(l[0]);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return {
    pid,
    dataDir: l[1] ?? "",
    startTime: Number(l[2]),
    port: Number(l[3]),
    socketDir: l[4] ?? "",
    listenAddr: l[5] ?? "",
    status: l[7] || undefined,
  };
}

/**
 * Removes the lock files of a postmaster that no longer runs: the data directory's postmaster.pid
 * and the socket's lock (`<socketDir>/.s.PGSQL.<port>.lock`, outside the data directory, so a wiped
 * data directory still finds it). Call only when no postmaster of this data directory runs.
 * PostgreSQL clears a stale lock itself only when its pid is gone; on a new instance (a volume moved
 * from a killed one) that pid often belongs to another process of the same user, and the server then
 * refuses to start ("lock file already exists") for good. A socket lock naming a running postgres is
 * left alone. Returns the paths removed.
 */
export function removeStaleLockFiles(dataDir: string, socketLock: string): string[] {
  const lockPid = (file: string): number | undefined => {
    try {
      return Number(fs.readFileSync(file, "utf8").split("\n")[0]);
    } catch {
      return undefined;
    }
  };
  const removed: string[] = [];
  const pidFile = path.join(dataDir, "postmaster.pid");
  if (lockPid(pidFile) !== undefined) {
    fs.rmSync(pidFile, { force: true });
    removed.push(pidFile);
  }
  const pid = lockPid(socketLock);
  if (pid !== undefined && !(Number.isInteger(pid) && isRunning(pid) && isPostgresProcess(pid))) {
    fs.rmSync(socketLock, { force: true });
    removed.push(socketLock);
  }
  return removed;
}

/** kill(pid, 0): EPERM still means the process exists (it belongs to another user). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** /proc/<pid>/stat fields after the command name: [state, ppid, pgrp, ...]; undefined when gone. */
function procStat(pid: number): string[] | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name is in parentheses and may itself contain spaces or ')'.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/** "R", "S", "T" (stopped, e.g. SIGSTOP), "Z" (zombie)...; undefined when the process is gone. */
export function processState(pid: number): string | undefined {
  return procStat(pid)?.[0];
}

/** Sends sig to pid; a process that is already gone (ESRCH) is not an error. */
export function signalIfAlive(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ESRCH") throw e;
  }
}

/** Live and not a zombie: a zombie postmaster has exited, only its parent has not reaped it yet. */
export function isRunning(pid: number): boolean {
  return isAlive(pid) && processState(pid) !== "Z";
}

/** Direct children of pid (for a postmaster: its backends and auxiliary processes). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procStat(Number(entry));
    if (stat !== undefined && Number(stat[1]) === pid) out.push(Number(entry));
  }
  return out;
}

/** True when pid is a postgres/postmaster process: guards against a stale postmaster.pid whose pid was reused. */
export function isPostgresProcess(pid: number): boolean {
  try {
    const argv0 = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0];
    return /(^|\/)(postgres|postmaster)$/.test(argv0) || argv0.startsWith("postgres:");
  } catch {
    return false;
  }
}

/**
 * Starts `postgres -D dataDir` directly (not via pg_ctl) so we are its parent and get its exit event
 * at once. Detached (own process group, survives the agent: the next agent adopts it), stdout/stderr
 * appended to logFile, unref()ed so it never keeps the agent's event loop alive.
 */
export function spawnPostmaster(postgresBin: string, dataDir: string, logFile: string, runAs?: RunAs): ChildProcess {
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const fd = fs.openSync(logFile, "a", 0o600);
  try {
    if (runAs) fs.fchownSync(fd, runAs.uid, runAs.gid);
    const child = spawn(postgresBin, ["-D", dataDir], {
      cwd: "/",
      env: childEnv(),
      detached: true,
      stdio: ["ignore", fd, fd],
      uid: runAs?.uid,
      gid: runAs?.gid,
    });
    child.unref();
    return child;
  } finally {
    fs.closeSync(fd);
  }
}

/** Last n lines of a (log) file, for error messages; "" when unreadable. */
export function tailFile(file: string, n: number): string {
  try {
    const fd = fs.openSync(file, "r");
    try {
      const size = fs.fstatSync(fd).size;
      const len = Math.min(size, 16384);
      const buf = Buffer.alloc(len);
      fs.readSync(fd, buf, 0, len, size - len);
      return lastLines(buf.toString("utf8"), n);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return "";
  }
}

/** The last "12345/67890 kB (18%)" progress report in a pg_basebackup/pg_rewind -P stderr chunk. */
export function parseCopyProgress(chunk: string): { doneKb: number; totalKb: number; percent: number } | undefined {
  const reports = [...chunk.matchAll(/(\d+)\/(\d+) kB \((\d+)%\)/g)];
  const m = reports[reports.length - 1];
  return m ? { doneKb: Number(m[1]), totalKb: Number(m[2]), percent: Number(m[3]) } : undefined;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
