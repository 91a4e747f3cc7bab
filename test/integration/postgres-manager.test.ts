/**
 * PostgresManager against real PostgreSQL on loopback: bootstrap, base backup, streaming, slots,
 * adoption, promotion, fencing, pg_rewind of a diverged former primary, stop escalation, crashes.
 * One scenario: each step builds on the previous one (a cluster is expensive to set up).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { Client } from "pg";
import { chownRecursive, ensureServiceUser } from "../../local/os-user";
import { findPgBinDir } from "../../sidecar/postgres/bin";
import { PostgresManager, type Logger, type PostgresManagerOptions } from "../../sidecar/postgres/manager";
import { childPids, isRunning, processState, readPostmasterPid, sleep } from "../../sidecar/postgres/process";
import type { HostPort } from "../../sidecar/postgres/types";
import { HA_DEFAULTS } from "../../sidecar/contract/settings/schema";
import { resolveTiming } from "../../sidecar/contract/settings/timing";

const SUPERUSER = { username: "postgres", password: "su-pw:with\\odd'chars" };
const REPLICATION = { username: "replicator", password: "repl pw 'quoted'" };

interface LogLine {
  level: string;
  obj: object;
  msg?: string;
}

/** Keeps log lines for assertions; HAPG_TEST_LOG=1 prints them. */
function memoryLogger(name: string, lines: LogLine[]): Logger {
  const at = (level: string) => (obj: object, msg?: string) => {
    lines.push({ level, obj, msg });
    if (process.env.HAPG_TEST_LOG) console.log(`[${name}] ${level} ${msg ?? ""} ${JSON.stringify(obj)}`);
  };
  return { info: at("info"), warn: at("warn"), error: at("error"), debug: at("debug") };
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

/** Distinct free loopback ports from 26000-27999, starting at a random offset to avoid clashes with parallel runs. */
async function freePorts(n: number): Promise<number[]> {
  const out: number[] = [];
  let p = 26000 + Math.floor(Math.random() * 1900);
  while (out.length < n) {
    if (p > 27999) p = 26000;
    if (await portFree(p)) out.push(p);
    p++;
  }
  return out;
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${lastErr ? `: ${(lastErr as Error).message}` : ""}`);
    await sleep(100);
  }
}

/** A query over TCP with the superuser password: also proves SCRAM auth and pg_hba work. */
async function sql<R extends object = Record<string, unknown>>(port: number, text: string, params: unknown[] = []): Promise<R[]> {
  const c = new Client({ host: "127.0.0.1", port, user: SUPERUSER.username, password: SUPERUSER.password, database: "postgres" });
  c.on("error", () => undefined);
  await c.connect();
  try {
    return (await c.query(text, params)).rows as R[];
  } finally {
    await c.end().catch(() => undefined);
  }
}

const rows = async (port: number) => (await sql<{ v: string }>(port, "SELECT v FROM t ORDER BY v")).map((r) => r.v);

describe("PostgresManager (real PostgreSQL)", function () {
  this.timeout(60_000);
  const user = ensureServiceUser();
  const runAs = { uid: user.uid, gid: user.gid };
  const binDir = findPgBinDir();
  let root = "";
  let ports: number[] = [];
  const logs: LogLine[] = [];
  const managers: PostgresManager[] = [];
  /** Every postmaster pid seen, so cleanup can stop each one by pid even if a manager lost track. */
  const pids = new Set<number>();
  let a: PostgresManager;
  let b: PostgresManager;
  let A: HostPort;
  let B: HostPort;

  function options(name: string, port: number, extra: Partial<PostgresManagerOptions> = {}): PostgresManagerOptions {
    const dir = path.join(root, name);
    if (!fs.existsSync(dir)) {
      fs.mkdirSync(dir);
      fs.chownSync(dir, runAs.uid, runAs.gid);
    }
    return {
      binDir,
      dataDir: path.join(dir, "data"),
      listen: { host: "127.0.0.1", port },
      connect: { host: "127.0.0.1", port },
      parameters: { shared_buffers: "16MB", max_connections: 20, fsync: false },
      timing: resolveTiming(HA_DEFAULTS),
      superuser: SUPERUSER,
      replication: REPLICATION,
      allowedCidrs: ["127.0.0.1/32"],
      stopTimeouts: { smart: 0, fast: 10 },
      memberName: `node-${name}`,
      logFile: path.join(dir, "postgres.log"),
      runAs,
      log: memoryLogger(name, logs),
      ...extra,
    };
  }

  function manager(name: string, port: number, extra: Partial<PostgresManagerOptions> = {}): PostgresManager {
    const m = new PostgresManager(options(name, port, extra));
    managers.push(m);
    return m;
  }

  async function pidOf(m: PostgresManager): Promise<number> {
    const s = await m.status();
    assert.ok(s.running && s.pid, "postgres should be running");
    pids.add(s.pid);
    return s.pid;
  }

  before(async () => {
    root = fs.mkdtempSync(os.tmpdir() + "/hapg-pg-");
    chownRecursive(root, runAs.uid, runAs.gid);
    ports = await freePorts(3);
    A = { host: "127.0.0.1", port: ports[0] };
    B = { host: "127.0.0.1", port: ports[1] };
    a = manager("a", ports[0]);
    b = manager("b", ports[1], { stopTimeouts: { smart: 1, fast: 10 } });
  });

  after(async () => {
    // Stop by pid whatever is still running: the managers' own view first, then every pid we saw.
    for (const m of managers) {
      await m.fence().catch(() => undefined);
      await m.close();
    }
    for (const dir of ["a", "b"]) {
      const f = readPostmasterPid(path.join(root, dir, "data"));
      if (f && isRunning(f.pid)) pids.add(f.pid);
    }
    const kill = (pid: number) => {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    };
    for (const pid of pids) {
      if (!isRunning(pid)) continue;
      childPids(pid).forEach(kill);
      kill(pid);
    }
    if (process.env.HAPG_TEST_KEEP) console.log(`kept ${root}`);
    else fs.rmSync(root, { recursive: true, force: true });
  });

  it("bootstrap: initdb, start as primary, replication role; a row is written", async () => {
    const t0 = Date.now();
    const systemId = await a.bootstrap();
    assert.match(systemId, /^\d{10,}$/);
    const s = await a.status();
    assert.equal(s.running, true);
    assert.equal(s.inRecovery, false);
    assert.equal(s.timeline, 1);
    assert.equal(s.systemId, systemId);
    assert.ok(s.lsn && s.lsn > 0);
    await pidOf(a);
    const info = await a.dataDirInfo();
    assert.deepEqual([info.initialized, info.systemId, info.clusterState, info.standbySignal], [true, systemId, "in production", false]);
    await sql(A.port, "CREATE TABLE t (v text PRIMARY KEY)");
    await sql(A.port, "INSERT INTO t VALUES ('1-from-a')");
    // The password never reaches a file in the data directory or the server log.
    const dataFiles = ["postgresql.conf", "postgresql.auto.conf"]
      .map((f) => fs.readFileSync(path.join(root, "a/data", f), "utf8"))
      .join("");
    assert.ok(!dataFiles.includes(REPLICATION.password) && !dataFiles.includes(SUPERUSER.password));
    assert.ok(!fs.readFileSync(path.join(root, "a/postgres.log"), "utf8").includes(REPLICATION.password));
    assert.equal((fs.statSync(path.join(root, "a/data.pgpass")).mode & 0o777).toString(8), "600");
    await assert.rejects(a.bootstrap(), /is running|already initialized/);
    console.log(`      bootstrap ${Date.now() - t0} ms`);
  });

  it("baseBackup from an unreachable source fails and leaves an empty data dir", async () => {
    await assert.rejects(b.baseBackup({ host: "127.0.0.1", port: ports[2] }), /pg_basebackup failed/);
    assert.deepEqual(fs.readdirSync(path.join(root, "b/data")), []);
  });

  it("syncSlots creates missing slots and drops unwanted inactive ones", async () => {
    await a.syncSlots(["node-b", "Node.C", "node-a"]);
    const names = async () =>
      (await sql<{ slot_name: string }>(A.port, "SELECT slot_name FROM pg_replication_slots ORDER BY 1")).map((r) => r.slot_name);
    assert.deepEqual(await names(), ["node_b", "node_c"], "no slot for ourselves");
    await a.syncSlots(["node-b"]);
    assert.deepEqual(await names(), ["node_b"]);
  });

  it("baseBackup + startReplica: the row arrives and status() shows streaming", async () => {
    let t0 = Date.now();
    await b.baseBackup(A);
    const tBackup = Date.now() - t0;
    t0 = Date.now();
    await b.startReplica(A);
    await pidOf(b);
    await waitFor("row on the replica", async () => (await rows(B.port)).includes("1-from-a"));
    const s = await waitFor("streaming", async () => {
      const st = await b.status();
      return st.streaming ? st : undefined;
    });
    console.log(`      baseBackup ${tBackup} ms, startReplica → streaming ${Date.now() - t0} ms`);
    assert.equal(s.inRecovery, true);
    assert.deepEqual(s.upstream, A);
    assert.equal(s.timeline, 1);
    assert.ok(s.receiveLsn && s.replayLsn);
    const pa = await a.status();
    assert.deepEqual(
      pa.replication?.map((r) => [r.application_name, r.state]),
      [["node-b", "streaming"]],
    );
    const [slot] = await sql<{ active: boolean }>(A.port, "SELECT active FROM pg_replication_slots WHERE slot_name = 'node_b'");
    assert.equal(slot.active, true, "the replica streams through its slot");
    assert.equal((await b.dataDirInfo()).standbySignal, true);
  });

  it("a new manager adopts the running postmaster instead of starting another", async () => {
    const pid = await pidOf(a);
    const a2 = manager("a", ports[0]);
    assert.equal(await a2.adopt(), true);
    const s = await a2.status();
    assert.equal(s.pid, pid);
    await a2.startPrimary(); // already running as primary: no second postmaster
    assert.equal(readPostmasterPid(path.join(root, "a/data"))?.pid, pid);
    // The previous agent's wait survives the new one's config rewrites until its HA loop sets one.
    await a.setSynchronousStandbys(["node-b"]);
    await a2.reload();
    await a2.setParameters({ work_mem: "8MB" });
    const [w] = await sql<{ v: string }>(A.port, "SELECT current_setting('synchronous_standby_names') AS v");
    assert.equal(w.v, 'FIRST 1 ("node-b")', "an adopted primary keeps waiting for its standby");
    await a.setSynchronousStandbys([]);
    await a2.close();
    const empty = manager("x", ports[2]);
    assert.equal(await empty.adopt(), false, "nothing to adopt without postmaster.pid");
  });

  it("promote: the replica becomes a primary on a new timeline; both write (diverge)", async () => {
    const t0 = Date.now();
    await b.promote();
    console.log(`      promote ${Date.now() - t0} ms`);
    const s = await b.status();
    assert.equal(s.inRecovery, false);
    assert.equal(s.timeline, 2);
    assert.equal((await b.dataDirInfo()).standbySignal, false);
    await b.checkpoint();
    const info = await b.dataDirInfo();
    assert.deepEqual([info.clusterState, info.timeline], ["in production", 2], "pg_controldata after a checkpoint");
    await sql(B.port, "INSERT INTO t VALUES ('2-from-b')");
    await sql(A.port, "INSERT INTO t VALUES ('2-diverged-on-a')");
    await b.syncSlots(["node-a"]);
  });

  it("fence returns within 1.5 s and the server is gone (no unexpected-exit report)", async () => {
    let unexpected = 0;
    a.onUnexpectedExit(() => unexpected++);
    const pid = await pidOf(a);
    const t0 = Date.now();
    await a.fence();
    const ms = Date.now() - t0;
    console.log(`      fence ${ms} ms`);
    assert.ok(ms < 1500, `fence took ${ms} ms`);
    assert.equal(isRunning(pid), false);
    assert.equal((await a.status()).running, false);
    await sleep(300);
    assert.equal(unexpected, 0);
  });

  it("rewind: the fenced former primary rejoins and streams from the new primary", async () => {
    const before = await a.dataDirInfo();
    assert.equal(before.clusterState, "in production", "fenced = not shut down cleanly");
    let t0 = Date.now();
    assert.equal(await a.rewind(B), "done");
    const tRewind = Date.now() - t0;
    t0 = Date.now();
    await a.startReplica(B);
    await pidOf(a);
    const s = await waitFor("former primary streaming", async () => {
      const st = await a.status();
      return st.streaming ? st : undefined;
    });
    console.log(`      rewind ${tRewind} ms, startReplica → streaming ${Date.now() - t0} ms`);
    assert.equal(s.timeline, 2);
    assert.deepEqual(s.upstream, B);
    assert.deepEqual(await rows(A.port), ["1-from-a", "2-from-b"], "the diverged write is gone");
    await sql(B.port, "INSERT INTO t VALUES ('3-from-b')");
    await waitFor("new row on the rewound replica", async () => (await rows(A.port)).includes("3-from-b"));
    const st = await a.status();
    assert.equal(st.replayTimeline, 2, "the replica replays the new primary's timeline (from its WAL file names)");
    const primary = await b.status();
    assert.equal(primary.history?.[0]?.timeline, 1, "the promoted primary's history says where timeline 1 ended");
    assert.ok(st.replayLsn! > primary.history![0].switchLsn, "and the replica replayed past it, on timeline 2");
  });

  it("rewind refuses a running server", async () => {
    await assert.rejects(a.rewind(B), /is running/);
  });

  it("followUpstream: reload detaches from and re-attaches to the upstream without a restart", async () => {
    const pid = await pidOf(a);
    await a.followUpstream(null);
    assert.equal((await a.status()).streaming, false);
    const t0 = Date.now();
    await a.followUpstream(B);
    await waitFor("streaming again", async () => (await a.status()).streaming);
    console.log(`      followUpstream → streaming ${Date.now() - t0} ms`);
    assert.equal(await pidOf(a), pid, "no restart");
  });

  it("stop escalates smart → fast when a client keeps its session", async () => {
    const pid = await pidOf(b);
    const c = new Client({ host: "127.0.0.1", port: B.port, user: SUPERUSER.username, password: SUPERUSER.password, database: "postgres" });
    c.on("error", () => undefined);
    await c.connect();
    const t0 = Date.now();
    await b.stop();
    const ms = Date.now() - t0;
    console.log(`      stop smart(1 s) → fast ${ms} ms`);
    await c.end().catch(() => undefined);
    assert.ok(ms >= 1000 && ms < 4000, `stop took ${ms} ms`);
    assert.equal(isRunning(pid), false);
    assert.ok(logs.some((l) => l.level === "warn" && (l.obj as { mode?: string }).mode === "smart" && /escalating/.test(l.msg ?? "")));
    assert.equal((await b.dataDirInfo()).clusterState, "shut down");
  });

  it("crash: SIGKILL of the postmaster fires onUnexpectedExit (spawned and adopted)", async () => {
    await b.startPrimary();
    const pid = await pidOf(b);
    const b2 = manager("b", ports[1]);
    assert.equal(await b2.adopt(), true);
    const seen: string[] = [];
    b.onUnexpectedExit((code, signal) => seen.push(`child ${code} ${signal}`));
    b2.onUnexpectedExit(() => seen.push("adopted"));
    const children = childPids(pid);
    const t0 = Date.now();
    process.kill(pid, "SIGKILL");
    await waitFor("both reports", async () => seen.length === 2, 2000);
    console.log(`      crash reported after ${Date.now() - t0} ms`);
    assert.deepEqual(seen.sort(), ["adopted", "child null SIGKILL"]);
    // Orphaned backends exit on postmaster death; wait so the next start finds no shared memory in use.
    await waitFor("backends gone", async () => children.every((c) => !isRunning(c)), 5000);
    assert.equal((await b.status()).running, false);
  });

  it("a killed server's lock files naming another live process of its user (a volume on a new instance) do not stop the next start", async () => {
    // After the crash above b's postmaster.pid and socket lock are left; on a new instance their pid
    // is reused, here by a sleep of the same OS user: PostgreSQL alone refuses ("lock file already exists").
    const file = readPostmasterPid(path.join(root, "b/data"));
    assert.ok(file, "the crash left postmaster.pid");
    const other = spawn("sleep", ["60"], { uid: runAs.uid, gid: runAs.gid, stdio: "ignore" });
    try {
      const pidFile = path.join(root, "b/data/postmaster.pid");
      const lines = fs.readFileSync(pidFile, "utf8").split("\n");
      lines[0] = String(other.pid);
      fs.writeFileSync(pidFile, lines.join("\n"));
      const socketLock = path.join(file.socketDir, `.s.PGSQL.${file.port}.lock`);
      const lock = fs.existsSync(socketLock) ? fs.readFileSync(socketLock, "utf8").split("\n") : [String(other.pid), file.dataDir];
      lock[0] = String(other.pid);
      fs.writeFileSync(socketLock, lock.join("\n"));
      await b.startPrimary();
      const pid = await pidOf(b);
      assert.notEqual(pid, other.pid);
      assert.ok(isRunning(other.pid!), "the other process is left alone");
    } finally {
      other.kill("SIGKILL");
    }
  });

  it("fence of a frozen (SIGSTOPped) postmaster kills it and its backends within 1.5 s", async () => {
    await b.startPrimary();
    const pid = await pidOf(b);
    const children = childPids(pid);
    process.kill(pid, "SIGSTOP");
    await waitFor("postmaster stopped", async () => processState(pid) === "T", 1000);
    const t0 = Date.now();
    await b.fence();
    const ms = Date.now() - t0;
    console.log(`      fence (frozen) ${ms} ms`);
    assert.ok(ms < 1500, `fence took ${ms} ms`);
    assert.equal(isRunning(pid), false);
    await waitFor("backends gone", async () => children.every((c) => !isRunning(c)), 1000);
  });

  it("rewind from an unreachable source changes nothing and says so; wipe empties the data dir", async () => {
    assert.equal(await b.rewind({ host: "127.0.0.1", port: ports[2] }), "unreachable");
    assert.equal(await b.answers({ host: "127.0.0.1", port: ports[2] }), false, "nothing listens there: a base backup would not wipe");
    assert.equal(await b.answers(A), true, "the running primary answers");
    assert.equal((await b.dataDirInfo()).standbySignal, true, "left as a read-only replica if started by mistake");
    await b.wipe();
    assert.deepEqual(fs.readdirSync(path.join(root, "b/data")), []);
    assert.equal((await b.dataDirInfo()).initialized, false);
    assert.equal(await b.rewind(A), "failed", "nothing to rewind in an empty data dir");
    assert.deepEqual(fs.readdirSync(path.join(root, "b/data")), []);
    await assert.rejects(b.promote(), /not running/);
  });
});
