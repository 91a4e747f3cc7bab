/**
 * Maintenance mode in the simulated cluster (the real driver and decision over the in-memory etcd
 * and modelled PostgreSQL): while paused, the leader's PostgreSQL crashing is left alone and nobody
 * promotes; resumed, the cluster heals on its own. No two primaries at any moment.
 */
import assert from "node:assert/strict";
import { SimCluster } from "../helpers/sim-cluster";

describe("simulated cluster: maintenance mode", () => {
  let sim: SimCluster | undefined;
  afterEach(() => sim?.stopAll());

  for (const mode of ["off", "on"] as const) {
    it(`synchronousMode ${mode}: paused, a crashed leader is not restarted and nobody promotes; resumed, the cluster heals`, async () => {
      sim = new SimCluster({ nodes: 3, synchronousMode: mode });
      const s = sim;
      await s.start();
      const healthy = () => s.primaries().length === 1 && s.nodes.every((n) => n.pg.running && (n.pg.streaming || !n.pg.standby));
      await s.until(healthy, 30_000);
      const leader = s.primaries()[0].name;
      const dcs = s.nodes[0].dcs;

      await dcs.attemptWriteConfig({ pause: true }, (await dcs.load()).configModRevision);
      await s.run(2000);
      s.node(leader).pg.crash();
      await s.run(20_000); // twenty loops
      assert.equal(s.primaries().length, 0, "nobody promoted");
      assert.equal(s.node(leader).pg.running, false, "the crashed leader was not restarted");
      assert.equal(s.leaderName(), undefined, "the leader gave its key up (its PostgreSQL does not run)");
      for (const n of s.nodes.filter((x) => x.name !== leader)) assert.ok(n.pg.running && n.pg.standby, `${n.name} still a replica`);

      await dcs.attemptWriteConfig({}, (await dcs.load()).configModRevision);
      await s.until(healthy, 30_000);
      assert.equal(s.primaries().length, 1);
      assert.deepEqual(s.splitBrain, [], "never two primaries");
    });
  }
});
