/**
 * The watchdog's device owner against a stand-in device (a regular file: no /dev/watchdog here, and
 * loading softdog would reset this machine) and a stand-in sysfs directory. What the kernel would
 * see is what the file holds: "1" per pet, "V" (the magic close) when disarmed.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { buildProgram } from "../../sidecar/cli/main";
import { silentLogger } from "../helpers/silent-logger";
import type { WatchdogMode } from "../../sidecar/contract/settings/schema";
import { Watchdog, WatchdogOptions } from "../../sidecar/watchdog/watchdog";
import { FakeClock } from "../helpers/fake-clock";
import { simTiming, standInDevice } from "../helpers/sim-watchdog";

const TIMING = simTiming(4); // timeout 3 s, safety margin 0.5 s, pet window 0.5 s
/** The lease keeper's state after a renewal sent at `renewSentAt`. */
const lease = (renewSentAt: number) => ({ leaseId: "lease-1", renewSentAt });

describe("watchdog device (stand-in)", () => {
  let dir: string;
  let clock: FakeClock;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "hapg-watchdog-"));
    clock = new FakeClock();
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** A watchdog on a fresh stand-in device whose sysfs says `kernelTimeoutS` (default: the planned 3 s). */
  function watchdog({ kernelTimeoutS, ...over }: Partial<WatchdogOptions> & { kernelTimeoutS?: number } = {}) {
    const stand = standInDevice(dir, kernelTimeoutS ?? TIMING.timeoutS);
    const wd = new Watchdog({
      mode: "automatic",
      device: stand.device,
      timing: TIMING,
      ttlMs: 4000,
      clock,
      log: silentLogger(),
      sysfsRoot: stand.sysfsRoot,
      ...over,
    });
    return { wd, stand, written: () => fs.readFileSync(stand.device, "utf8") };
  }

  it("probing never opens the device; arming pets at once, each renewal pets, disarming writes V and closes", async () => {
    const { wd, written } = watchdog();
    wd.probe();
    assert.deepEqual(wd.view(), {
      mode: "automatic",
      usable: true,
      problem: undefined,
      armed: false,
      firesAt: undefined,
      safetyMarginMs: 500,
    });
    assert.equal(written(), "", "a probe must not start the countdown");
    wd.pet(lease(clock.now())); // not armed: a replica's renewals pet nothing
    assert.equal(written(), "");

    await clock.advance(1000);
    assert.equal(wd.arm(lease(clock.now() - 100)), "armed");
    assert.equal(written(), "1");
    assert.equal(wd.view().firesAt, clock.now() + 3000);
    for (let i = 0; i < 3; i++) {
      await clock.advance(1000);
      wd.pet(lease(clock.now() - 20)); // a renewal sent 20 ms ago came back
      assert.equal(wd.view().firesAt, clock.now() + 3000);
    }
    assert.equal(written(), "1111");
    wd.disarm();
    assert.equal(written(), "1111V");
    assert.deepEqual([wd.view().armed, wd.view().firesAt], [false, undefined]);
    wd.pet(lease(clock.now()));
    wd.disarm();
    assert.equal(written(), "1111V", "nothing is written once closed");
  });

  it("pets and arms only while the reset lands safetyMargin before the lease can expire, and only for its lease", async () => {
    const { wd, written } = watchdog();
    wd.probe();
    await clock.advance(10_000);
    assert.equal(wd.arm(lease(clock.now() - 501)), "late", "a renewal sent 501 ms ago: the reset would come 1 ms too late");
    assert.equal(written(), "", "a late arm does not open the device");
    assert.equal(wd.arm(lease(clock.now() - 500)), "armed");
    const firesAt = wd.view().firesAt;
    await clock.advance(1000);
    wd.pet(lease(clock.now() - 700)); // a slow renewal: its lease ends at now + 3.3 s, a pet would reset at now + 3 s
    assert.equal(written(), "1", "the slow renewal does not pet");
    assert.equal(wd.view().firesAt, firesAt, "the earlier countdown stands");
    wd.pet({ leaseId: "lease-1" });
    assert.equal(written(), "1");
    wd.pet({ leaseId: "lease-2", renewSentAt: clock.now() }); // a fresh lease after ours expired holds no leader key
    assert.equal(written(), "1", "only renewals of the lease it was armed under pet it");
    wd.pet(lease(clock.now()));
    assert.equal(written(), "11");
  });

  it("sets another timeout before opening the device, then reads it back", () => {
    const calls: string[] = [];
    const { wd, stand, written } = watchdog({
      kernelTimeoutS: 60,
      setTimeout: (device, s) => {
        calls.push(`${path.basename(device)} ${s}`);
        fs.writeFileSync(stand.timeoutFile, `${s}\n`); // what wdctl --settimeout does to sysfs
        return undefined;
      },
    });
    wd.probe();
    assert.deepEqual(calls, ["watchdog0 3"]);
    assert.equal(wd.view().usable, true);
    assert.equal(written(), "");
  });

  it("automatic: a timeout that cannot be set leaves the agent without a watchdog, saying how to fix it", () => {
    const { wd } = watchdog({ kernelTimeoutS: 60, setTimeout: () => "wdctl: cannot set timeout" });
    wd.probe();
    const v = wd.view();
    assert.equal(v.usable, false);
    assert.equal(v.problem, "its timeout is 60 s and could not be set to 3 s (wdctl: cannot set timeout): load softdog with soft_margin=3");
    assert.equal(wd.arm(lease(clock.now())), "failed");
  });

  it("the real wdctl cannot set the timeout of a file that is no watchdog: unusable, wdctl's answer named", () => {
    const { wd, written } = watchdog({ kernelTimeoutS: 60 });
    wd.probe();
    assert.equal(wd.view().usable, false);
    assert.match(
      wd.view().problem!,
      /^its timeout is 60 s and could not be set to 3 s \(wdctl: cannot set timeout for .*watchdog0: .+\): load softdog with soft_margin=3$/,
    );
    assert.doesNotMatch(written(), /1/, "probing never petted it");
  });

  it("finds the sysfs entry by major:minor when the device has another name", () => {
    const stand = standInDevice(dir, TIMING.timeoutS);
    const device = path.join(dir, "dev", "mydog");
    fs.writeFileSync(device, "");
    fs.renameSync(path.join(stand.sysfsRoot, "class/watchdog/watchdog0"), path.join(stand.sysfsRoot, "class/watchdog/watchdog1"));
    const wd = () =>
      new Watchdog({
        mode: "automatic",
        device,
        timing: TIMING,
        ttlMs: 4000,
        clock,
        log: silentLogger(),
        sysfsRoot: stand.sysfsRoot,
      }).probe();
    assert.match(wd().view().problem!, /cannot find .*mydog under .*\/class\/watchdog/);
    // A regular file's device number is 0:0; /sys/dev/char/M:m links to the device's sysfs entry.
    fs.mkdirSync(path.join(stand.sysfsRoot, "dev/char"), { recursive: true });
    fs.symlinkSync(path.join(stand.sysfsRoot, "class/watchdog/watchdog1"), path.join(stand.sysfsRoot, "dev/char/0:0"));
    assert.equal(wd().view().usable, true);
  });

  it("refuses a device with nowayout (closing would never disarm it)", () => {
    const { wd, stand } = watchdog();
    fs.writeFileSync(path.join(path.dirname(stand.timeoutFile), "nowayout"), "1\n");
    wd.probe();
    assert.match(wd.view().problem!, /nowayout/);
  });

  it("mode required: no device is a startup error; automatic runs without", () => {
    const device = path.join(dir, "nodev", "watchdog");
    const make = (mode: WatchdogMode) =>
      new Watchdog({ mode, device, timing: TIMING, ttlMs: 4000, clock, log: silentLogger(), sysfsRoot: dir });
    assert.throws(() => make("required").probe(), {
      message: `watchdog.mode is required but ${device} does not exist: load softdog (modprobe softdog) or set watchdog.mode to automatic or off`,
    });
    const auto = make("automatic").probe();
    assert.deepEqual([auto.view().usable, auto.view().problem], [false, `no watchdog device ${device}`]);
  });

  it("hapg check-config refuses mode required without the device, with the same message", async () => {
    const file = path.join(dir, "agent.json");
    const device = path.join(dir, "nodev", "watchdog");
    const config = {
      cluster: "main",
      name: "node1",
      etcd: { endpoints: ["http://127.0.0.1:2379"] },
      postgres: {
        dataDir: "/var/lib/hapg/data",
        listen: { host: "127.0.0.1" },
        superuser: { passwordEnv: "A" },
        replication: { passwordEnv: "B" },
      },
      api: { listen: { host: "127.0.0.1" } },
      watchdog: { mode: "required", device },
    };
    fs.writeFileSync(file, JSON.stringify(config));
    const program = buildProgram().exitOverride();
    await assert.rejects(program.parseAsync(["node", "hapg", "check-config", "--config", file]), {
      message: new RegExp(`^watchdog\\.mode is required but ${device} does not exist: load softdog`),
    });
  });
});
