/**
 * `hapg local down`: stops every process of a local cluster it knows of (agents, postmasters,
 * HAProxy, etcd members; from cluster.json and the pid files) and then confirms that each is gone.
 * Every process gets the same escalation the agent itself uses: ask, wait, insist, SIGKILL. A step
 * that fails never skips the others, and what survives is named, never silently left behind.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import {
  childPids,
  isPostgresProcess,
  isRunning,
  processState,
  readPostmasterPid,
  signalIfAlive,
  sleep,
} from "../sidecar/postgres/process";
import { computeLayout, DEFAULT_BASE_PORT } from "./layout";
import { destroyNetns } from "./netns";
import { ClusterFile } from "./state";

export type ProcessKind = "agent" | "postmaster" | "backend" | "haproxy" | "etcd" | "s3" | "pgbackrest";

/** A process of the cluster: what it is (for messages), its pid and how to recognise it. */
export interface KnownProcess {
  what: string;
  pid: number;
  kind: ProcessKind;
}

/** One rung: send signal, then wait up to waitMs for the process to go. */
export interface Rung {
  signal: NodeJS.Signals;
  waitMs: number;
}

/**
 * How each kind is stopped, mirroring the agent's own stop:
 * - agent: SIGTERM (it stops its PostgreSQL and releases its keys; 20 s covers its own smart → fast →
 *   immediate ladder), then SIGKILL;
 * - postmaster whose agent did not stop it: what `pg_ctl stop -m fast` and then `-m immediate` send
 *   (SIGINT: disconnect clients and checkpoint; SIGQUIT: exit at once), then SIGKILL of the postmaster
 *   and its backends. Signalled directly: pg_ctl refuses to run as root and would wait the same way;
 * - HAProxy, etcd, the S3 server, a pgBackRest TLS server whose agent was killed: SIGTERM, then SIGKILL.
 */
export const STOP_LADDERS: Record<Exclude<ProcessKind, "backend">, readonly Rung[]> = {
  agent: [
    { signal: "SIGTERM", waitMs: 20_000 },
    { signal: "SIGKILL", waitMs: 5_000 },
  ],
  postmaster: [
    { signal: "SIGINT", waitMs: 10_000 },
    { signal: "SIGQUIT", waitMs: 2_000 },
    { signal: "SIGKILL", waitMs: 5_000 },
  ],
  haproxy: [
    { signal: "SIGTERM", waitMs: 5_000 },
    { signal: "SIGKILL", waitMs: 5_000 },
  ],
  etcd: [
    { signal: "SIGTERM", waitMs: 5_000 },
    { signal: "SIGKILL", waitMs: 5_000 },
  ],
  s3: [
    { signal: "SIGTERM", waitMs: 5_000 },
    { signal: "SIGKILL", waitMs: 5_000 },
  ],
  pgbackrest: [
    { signal: "SIGTERM", waitMs: 5_000 },
    { signal: "SIGKILL", waitMs: 5_000 },
  ],
};

/**
 * The rungs for a process in /proc state `state`. A stopped ("T": SIGSTOP, a debugger) agent or
 * postmaster cannot act on a polite signal, and resuming it would let it act for a moment on a stale
 * view of the cluster (a frozen leader still believes it leads), so it is killed where it stands, as
 * the agent fences a frozen postmaster. HAProxy and etcd are resumed (SIGCONT) to act on SIGTERM. Pure.
 */
export function ladderFor(kind: Exclude<ProcessKind, "backend">, state: string | undefined): readonly Rung[] {
  const ladder = STOP_LADDERS[kind];
  if (state === "T" && (kind === "agent" || kind === "postmaster")) return ladder.filter((r) => r.signal === "SIGKILL");
  return ladder;
}

/** Whether pid still runs what the cluster started there: a recycled pid is never signalled, nor reported. */
export function stillRunning(p: KnownProcess): boolean {
  if (!isRunning(p.pid)) return false;
  if (p.kind === "postmaster" || p.kind === "backend") return isPostgresProcess(p.pid);
  let cmdline: string;
  try {
    cmdline = fs.readFileSync(`/proc/${p.pid}/cmdline`, "utf8").replace(/\0/g, " ");
  } catch {
    return false; // gone meanwhile
  }
  const re = { agent: / agent --config /, haproxy: /haproxy/, s3: /s3rver/, pgbackrest: /pgbackrest/, etcd: /etcd/ }[p.kind];
  return re.test(cmdline);
}

export function readPid(file: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(file, "utf8").trim());
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Paths that do not depend on ports or counts (see layout.ts). */
function fixedPaths(dir: string): { haproxyPidFile: string; etcdDir: string } {
  return computeLayout({ dir, nodes: 0, etcd: 0, basePort: DEFAULT_BASE_PORT });
}

