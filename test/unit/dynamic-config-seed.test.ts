/**
 * As Patroni's leader does, ours writes etcd's `config` key when it is absent, with the settings the
 * cluster runs on: Patroni's tools read it (`patronictl show-config`, `pause --wait` reads its loop_wait).
 */
import assert from "node:assert/strict";
import pino from "pino";
import { DynamicConfigApplier } from "../../sidecar/dynamic/apply";
import { dynamicFromSettings } from "../../sidecar/contract/settings/dynamic";
import { HA_DEFAULTS } from "../../sidecar/contract/settings/schema";
import { MemoryDcs, MemoryEtcd } from "../helpers/memory-dcs";

describe("dynamic config: a missing config key is written by the leader", () => {
  function setup(desired?: Record<string, unknown>) {
    const dcs = new MemoryDcs(new MemoryEtcd(() => 0), "/service/t/");
    const applier = new DynamicConfigApplier({
      name: "a",
      base: HA_DEFAULTS,
      started: HA_DEFAULTS,
      dcs,
      pg: { setParameters: async () => false, pendingRestartParameters: async () => [] },
      log: pino({ level: "silent" }),
      now: () => 0,
      wallNow: () => 0,
      desired: desired && { where: "test", read: async () => desired },
      desiredIntervalMs: 60_000,
    });
    return { dcs, applier };
  }

  it("the leader writes the settings it runs on; a replica does not; an existing key is left alone", async () => {
    const { dcs, applier } = setup();
    applier.observe(await dcs.load());
    await applier.afterLoop(false, true);
    assert.equal((await dcs.load()).config, undefined, "not by a replica");
    await applier.afterLoop(true, true);
    assert.deepEqual((await dcs.load()).config, dynamicFromSettings(HA_DEFAULTS));

    const other = setup();
    await other.dcs.attemptWriteConfig({ loop_wait: 2 }, undefined);
    other.applier.observe(await other.dcs.load());
    await other.applier.afterLoop(true, true);
    assert.deepEqual((await other.dcs.load()).config, { loop_wait: 2 });
  });

  it("with a desired document, the convergence writes the key instead", async () => {
    const { dcs, applier } = setup({ maximum_lag_on_failover: 5 });
    await dcs.attemptAcquireLeader("a", await dcs.grantLease(30));
    applier.observe(await dcs.load());
    await applier.afterLoop(true, true);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal((await dcs.load()).config?.maximum_lag_on_failover, 5);
  });
});
