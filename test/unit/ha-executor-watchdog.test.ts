/**
 * The executor's `armWatchdog`: with an old renewal it renews the lease first, so the reset still
 * lands before the lease can expire; a device that cannot be opened stops the action list in mode
 * "required" and is stepped over in mode "automatic". Real lease keeper on the in-memory etcd, real
 * `Watchdog` on a stand-in device, fake clock.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { MemoryDcs, MemoryEtcd } from "../helpers/memory-dcs";
import { testExecutor } from "../helpers/executor";
import { selfOf } from "../helpers/ha-fixtures";
import { LeaseKeeper } from "../../sidecar/ha/lease";
import { silentLogger } from "../helpers/silent-logger";
import { PostgresOwner } from "../../sidecar/postgres/owner";
import type { WatchdogMode } from "../../sidecar/contract/settings/schema";
import { Watchdog } from "../../sidecar/watchdog/watchdog";
import { FakeClock } from "../helpers/fake-clock";
import { FakePgWorld } from "../helpers/fake-postgres";
import { simTiming, standInDevice } from "../helpers/sim-watchdog";

describe("executor: arming the watchdog", () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "hapg-execwd-"))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  async function setup(mode: WatchdogMode, beforeProbe?: (stand: ReturnType<typeof standInDevice>) => void) {
    const clock = new FakeClock();
    const etcd = new MemoryEtcd(() => clock.now());
    const dcs = new MemoryDcs(etcd, "/service/t/");
    const lease = new LeaseKeeper(dcs, clock, 4, 1000, silentLogger(), () => undefined);
    await lease.ensure();
    const stand = standInDevice(dir, 3);
    beforeProbe?.(stand);
    const watchdog = new Watchdog({
      mode,
      device: stand.device,
      timing: simTiming(4),
      ttlMs: 4000,
      clock,
      log: silentLogger(),
      sysfsRoot: stand.sysfsRoot,
    }).probe();
    const pg = new PostgresOwner(new FakePgWorld().add("a", { host: "10.0.0.1", port: 5432 }));
    const executor = testExecutor({ self: selfOf("a"), dcs, pg, clock, lease, watchdog });
    return { clock, lease, watchdog, executor, stand };
  }

  it("renews the lease first when the last renewal is too old for the reset to land in time", async () => {
    const { clock, lease, watchdog, executor, stand } = await setup("required");
    await clock.advance(900); // the grant was sent 900 ms ago: a reset 3 s from now would come 0.4 s too late
    const grantedAt = lease.renewSentAt!;
    assert.equal(await executor.run([{ type: "armWatchdog" }]), true);
    assert.ok(lease.renewSentAt! > grantedAt, "a fresh renewal was sent");
    assert.equal(watchdog.view().armed, true);
    assert.equal(fs.readFileSync(stand.device, "utf8"), "1");
  });

  for (const [mode, continues] of [
    ["required", false],
    ["automatic", true],
  ] as const) {
    it(`mode ${mode}: a device that cannot be opened ${continues ? "is stepped over" : "stops the actions"}`, async () => {
      const { watchdog, executor, stand } = await setup(mode);
      fs.rmSync(stand.device); // gone between the probe and the arm
      assert.equal(await executor.run([{ type: "armWatchdog" }]), continues);
      assert.equal(watchdog.view().usable, false);
      assert.match(watchdog.view().problem!, /^cannot open .*watchdog0: ENOENT/);
    });
  }

  it("a device still counting after a killed agent (sysfs state active) can be opened again", async () => {
    const { watchdog, executor } = await setup("required", (stand) =>
      fs.writeFileSync(path.join(path.dirname(stand.timeoutFile), "state"), "active\n"),
    );
    assert.equal(watchdog.view().usable, true);
    assert.equal(await executor.run([{ type: "armWatchdog" }]), true);
    assert.equal(watchdog.view().armed, true);
  });
});