/** The postmasters running now in the nodes' data dirs (from postmaster.pid). */
function postmasters(c: ClusterFile): KnownProcess[] {
  return c.nodes.flatMap((n) => {
    const pid = readPostmasterPid(n.dataDir)?.pid;
    return pid !== undefined && pid > 1 ? [{ what: `${n.name} postmaster`, pid, kind: "postmaster" as const }] : [];
  });
}

/**
 * What a command line is, when it is one of the cluster's in DIR (its arguments name a path under
 * DIR the way `up` starts it), else undefined. Pure.
 */
export function processOfDir(args: readonly string[], dir: string): KnownProcess["kind"] | undefined {
  const under = (p: string | undefined) => p !== undefined && p.startsWith(`${path.resolve(dir)}/`);
  const after = (flag: string) => args[args.indexOf(flag) + 1];
  const prog = path.basename(args[0] ?? "");
  if (args.includes("agent") && args.includes("--config") && under(after("--config"))) return "agent";
  if ((prog === "postgres" || prog === "postmaster") && args.includes("-D") && under(after("-D"))) return "postmaster";
  const etcdData = args.find((a) => a.startsWith("--data-dir="))?.slice("--data-dir=".length);
  if (under(etcdData) && args.some((a) => /(^|\/)etcd$/.test(a))) return "etcd";
  if (prog === "haproxy" && args.includes("-f") && under(after("-f"))) return "haproxy";
  if (args.some((a) => a.endsWith("s3rver.js")) && args.includes("-d") && under(after("-d"))) return "s3";
  const conf = args.find((a) => a.startsWith("--config="))?.slice("--config=".length);
  if (prog === "pgbackrest" && args.includes("server") && under(conf)) return "pgbackrest";
  return undefined;
}

/** How a process found by its command line is named in messages: from the path it was given. */
function nameOf(kind: KnownProcess["kind"], args: readonly string[]): string {
  const arg = (flag: string) => args[args.indexOf(flag) + 1] ?? "";
  switch (kind) {
    case "agent":
      return `${path.basename(path.dirname(arg("--config")))} agent`;
    case "postmaster":
      return `${path.basename(path.dirname(arg("-D")))} postmaster`;
    case "etcd":
      return path.basename(args.find((a) => a.startsWith("--data-dir=")) ?? "etcd").replace(/\.data$/, "");
    case "s3":
      return "s3rver";
    case "pgbackrest":
      return `${path.basename(path.dirname(path.dirname(args.find((a) => a.startsWith("--config=")) ?? "")))} pgBackRest TLS server`;
    default:
      return kind;
  }
}

/**
 * Processes started for the cluster in DIR, found by their command lines in /proc: the safety net
 * for a cluster.json that is missing, stale or was removed with DIR while its processes ran on.
 */
export function processesOfDir(dir: string): KnownProcess[] {
  const out: KnownProcess[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) continue;
    let args: string[];
    try {
      args = fs
        .readFileSync(`/proc/${pid}/cmdline`, "utf8")
        .split("\0")
        .filter((a) => a !== "");
    } catch {
      continue; // gone meanwhile
    }
    const kind = processOfDir(args, dir);
    if (kind) out.push({ what: nameOf(kind, args), pid, kind });
  }
  return out;
}

/**
 * Everything of the cluster in DIR that may run: cluster.json's pids, the pid files, postmaster.pid,
 * and any process whose command line names a path under DIR.
 */
export function knownProcesses(dir: string, c: ClusterFile): KnownProcess[] {
  const { haproxyPidFile, etcdDir } = fixedPaths(dir);
  const out: KnownProcess[] = c.nodes.map((n) => ({ what: `${n.name} agent`, pid: n.agentPid, kind: "agent" as const }));
  out.push(...postmasters(c));
  const haproxy = readPid(haproxyPidFile);
  if (haproxy !== undefined) out.push({ what: "haproxy", pid: haproxy, kind: "haproxy" });
  out.push(...c.etcd.map((e) => ({ what: e.name, pid: e.pid, kind: "etcd" as const })));
  if (c.s3) out.push({ what: "s3rver", pid: c.s3.pid, kind: "s3" });
  const s3 = readPid(path.join(dir, "s3", "s3rver.pid"));
  if (s3 !== undefined) out.push({ what: "s3rver", pid: s3, kind: "s3" });
  // A member whose start `up` did not live to record in cluster.json still left its pid file.
  let pidFiles: string[] = [];
  try {
    pidFiles = fs.readdirSync(etcdDir).filter((f) => /^etcd-\d+\.pid$/.test(f));
  } catch {
    /* no etcd dir yet */
  }
  for (const f of pidFiles) {
    const pid = readPid(path.join(etcdDir, f));
    if (pid !== undefined) out.push({ what: f.replace(/\.pid$/, ""), pid, kind: "etcd" });
  }
  out.push(...processesOfDir(dir));
  return dedupe(out);
}

