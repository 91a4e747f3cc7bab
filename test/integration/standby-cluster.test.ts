/**
 * A standby cluster with real etcd, PostgreSQL and HAProxy: `localUp({ standbyOf })` next to a
 * running source cluster. Its leader is a standby leader (Patroni's role and endpoints) streaming
 * through the source's proxy, its replica cascades from it; a failover inside it elects a new standby
 * leader; `POST /promote-cluster` is refused while the source takes writes, and once the source is
 * lost (kill -9 of its nodes under a writer) it promotes, and the cluster takes writes. Prints the
 * figures (lag, promotion time: command → first acknowledged write).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { localDown, localUp } from "../../local/cluster";
import { tempClusterDir } from "../../local/demo";
import { killNode, restartNode } from "../../local/faults";
import { waitHealthy } from "../../local/health";
import { sql } from "../../local/pitr";
import { localStandbySource } from "../../local/standby";
import { fetchCluster, httpGet, readClusterFile, type ClusterFile } from "../../local/state";
import { TABLE, Writer } from "../../local/writer";
import { callApi, localApiCredentials } from "../../sidecar/api/client";
import { dsnWithPort, eventually } from "../helpers/pg-client";

// Port block 17500–17799 (below the ephemeral range): the source at P, the standby cluster at P + 30.
const SOURCE_PORT = 17500;
const STANDBY_PORT = 17530;
const log = (s: string) => console.log(`      ${s}`);

async function roles(c: ClusterFile): Promise<Record<string, string>> {
  const view = await fetchCluster(c);
  return Object.fromEntries((view?.members ?? []).map((m) => [m.name, m.role]));
}

async function standbyLeader(c: ClusterFile): Promise<ClusterFile["nodes"][number]> {
  const r = await eventually("a standby leader", 60_000, async () => {
    const all = await roles(c);
    return Object.keys(all).find((n) => all[n] === "standby_leader");
  });
  return c.nodes.find((n) => n.name === r)!;
}

function hasPatronictl(): boolean {
  try {
    execFileSync("sh", ["-c", "command -v patronictl"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

const status = async (n: ClusterFile["nodes"][number], p: string) => (await httpGet(`${n.apiUrl}${p}`, 2000)).status;

describe("standby cluster (real etcd, PostgreSQL, HAProxy)", function () {
  this.timeout(600_000);
  let sourceDir = "";
  let standbyDir = "";
  let source: ClusterFile;
  let standby: ClusterFile;

  before(async function () {
    sourceDir = tempClusterDir("hapg-itest-standby-src-");
    source = await localUp({ dir: sourceDir, basePort: SOURCE_PORT, nodes: 2, etcd: 1, progress: log });
    await sql(source.dsn, "CREATE TABLE dr (id int PRIMARY KEY, at timestamptz DEFAULT clock_timestamp())");
    await sql(source.dsn, "INSERT INTO dr (id) SELECT generate_series(1, 100)");
    standbyDir = tempClusterDir("hapg-itest-standby-");
    standby = await localUp({
      dir: standbyDir,
      basePort: STANDBY_PORT,
      nodes: 2,
      etcd: 1,
      standbyOf: localStandbySource(sourceDir),
      timeoutMs: 180_000,
      progress: log,
    });
  });

  after(async function () {
    for (const dir of [standbyDir, sourceDir]) {
      if (dir && fs.existsSync(dir)) await localDown(dir).catch((e) => console.error(`localDown ${dir}: ${(e as Error).message}`));
      if (dir) fs.rmSync(path.dirname(dir), { recursive: true, force: true });
    }
  });

  it("follows the source by streaming: a standby leader (Patroni's role and endpoints) and a cascading replica", async () => {
    const leader = await standbyLeader(standby);
    const replica = standby.nodes.find((n) => n !== leader)!;
    assert.equal((await roles(standby))[replica.name], "replica");
    assert.deepEqual(
      [
        await status(leader, "/standby-leader"),
        await status(leader, "/leader"),
        await status(leader, "/primary"),
        await status(leader, "/replica"),
      ],
      [200, 200, 503, 503],
    );
    const patroni = (await httpGet(`${leader.apiUrl}/patroni`)).body as { role: string; source_lag?: { streaming: boolean } };
    assert.equal(patroni.role, "standby_leader");
    assert.equal(patroni.source_lag?.streaming, true);
    // The source sees it under a name none of its members can have: never counted as its synchronous standby.
    const senders = await sql<{ name: string }>(source.dsn, "SELECT application_name AS name FROM pg_stat_replication");
    assert.ok(
      senders.some((x) => x.name === `standby-cluster/${leader.name}`),
      JSON.stringify(senders),
    );
    // Nothing in the standby cluster takes writes; the source's rows are there, on both members.
    const [{ ro }] = await sql<{ ro: string }>(
      dsnWithPort(standby.dsn, leader.pgPort),
      "SELECT current_setting('transaction_read_only') AS ro",
    );
    assert.equal(ro, "on");
    // Lag: a row committed on the source, until it is visible on the standby leader and on its replica.
    const t0 = Date.now();
    await sql(source.dsn, "INSERT INTO dr (id) VALUES (101)");
    const seen = async (n: ClusterFile["nodes"][number]) =>
      (await sql<{ n: number }>(dsnWithPort(standby.dsn, n.pgPort), "SELECT count(*)::int AS n FROM dr WHERE id = 101"))[0].n === 1
        ? Date.now()
        : undefined;
    const onLeader = await eventually("row 101 on the standby leader", 30_000, () => seen(leader));
    const onReplica = await eventually("row 101 on the cascading replica", 30_000, () => seen(replica));
    log(`lag (streaming): commit on the source → visible on the standby leader ${onLeader - t0} ms, on its replica ${onReplica - t0} ms`);
    const text = await (await fetch(`${leader.apiUrl}/metrics`)).text();
    assert.match(text, /patroni_standby_leader\{[^}]*\} 1/);
    assert.match(text, /hapg_source_lag_bytes\{[^}]*\} \d+/);
    // Patroni's own client reads our etcd keys as a standby cluster's.
    if (hasPatronictl()) {
      const file = path.join(path.dirname(standbyDir), "patronictl.yml");
      const hosts = standby.etcd.map((e) => new URL(e.clientUrl).host).join(",");
      fs.writeFileSync(file, `scope: local\nnamespace: /service/\netcd3:\n  hosts: ${hosts}\n`, { mode: 0o600 });
      const rows = JSON.parse(execFileSync("patronictl", ["-c", file, "list", "-f", "json"], { encoding: "utf8" })) as {
        Member: string;
        Role: string;
      }[];
      assert.equal(rows.find((r) => r.Member === leader.name)?.Role, "Standby Leader", JSON.stringify(rows));
      log(`patronictl list: ${rows.map((r) => `${r.Member} ${r.Role}`).join(", ")}`);
    }
  });

  it("fails over inside the standby cluster: a new standby leader, still following the source", async () => {
    const old = await standbyLeader(standby);
    const t0 = Date.now();
    killNode(standbyDir, old.name);
    const next = await eventually("a new standby leader", 60_000, async () => {
      const all = await roles(standby);
      return Object.keys(all).find((n) => n !== old.name && all[n] === "standby_leader");
    });
    log(`failover inside the standby cluster: ${next} is the standby leader ${Date.now() - t0} ms after kill -9 of ${old.name}`);
    const nextNode = standby.nodes.find((n) => n.name === next)!;
    await sql(source.dsn, "INSERT INTO dr (id) VALUES (102)");
    await eventually("row 102 on the new standby leader", 30_000, async () =>
      (await sql<{ n: number }>(dsnWithPort(standby.dsn, nextNode.pgPort), "SELECT count(*)::int AS n FROM dr WHERE id = 102"))[0].n === 1
        ? true
        : undefined,
    );
    restartNode(standbyDir, old.name);
    standby = readClusterFile(standbyDir);
    await waitHealthy(standbyDir, 120_000, undefined, { standby: true });
  });

  it("promotion is refused while the source takes writes; once the source is lost it promotes and takes writes", async () => {
    const auth = localApiCredentials(standby);
    const any = standby.nodes[0];
    const refused = await callApi(any.apiUrl, "POST", "/promote-cluster", {}, auth, 30_000);
    assert.equal(refused.status, 409, JSON.stringify(refused.body));
    assert.match(String(refused.body.error), /still takes writes.*--force/);
    assert.equal(await status(await standbyLeader(standby), "/standby-leader"), 200, "nothing changed");

    // The source under a writer, then lost: kill -9 of every node.
    const sourceWriter = new Writer(source.dsn);
    await sourceWriter.start();
    await new Promise((r) => setTimeout(r, 3000));
    for (const n of source.nodes) killNode(sourceDir, n.name);
    const sourceAcked = (await sourceWriter.stop()).ackedIds;

    // A writer on the standby cluster's proxy, failing until the promotion; then the command.
    const writer = new Writer(standby.dsn);
    const t0 = Date.now();
    const r = await callApi(any.apiUrl, "POST", "/promote-cluster", {}, auth, 60_000);
    const answered = Date.now();
    assert.equal(r.status, 200, JSON.stringify(r.body));
    log(`promote-cluster: ${r.body.message}; behind the source: ${JSON.stringify(r.body.behind_source)}; source ${String(r.body.source)}`);
    await writer.start();
    const firstAck = await eventually("a write acknowledged by the promoted cluster", 60_000, async () => writer.snapshot().ackTimes[0]);
    await new Promise((res) => setTimeout(res, 1000));
    const w = await writer.stop();
    assert.ok(w.ackedIds.length > 0);
    log(`promotion: command → answer ${answered - t0} ms, command → first acknowledged write ${firstAck - t0} ms`);

    // The promoted cluster holds a prefix of what the source acknowledged (asynchronous: the tail may be missing).
    const [{ n, max }] = await sql<{ n: number; max: number | null }>(
      standby.dsn,
      `SELECT count(*)::int AS n, max(id)::int AS max FROM ${TABLE} WHERE id < $1`,
      [w.ackedIds[0]],
    );
    const lost = sourceAcked.filter((id) => id > (max ?? 0)).length;
    assert.equal(n, max ?? 0, "no hole in what the standby cluster received");
    log(
      `source writes acknowledged ${sourceAcked.length}, missing after the promotion ${lost} (asynchronous replication to the standby cluster)`,
    );
    const after = await roles(standby);
    assert.ok(Object.values(after).includes("leader"), JSON.stringify(after));
  });
});
