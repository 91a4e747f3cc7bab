/**
 * The executor's `baseBackup` wipes the data directory and copies the leader's: it must never wipe
 * while the leader does not answer (a leader that just died would leave this member with nothing,
 * and it may be the member a failover needs). Fake PostgreSQL servers, in-memory etcd, fake clock.
 */
import assert from "node:assert/strict";
import { MemoryDcs, MemoryEtcd } from "../helpers/memory-dcs";
import { testExecutor } from "../helpers/executor";
import { selfOf } from "../helpers/ha-fixtures";
import { LeaseKeeper } from "../../sidecar/ha/lease";
import { silentLogger } from "../helpers/silent-logger";
import { PostgresOwner } from "../../sidecar/postgres/owner";
import { FakeClock } from "../helpers/fake-clock";
import { FakePgWorld } from "../helpers/fake-postgres";

describe("executor: base backup", () => {
  async function setup() {
    const clock = new FakeClock();
    const dcs = new MemoryDcs(new MemoryEtcd(() => clock.now()), "/service/t/");
    const lease = new LeaseKeeper(dcs, clock, 4, 1000, silentLogger(), () => undefined);
    const world = new FakePgWorld();
    const leaderAt = { host: "10.0.0.1", port: 5432 };
    const leader = world.add("a", leaderAt);
    await leader.bootstrap();
    await leader.startPrimary();
    const me = world.add("b", { host: "10.0.0.2", port: 5432 });
    await me.baseBackup(leaderAt); // b has data (say, a replica whose rewind failed)
    const memory = { rewindFailed: true };
    const executor = testExecutor({ self: selfOf("b"), dcs, pg: new PostgresOwner(me), clock, lease, memory });
    return { leader, me, memory, executor, action: { type: "baseBackup" as const, leader: "a", upstream: leaderAt } };
  }

  it("keeps the data directory while the leader does not answer, and copies once it does", async () => {
    const { leader, me, memory, executor, action } = await setup();
    await leader.stop();
    assert.equal(await executor.run([action]), false);
    assert.equal(me.initialized, true, "nothing was wiped");
    assert.ok(!me.commands.includes("wipe"));
    assert.equal(memory.rewindFailed, true, "still to be done");
    await leader.startPrimary();
    assert.equal(await executor.run([action]), true);
    assert.deepEqual(me.commands.slice(-2), ["wipe", "baseBackup 5432"]);
    assert.equal(memory.rewindFailed, false);
  });
});
