/**
 * The planned switchover between clusters, by hand (docs/standby-cluster.md), with real etcd,
 * PostgreSQL and HAProxy and a writer: the source becomes a standby cluster of the other one (its
 * leader stops cleanly, row SB5), the standby cluster receives the source's WAL up to that shutdown
 * checkpoint and is promoted, and the old source's leader follows the new primary from its own
 * checkpoint, without a new copy. Counts the acknowledged writes lost (expected 0) and prints the
 * write unavailability.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { localDown, localUp } from "../../local/cluster";
import { tempClusterDir } from "../../local/demo";
import { sql } from "../../local/pitr";
import { localStandbySource } from "../../local/standby";
import { fetchCluster, httpGet, type ClusterFile } from "../../local/state";
import { countLost, Writer } from "../../local/writer";
import { callApi, localApiCredentials } from "../../sidecar/api/client";
import { findPgBinDir } from "../../sidecar/postgres/bin";
import { controlDataToInfo } from "../../sidecar/postgres/controldata";
import { eventually } from "../helpers/pg-client";

// Port block 18100–18399: the source at P, the standby cluster at P + 30.
const SOURCE_PORT = 18100;
const STANDBY_PORT = 18130;
const log = (s: string) => console.log(`      ${s}`);

async function leaderOf(c: ClusterFile, role: string): Promise<ClusterFile["nodes"][number]> {
  const name = await eventually(`a ${role}`, 60_000, async () => (await fetchCluster(c))?.members.find((m) => m.role === role)?.name);
  return c.nodes.find((n) => n.name === name)!;
}

describe("planned switchover between clusters (real etcd, PostgreSQL, HAProxy)", function () {
  this.timeout(600_000);
  let aDir = "";
  let bDir = "";
  let a: ClusterFile;
  let b: ClusterFile;

  before(async function () {
    aDir = tempClusterDir("hapg-itest-xswitch-a-");
    a = await localUp({ dir: aDir, basePort: SOURCE_PORT, nodes: 2, etcd: 1, progress: log });
    bDir = tempClusterDir("hapg-itest-xswitch-b-");
    b = await localUp({ dir: bDir, basePort: STANDBY_PORT, nodes: 2, etcd: 1, standbyOf: localStandbySource(aDir), progress: log });
  });

  after(async function () {
    for (const dir of [bDir, aDir]) {
      if (dir && fs.existsSync(dir)) await localDown(dir).catch((e) => console.error(`localDown ${dir}: ${(e as Error).message}`));
      if (dir) fs.rmSync(path.dirname(dir), { recursive: true, force: true });
    }
  });

  it("the source stops cleanly, the standby cluster catches up and is promoted, the old source follows it without a copy: no acknowledged write lost", async () => {
    const writer = new Writer(a.dsn);
    await writer.start();
    await new Promise((r) => setTimeout(r, 2000));
    const oldLeader = await leaderOf(a, "leader");
    const standbyLeader = await leaderOf(b, "standby_leader");

    // 1. The source becomes a standby cluster of the other one: its leader stops cleanly (row SB5).
    const t0 = Date.now();
    const patched = await callApi(
      oldLeader.apiUrl,
      "PATCH",
      "/config",
      { standby_cluster: { host: b.proxy.host, port: b.proxy.port } },
      localApiCredentials(a),
    );
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    await eventually("the source's primary stopped", 30_000, async () =>
      (await httpGet(`${oldLeader.apiUrl}/primary`)).status === 503 ? true : undefined,
    );
    const before = await writer.stop();
    // 2. Its shutdown checkpoint, and the standby leader having received it.
    const bin = path.join(findPgBinDir(), "pg_controldata");
    const checkpoint = await eventually("a clean shutdown checkpoint", 30_000, async () => {
      const info = controlDataToInfo(execFileSync(bin, ["-D", oldLeader.dataDir], { encoding: "utf8" }));
      return info.clusterState === "shut down" || info.clusterState === "shut down in recovery" ? info.checkpointLsn : undefined;
    });
    await eventually("the standby leader has the source's last WAL", 30_000, async () => {
      const p = (await httpGet(`${standbyLeader.apiUrl}/patroni`)).body as {
        xlog?: { received_location?: number; replayed_location?: number };
      };
      return (p.xlog?.replayed_location ?? 0) >= checkpoint! ? true : undefined;
    });
    // 3. Promotion (the source no longer takes writes: not refused), then writes on the new primary.
    const promoted = await callApi(standbyLeader.apiUrl, "POST", "/promote-cluster", {}, localApiCredentials(b), 60_000);
    assert.equal(promoted.status, 200, JSON.stringify(promoted.body));
    const after = new Writer(b.dsn);
    await after.start();
    const firstAck = await eventually("a write on the promoted cluster", 60_000, async () => after.snapshot().ackTimes[0]);
    await new Promise((r) => setTimeout(r, 1000));
    const w = await after.stop();
    const lastAck = before.ackTimes[before.ackTimes.length - 1];
    const lost = await countLost(b.dsn, before.ackedIds);
    log(
      `switchover between clusters: PATCH → first write on the new primary ${firstAck - t0} ms; write unavailability ${firstAck - lastAck} ms; ` +
        `acknowledged before ${before.ackedIds.length}, lost ${lost.lost}; after ${w.ackedIds.length}`,
    );
    assert.equal(lost.lost, 0, `lost: ${lost.sample.join(", ")}`);

    // 4. The old source's leader follows the new primary from its checkpoint: a standby leader, no new copy.
    const follower = await leaderOf(a, "standby_leader");
    await eventually("the old source streams from the new primary", 60_000, async () => {
      const p = (await httpGet(`${follower.apiUrl}/patroni`)).body as { replication_state?: string; timeline?: number };
      return p.replication_state === "streaming" && (p.timeline ?? 0) >= 2 ? true : undefined;
    });
    const agentLog = fs.readFileSync(path.join(path.dirname(oldLeader.dataDir), "agent.log"), "utf8");
    assert.doesNotMatch(agentLog.slice(agentLog.indexOf("became a standby cluster")), /pg_basebackup|pg_rewind/);
    const rows = await sql<{ n: number }>(b.dsn, "SELECT count(*)::int AS n FROM hapg_writes");
    assert.ok(rows[0].n >= before.ackedIds.length + w.ackedIds.length);
  });
});
