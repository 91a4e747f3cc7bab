/**
 * The PostgreSQL process state has one owner: PostgresOwner moves it with each command, on a crash
 * and on a status read, and nothing else can write it (no setter: the compiler refuses an assignment,
 * and so does the runtime). The engine is the simulated cluster's model of PostgreSQL.
 */
import assert from "node:assert/strict";
import type { DriverOptions } from "../../sidecar/ha/driver";
import type { ExecutorDeps } from "../../sidecar/ha/executor";
import { PostgresOwner } from "../../sidecar/postgres/owner";
import type { HostPort, PgProcessState } from "../../sidecar/postgres/types";
import { FakePgWorld } from "../helpers/fake-postgres";

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

const LEADER: HostPort = { host: "10.0.0.1", port: 5432 };

/** A primary at LEADER and a second server whose engine notes the owner's state whenever a command reaches it. */
async function setup() {
  const world = new FakePgWorld();
  const leader = world.add("a", LEADER);
  await leader.bootstrap();
  const engine = world.add("b", { host: "10.0.0.2", port: 5432 });
  const seen: PgProcessState[] = [];
  const owner = new PostgresOwner(
    new Proxy(engine, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (typeof v !== "function" || prop === "onUnexpectedExit") return v;
        return (...args: unknown[]) => {
          seen.push(owner.process);
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    }),
  );
  return { world, leader, engine, owner, seen };
}

describe("PostgresOwner: the one writer of the process state", () => {
  it("starts stopped, and each command runs in its own state and ends in the next", async () => {
    const { engine, owner, seen } = await setup();
    assert.equal(owner.process, "stopped");
    const steps: Array<[string, () => Promise<unknown>, PgProcessState, PgProcessState]> = [
      ["createReplica", () => owner.createReplica(LEADER), "creating replica", "stopped"],
      ["startReplica", () => owner.startReplica(LEADER), "starting", "running"],
      ["promote", () => owner.promote(), "running", "running"],
      ["fence", () => owner.fence(), "stopping", "fenced"],
      ["rewind", () => owner.rewind(LEADER), "rewinding", "stopped"],
      ["startPrimary", () => owner.startPrimary(), "starting", "running"],
      ["stop", () => owner.stop(), "stopping", "stopped"],
      ["wipe", () => owner.wipe(), "stopped", "stopped"],
      ["bootstrap", () => owner.bootstrap(), "bootstrapping", "running"],
    ];
    for (const [name, run, during, after] of steps) {
      seen.length = 0;
      await run();
      assert.ok(seen.length > 0 && seen.every((s) => s === during), `${name}: ${seen.join(", ")} while it ran, expected ${during}`);
      assert.equal(owner.process, after, `${name} ends in ${after}`);
    }
    assert.deepEqual(engine.commands.slice(0, 2), ["wipe", "baseBackup 5432"], "createReplica wipes, then copies");
  });

  it("a command that fails leaves the state stopped and reports the error", async () => {
    const { leader, owner } = await setup();
    await leader.stop();
    await assert.rejects(owner.createReplica(LEADER), /source not running/);
    assert.equal(owner.process, "stopped");
  });

  it("a postmaster that exits unasked is crashed before anyone is told", async () => {
    const { engine, owner } = await setup();
    await owner.startPrimary();
    const told: PgProcessState[] = [];
    owner.onUnexpectedExit(() => told.push(owner.process));
    engine.crash();
    assert.deepEqual(told, ["crashed"]);
    assert.equal(owner.process, "crashed");
  });

  it("adopts a running postmaster as running", async () => {
    const { engine, owner } = await setup();
    assert.equal(await owner.adopt(), false);
    assert.equal(owner.process, "stopped");
    await engine.startPrimary(); // a previous agent's postmaster
    assert.equal(await owner.adopt(), true);
    assert.equal(owner.process, "running");
  });

  it("a status read settles the state with what it finds, but not a fenced or crashed server that stays down", async () => {
    const { engine, owner } = await setup();
    await owner.startPrimary();
    engine.crash();
    await owner.status();
    assert.equal(owner.process, "crashed", "still down: stays crashed");
    await engine.startPrimary(); // started behind the owner's back
    await owner.status();
    assert.equal(owner.process, "running");
    await engine.stop();
    await owner.status();
    assert.equal(owner.process, "stopped");
    await owner.startPrimary();
    await owner.fence();
    await owner.status();
    assert.equal(owner.process, "fenced");
  });

  it("nothing else can write it: the compiler refuses an assignment, and so does the runtime", async () => {
    const { owner } = await setup();
    assert.throws(() => {
      // @ts-expect-error -- the process state is read-only outside its owner (the build fails if this compiles)
      owner.process = "running";
    }, TypeError);
    assert.equal(owner.process, "stopped");
  });

  it("the HA driver and executor are handed the owner, not an engine they could bypass it with", () => {
    // Checked by the compiler: each line fails to build if the type is anything but PostgresOwner.
    const driverTakesOwner: Same<DriverOptions["pg"], PostgresOwner> = true;
    const executorTakesOwner: Same<ExecutorDeps["pg"], PostgresOwner> = true;
    assert.ok(driverTakesOwner && executorTakesOwner);
  });
});
