/**
 * A standby cluster following its source through the source's WAL archive alone (real etcd,
 * PostgreSQL, HAProxy, pgBackRest and s3rver): the source archives to its S3 server; the standby
 * cluster (`localUp({ standbyOf })`) streams first, then `standby_cluster.host` is removed from its
 * config (PATCH /config) and it keeps following with restore_command only. Prints the lag: commit on
 * the source → visible on the standby leader, with a WAL switch and without one (archive_timeout).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { localDown, localUp } from "../../local/cluster";
import { tempClusterDir } from "../../local/demo";
import { archiveNow, sql, waitForBackups } from "../../local/pitr";
import { localStandbySource } from "../../local/standby";
import { fetchCluster, httpGet, type ClusterFile } from "../../local/state";
import { callApi, localApiCredentials } from "../../sidecar/api/client";
import { dsnWithPort, eventually } from "../helpers/pg-client";

// Port block 17800–18099: the source at P, the standby cluster at P + 30.
const SOURCE_PORT = 17800;
const STANDBY_PORT = 17830;
const log = (s: string) => console.log(`      ${s}`);

describe("standby cluster following the source's archive only (real pgBackRest and S3)", function () {
  this.timeout(600_000);
  let sourceDir = "";
  let standbyDir = "";
  let source: ClusterFile;
  let standby: ClusterFile;

  before(async function () {
    sourceDir = tempClusterDir("hapg-itest-sbarch-src-");
    source = await localUp({ dir: sourceDir, basePort: SOURCE_PORT, nodes: 1, etcd: 1, backup: true, timeoutMs: 150_000, progress: log });
    await waitForBackups(sourceDir, 1, 120_000);
    await sql(source.dsn, "CREATE TABLE dr (id int PRIMARY KEY)");
    standbyDir = tempClusterDir("hapg-itest-sbarch-");
    standby = await localUp({
      dir: standbyDir,
      basePort: STANDBY_PORT,
      nodes: 1,
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

  it("keeps following with restore_command alone once it may not stream", async () => {
    const node = standby.nodes[0];
    const config = (await httpGet(`${node.apiUrl}/config`)).body as { standby_cluster: { restore_command?: string } };
    assert.match(config.standby_cluster.restore_command ?? "", /archive-get %f "%p"/, "the source's archive is configured");
    const r = await callApi(node.apiUrl, "PATCH", "/config", { standby_cluster: { host: null } }, localApiCredentials(standby));
    assert.equal(r.status, 200, JSON.stringify(r.body));
    await eventually("the standby leader no longer streams", 30_000, async () => {
      const p = (await httpGet(`${node.apiUrl}/patroni`)).body as { role: string; replication_state?: string };
      return p.role === "standby_leader" && p.replication_state !== "streaming" ? true : undefined;
    });
    const view = await fetchCluster(standby);
    assert.equal(view?.members[0].role, "standby_leader");

    const seen = async (id: number) =>
      (await sql<{ n: number }>(dsnWithPort(standby.dsn, node.pgPort), "SELECT count(*)::int AS n FROM dr WHERE id = $1", [id]))[0].n === 1
        ? Date.now()
        : undefined;
    // With a WAL switch on the source (the segment goes to the archive at once).
    let t0 = Date.now();
    await sql(source.dsn, "INSERT INTO dr (id) VALUES (1)");
    await archiveNow(source.dsn, 60_000);
    const switched = (await eventually("row 1 from the archive", 120_000, () => seen(1))) - t0;
    // Without one: the source's archive_timeout switches the segment.
    t0 = Date.now();
    await sql(source.dsn, "INSERT INTO dr (id) VALUES (2)");
    const timed = (await eventually("row 2 from the archive", 180_000, () => seen(2))) - t0;
    log(`lag (archive only): ${switched} ms with a WAL switch on the source, ${timed} ms waiting for its archive_timeout`);
  });
});
