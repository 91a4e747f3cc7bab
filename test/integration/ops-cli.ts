/**
 * The operator commands (`hapg list`, `history`, `topology`, `show-config`) driven as a user runs
 * them, against the running local cluster of local-cluster.test.ts (one cluster for both files).
 */
import * as assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import * as path from "node:path";
import { waitForPrimary } from "../../local/faults";
import { readClusterFile } from "../../local/state";
import type { ListJson, TopologyNode, HistoryRow } from "../../sidecar/cli/ops-render";

export const CLI = path.resolve(__dirname, "../../sidecar/cli/main.js");

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `hapg ARGS` to its end (10 s at most). */
export function hapg(...args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 10_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

async function json<T>(...args: string[]): Promise<T> {
  const r = await hapg(...args);
  assert.equal(r.code, 0, `hapg ${args.join(" ")} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

async function patroni(apiUrl: string): Promise<{ timeline: number; patroni: { scope: string } }> {
  return (await (await fetch(`${apiUrl}/patroni`, { signal: AbortSignal.timeout(3000) })).json()) as {
    timeline: number;
    patroni: { scope: string };
  };
}

/** Registers the `it`s; `dir()` is the running cluster's directory. */
export function opsCliCases(dir: () => string): void {
  it("hapg list prints a table a person reads, and --json the same members (from --dir, --api, --etcd and --config)", async () => {
    const leader = await waitForPrimary(dir(), { timeoutMs: 10_000 });
    const c = readClusterFile(dir());
    const table = await hapg("list", "--dir", dir());
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.split("\n");
    assert.match(lines[0], new RegExp(`^Cluster: \\S+ \\(leader ${leader}, maintenance mode: off\\)$`));
    for (const col of ["Member", "Host", "Role", "State", "TL", "Lag in MB", "Pending restart", "Tags"])
      assert.ok(lines[2].includes(col), col);
    const row = (name: string) => lines.find((l) => l.includes(` ${name} `)) ?? "";
    for (const n of c.nodes) {
      assert.ok(row(n.name).includes(`${n.host}:${n.pgPort}`), `${n.name}'s host in:\n${table.stdout}`);
      assert.match(row(n.name), n.name === leader ? /│ Leader +│ running +│/ : /│ Replica +│ streaming +│/);
    }

    const j = await json<ListJson>("list", "--dir", dir(), "--json");
    const tl = (await patroni(c.nodes.find((n) => n.name === leader)!.apiUrl)).timeline;
    assert.equal(j.leader, leader);
    assert.equal(j.paused, false);
    assert.deepEqual(
      j.members.map((m) => [m.member, m.role, m.timeline, m.pending_restart]),
      c.nodes.map((n) => [n.name, n.name === leader ? "Leader" : "Replica", tl, false]),
    );
    for (const m of j.members) assert.equal(typeof m.lag === "number", m.member !== leader, `${m.member}: lag only on replicas`);

    const viaApi = await json<ListJson>("list", "--api", c.nodes[0].apiUrl, "--json");
    assert.deepEqual(
      viaApi.members.map((m) => [m.member, m.role]),
      j.members.map((m) => [m.member, m.role]),
    );
    const scope = (await patroni(c.nodes[0].apiUrl)).patroni.scope;
    const viaEtcd = await json<ListJson>("list", "--etcd", c.etcd.map((e) => e.clientUrl).join(","), "--cluster", scope, "--json");
    assert.equal(viaEtcd.cluster, scope);
    // A node's agent config names etcd, the namespace and the cluster: nothing else to give.
    const viaConfig = await json<ListJson>("list", "--config", path.join(dir(), c.nodes[0].name, "agent.json"), "--json");
    assert.deepEqual(
      viaConfig.members.map((m) => [m.member, m.role, m.host]),
      j.members.map((m) => [m.member, m.role, m.host]),
    );
    assert.deepEqual(
      viaEtcd.members.map((m) => [m.member, m.role, m.host]),
      j.members.map((m) => [m.member, m.role, m.host]),
    );
  });

  it("hapg list --watch prints the list again until interrupted", async () => {
    const child = spawn(process.execPath, [CLI, "list", "--dir", dir(), "--watch", "--interval", "0.3"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`fewer than 2 lists in 15 s:\n${out}`)), 15_000);
        child.stdout.on("data", (d: Buffer) => {
          out += d.toString();
          if ((out.match(/^Cluster: /gm) ?? []).length >= 2) {
            clearTimeout(timer);
            resolve();
          }
        });
        child.on("exit", (code) => reject(new Error(`list --watch exited (${code}): ${out}`)));
      });
    } finally {
      child.kill("SIGTERM");
    }
    assert.match(out, /^\d{4}-\d\d-\d\dT/m);
  });

  it("hapg topology puts the leader first and every replica under it", async () => {
    const leader = await waitForPrimary(dir(), { timeoutMs: 10_000 });
    const j = await json<TopologyNode[]>("topology", "--dir", dir(), "--json");
    assert.equal(j[0].member, leader);
    assert.equal(j[0].upstream, null);
    assert.deepEqual(
      j.slice(1).map((n) => n.upstream),
      j.slice(1).map(() => leader),
    );
    const t = await hapg("topology", "--dir", dir());
    assert.equal(t.code, 0, t.stderr);
    for (const n of j.slice(1)) assert.ok(t.stdout.includes(`+ ${n.member}`), t.stdout);
  });

  it("hapg show-config prints the dynamic configuration every member reads from etcd", async () => {
    const c = readClusterFile(dir());
    const fromApi = (await (await fetch(`${c.nodes[0].apiUrl}/config`, { signal: AbortSignal.timeout(3000) })).json()) as unknown;
    assert.deepEqual(await json("show-config", "--dir", dir(), "--json"), fromApi);
    const yaml = await hapg("show-config", "--dir", dir());
    assert.equal(yaml.code, 0, yaml.stderr);
    assert.ok(yaml.stdout.length > 0);
  });
}

/** After the failover tests: the history lists every earlier timeline of the leader, in order. */
export function opsHistoryCase(dir: () => string): void {
  it("hapg history lists every earlier timeline after the failovers, oldest first", async () => {
    const leader = await waitForPrimary(dir(), { timeoutMs: 10_000 });
    const c = readClusterFile(dir());
    const tl = (await patroni(c.nodes.find((n) => n.name === leader)!.apiUrl)).timeline;
    assert.ok(tl >= 2, `the failover tests moved the cluster past timeline 1 (at ${tl})`);
    const rows = await json<HistoryRow[]>("history", "--dir", dir(), "--json");
    assert.deepEqual(
      rows.map((r) => r.timeline),
      Array.from({ length: tl - 1 }, (_, i) => i + 1),
    );
    for (let i = 1; i < rows.length; i++) assert.ok(rows[i].lsn >= rows[i - 1].lsn, "switch positions never go back");
    const t = await hapg("history", "--dir", dir());
    assert.equal(t.code, 0, t.stderr);
    assert.ok(t.stdout.includes(`the leader is on timeline ${tl}`), t.stdout);
    assert.ok(t.stdout.includes(rows[0].lsn_text), t.stdout);
  });
}
