/**
 * Waiting for a local cluster to reach a state: a writable primary, a healthy cluster, a proxy that
 * takes writes. Each wait polls the agents' REST API and fails with what it was still waiting for.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { Client } from "pg";
import { isRunning, sleep } from "../sidecar/postgres/process";
import { apiStatus, ClusterFile, fetchCluster, judgeHealth, readClusterFile } from "./state";
import { redact } from "./writer";

export type Progress = (line: string) => void;

/**
 * The agent's latest decision or error from DIR/<node>/agent.log (JSON lines), for timeout messages:
 * "node2: replica running" alone does not say why.
 */
export function lastAgentWords(dir: string, name: string): string | undefined {
  let text: string;
  try {
    const fd = fs.openSync(path.join(dir, name, "agent.log"), "r");
    try {
      const size = fs.fstatSync(fd).size;
      const len = Math.min(size, 256 * 1024);
      const buf = Buffer.alloc(len);
      fs.readSync(fd, buf, 0, len, size - len);
      text = buf.toString("utf8");
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return undefined;
  }
  for (const line of text.split("\n").reverse()) {
    try {
      const j = JSON.parse(line) as { level?: number; msg?: string; err?: string; actions?: unknown };
      if ((j.level ?? 0) < 40 && j.actions === undefined) continue;
      // In PostgreSQL's log tail the FATAL/PANIC line says why; the last line is usually "shut down".
      const errLines = (j.err ?? "").split("\n");
      const why = errLines.find((l) => /\b(FATAL|PANIC|ERROR):/.test(l)) ?? errLines[errLines.length - 1];
      return `${j.msg ?? ""}${why ? `: ${why.slice(0, 240)}` : ""}`;
    } catch {
      /* not a JSON line */
    }
  }
  return undefined;
}

/** Throws when an agent that should run has exited: no point waiting for it, its log says why. */
function assertAgentsRunning(c: ClusterFile, dir: string, names?: readonly string[]): void {
  for (const n of c.nodes) {
    if (names && !names.includes(n.name)) continue;
    if (!isRunning(n.agentPid)) throw new Error(`${n.name}: the agent (pid ${n.agentPid}) exited: read ${dir}/${n.name}/agent.log`);
  }
}

/** Name of the node whose agent answers 200 on /primary (not one of exclude); polls every 100 ms. */
export async function waitForPrimary(dir: string, o: { exclude?: readonly string[]; timeoutMs: number }): Promise<string> {
  const deadline = Date.now() + o.timeoutMs;
  for (;;) {
    const c = readClusterFile(dir);
    const candidates = c.nodes.filter((n) => !(o.exclude ?? []).includes(n.name));
    const codes = await Promise.all(candidates.map((n) => apiStatus(n, "/primary", 500)));
    const i = codes.findIndex((s) => s === 200);
    if (i >= 0) return candidates[i].name;
    if (Date.now() > deadline) {
      throw new Error(
        `no primary among ${candidates.map((n) => n.name).join(", ")} within ${o.timeoutMs} ms (/primary answered ${codes.map((s) => s ?? "nothing").join(", ")})`,
      );
    }
    await sleep(100);
  }
}

/**
 * Waits until one leader is running and writable (/primary 200) and every other node (but those in
 * exclude, e.g. one that was just killed) streams from it on its timeline. Calls progress with what
 * it waits for whenever that changes. Returns the leader.
 */
export async function waitHealthy(
  dir: string,
  timeoutMs: number,
  progress?: Progress,
  o: { exclude?: readonly string[]; standby?: boolean } = {},
): Promise<string> {
  // A standby cluster's leader answers /standby-leader (Patroni's), never /primary.
  const leaderPath = o.standby ? "/standby-leader" : "/primary";
  const deadline = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    const c = readClusterFile(dir);
    const expected = c.nodes.map((n) => n.name).filter((n) => !(o.exclude ?? []).includes(n));
    assertAgentsRunning(c, dir, expected);
    const verdict = judgeHealth(await fetchCluster(c), expected);
    if (verdict.leader && !expected.includes(verdict.leader)) {
      verdict.waitingFor.push(`the leader is still ${verdict.leader}`);
      verdict.healthy = false;
    }
    const leader = verdict.leader ? c.nodes.find((n) => n.name === verdict.leader) : undefined;
    if (verdict.healthy && leader && (await apiStatus(leader, leaderPath)) === 200) return leader.name;
    const waiting = verdict.healthy ? `${verdict.leader}: ${leaderPath} not 200 yet` : verdict.waitingFor.join("; ");
    if (Date.now() > deadline) {
      const said = expected
        .filter((n) => n !== verdict.leader && verdict.waitingFor.some((w) => w.startsWith(`${n}:`)))
        .map((n) => `\n  ${n}'s agent last said: ${lastAgentWords(dir, n) ?? "(nothing)"} (${dir}/${n}/agent.log)`);
      throw new Error(`cluster not healthy within ${Math.round(timeoutMs / 1000)} s: ${waiting}${said.join("")}`);
    }
    if (waiting !== last) progress?.(`waiting: ${waiting}`);
    last = waiting;
    await sleep(200);
  }
}

/** Waits until a write transaction goes through the primary proxy port (HAProxy has marked the primary up). */
export async function waitProxyWritable(dsn: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = "";
  while (Date.now() < deadline) {
    const c = new Client({ connectionString: dsn, connectionTimeoutMillis: 1000, query_timeout: 2000 });
    c.on("error", () => undefined);
    try {
      await c.connect();
      const r = await c.query<{ ro: string }>("SELECT current_setting('transaction_read_only') AS ro");
      if (r.rows[0].ro === "off") return;
      lastError = "the proxy reached a read-only server";
    } catch (e) {
      lastError = (e as Error).message;
    } finally {
      await c.end().catch(() => undefined);
    }
    await sleep(100);
  }
  throw new Error(`no writable primary through ${redact(dsn)} within ${timeoutMs} ms (last: ${lastError})`);
}