function dedupe(ps: KnownProcess[]): KnownProcess[] {
  const seen = new Set<number>();
  return ps.filter((p) => p.pid > 1 && !seen.has(p.pid) && seen.add(p.pid));
}

async function waitGone(p: KnownProcess, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (stillRunning(p)) {
    if (Date.now() >= deadline) return false;
    await sleep(25);
  }
  return true;
}

/**
 * Climbs the ladder until p is gone; true when it is. Before a postmaster is SIGKILLed its backends
 * are collected and killed too (they would outlive it for a moment), and reported through `backends`.
 */
async function stopOne(p: KnownProcess & { kind: Exclude<ProcessKind, "backend"> }, backends: KnownProcess[]): Promise<boolean> {
  if (!stillRunning(p)) return true;
  for (const rung of ladderFor(p.kind, processState(p.pid))) {
    if (!stillRunning(p)) return true;
    if (rung.signal === "SIGKILL" && p.kind === "postmaster") {
      for (const child of childPids(p.pid)) {
        backends.push({ what: `${p.what} backend`, pid: child, kind: "backend" });
        signalIfAlive(child, "SIGKILL");
      }
    }
    signalIfAlive(p.pid, rung.signal);
    if (p.kind === "haproxy" || p.kind === "etcd" || p.kind === "s3") signalIfAlive(p.pid, "SIGCONT");
    if (await waitGone(p, rung.waitMs)) return true;
  }
  return false;
}

export interface TeardownReport {
  /** What was running and has been stopped, e.g. "node1 agent (pid 123)". */
  stopped: string[];
  /** What still runs after the last rung: `down` fails naming these. */
  survivors: KnownProcess[];
  /** Steps that failed (e.g. a namespace that could not be removed); they did not stop the others. */
  errors: string[];
}

const label = (p: KnownProcess) => `${p.what} (pid ${p.pid})`;

/**
 * Stops the agents first (each stops its own PostgreSQL), then any postmaster still running (one
 * whose agent did not cooperate), HAProxy, etcd, and the network namespaces; then checks every pid it
 * has seen, the postmasters recorded before the agents stopped included.
 */
export async function stopEverything(dir: string, c: ClusterFile): Promise<TeardownReport> {
  const report: TeardownReport = { stopped: [], survivors: [], errors: [] };
  const seen = knownProcesses(dir, c);
  const backends: KnownProcess[] = [];
  const stage = async (ps: KnownProcess[]) => {
    await Promise.all(
      ps.map(async (p) => {
        if (p.kind === "backend" || !stillRunning(p)) return;
        try {
          if (await stopOne(p as KnownProcess & { kind: Exclude<ProcessKind, "backend"> }, backends)) report.stopped.push(label(p));
        } catch (e) {
          report.errors.push(`${label(p)}: ${(e as Error).message}`);
        }
      }),
    );
  };
  await stage(seen.filter((p) => p.kind === "agent"));
  // A pgBackRest TLS server stops with its agent; one whose agent was killed is found by its command line.
  await stage(dedupe([...seen, ...processesOfDir(dir)]).filter((p) => p.kind === "pgbackrest"));
  // Read again: an agent may have started a postmaster since (or left a new postmaster.pid).
  const isPm = (p: KnownProcess) => p.kind === "postmaster";
  const pms = dedupe([...seen.filter(isPm), ...postmasters(c), ...processesOfDir(dir).filter(isPm)]);
  await stage(pms);
  await stage(seen.filter((p) => p.kind === "haproxy"));
  await stage(seen.filter((p) => p.kind === "etcd"));
  await stage(seen.filter((p) => p.kind === "s3"));
  if (c.network) {
    try {
      destroyNetns(c.network);
      report.stopped.push(`network: bridge ${c.network.bridge} and its namespaces`);
    } catch (e) {
      report.errors.push(`network ${c.network.bridge}: ${(e as Error).message}`);
    }
  }
  // A last look in /proc too: whatever of DIR runs now, even if it appeared during `down`, is reported.
  report.survivors = dedupe([...seen, ...pms, ...backends, ...processesOfDir(dir)]).filter(stillRunning);
  return report;
}

/** The error `down` fails with when something survived; undefined when all is gone. Pure. */
export function teardownProblem(dir: string, r: Pick<TeardownReport, "survivors" | "errors">): string | undefined {
  if (r.survivors.length === 0 && r.errors.length === 0) return undefined;
  const lines = [`hapg local down: ${dir} is not fully stopped (its files are kept):`];
  if (r.survivors.length) {
    lines.push(`  still running after SIGKILL: ${r.survivors.map(label).join(", ")}`);
    const pids = r.survivors.map((p) => p.pid).join(",");
    lines.push(`  check them with: ps -o pid,stat,cmd -p ${pids}; then run hapg local down --dir ${dir} again`);
  }
  for (const e of r.errors) lines.push(`  failed: ${e}`);
  return lines.join("\n");
}
