/**
 * POST /promote-cluster over an in-memory etcd: refused (nothing written) when the cluster is not a
 * standby cluster or while the source still takes writes unless forced; otherwise standby_cluster
 * goes, and the answer says how far behind the source the standby leader was.
 */
import assert from "node:assert/strict";
import { promoteCluster, parsePromoteRequest, type PromoteClusterDeps } from "../../sidecar/api/promote-cluster";
import { behindText } from "../../sidecar/cli/promote-cluster";
import { HA_DEFAULTS } from "../../sidecar/contract/settings/schema";
import type { SourceProbe } from "../../sidecar/postgres/remote-probe";
import { member } from "../helpers/ha-fixtures";
import { MemoryDcs, MemoryEtcd } from "../helpers/memory-dcs";
import { silentLogger } from "../helpers/silent-logger";

const LAG = { streaming: true, source_lsn: 9500, bytes: 1500, seconds: 2.5 };

async function standbyCluster(config: Record<string, unknown>, role: "standby_leader" | "primary" = "standby_leader") {
  const dcs = new MemoryDcs(new MemoryEtcd(() => Date.now()), "/service/t/");
  await dcs.attemptWriteConfig(config, undefined);
  const lease = await dcs.grantLease(10);
  await dcs.putMember("a", { ...member("a", role, 5432).data, source_lag: LAG, xlog_location: 8000 }, lease);
  await dcs.attemptAcquireLeader("a", lease);
  return dcs;
}

function deps(dcs: MemoryDcs, probe: SourceProbe, waitMs = 0): PromoteClusterDeps & { probed: string[] } {
  const probed: string[] = [];
  const log = silentLogger();
  return {
    dcs,
    config: { dcs, base: HA_DEFAULTS, log },
    probe: async (host, port) => (probed.push(`${host}:${port}`), probe),
    log,
    waitMs,
    probed,
  };
}

const STANDBY = { standby_cluster: { host: "10.9.0.1", port: 6432 }, ttl: 4 };

describe("POST /promote-cluster", () => {
  it("refuses a cluster that is not a standby cluster", async () => {
    const dcs = await standbyCluster({ ttl: 4 }, "primary");
    const r = await promoteCluster({}, deps(dcs, { state: "unreachable", error: "x" }));
    assert.equal(r.status, 409);
    assert.match(String((r.body as { error: string }).error), /not a standby cluster/);
  });

  it("refuses while the source's endpoint takes writes, naming --force; nothing is written", async () => {
    const dcs = await standbyCluster(STANDBY);
    const d = deps(dcs, { state: "writable" });
    const r = await promoteCluster({}, d);
    assert.equal(r.status, 409);
    assert.match(String((r.body as { error: string }).error), /10\.9\.0\.1:6432 still takes writes.*--force/);
    assert.deepEqual(d.probed, ["10.9.0.1:6432"]);
    assert.deepEqual((await dcs.load()).config, STANDBY);
  });

  for (const [what, probe, force] of [
    ["the source is unreachable", { state: "unreachable", error: "connect ECONNREFUSED" }, false],
    ["the source is in recovery (its cluster has no leader)", { state: "read-only" }, false],
    ["forced while the source takes writes", { state: "writable" }, true],
  ] as [string, SourceProbe, boolean][]) {
    it(`removes standby_cluster when ${what}, and says how far behind the source it was`, async () => {
      const dcs = await standbyCluster(STANDBY);
      const r = await promoteCluster({ force }, deps(dcs, probe));
      assert.equal(r.status, 202, JSON.stringify(r.body)); // nobody promotes here: no agent runs
      assert.deepEqual((await dcs.load()).config, { ttl: 4 });
      const b = r.body as { standby_leader: string; behind_source: unknown; source: string };
      assert.equal(b.standby_leader, "a");
      assert.equal(b.source, probe.state);
      assert.deepEqual(b.behind_source, { bytes: 1500, seconds: 2.5, source_lsn: 9500 });
      assert.match(behindText(b.behind_source as never), /1500 bytes and 2\.5 s behind/);
    });
  }

  it("answers 200 with the time it took once the leader's member key says primary", async () => {
    const dcs = await standbyCluster(STANDBY);
    const d = deps(dcs, { state: "unreachable", error: "timeout" }, 5000);
    const done = promoteCluster({}, d);
    setTimeout(() => {
      void dcs.load().then((c) => {
        const a = c.members.find((m) => m.name === "a")!;
        return dcs.putMember("a", { ...a.data, role: "primary" }, a.leaseId);
      });
    }, 200);
    const r = await done;
    assert.equal(r.status, 200);
    assert.match(String((r.body as { message: string }).message), /promoted: a is the primary \(\d+ ms\)/);
  });

  it("an archive-only standby cluster has no endpoint to ask", async () => {
    const dcs = await standbyCluster({ standby_cluster: { restore_command: "get %f %p" } });
    const d = deps(dcs, { state: "writable" });
    const r = await promoteCluster({}, d);
    assert.equal(r.status, 202);
    assert.deepEqual(d.probed, []);
  });

  it("bad bodies are a 400 naming the field", () => {
    assert.deepEqual(parsePromoteRequest({ force: "yes" }), { ok: false, error: "force: must be true or false" });
    assert.match((parsePromoteRequest({ forse: true }) as { error: string }).error, /forse: unknown field/);
  });
});
