/** The watchdog's arithmetic and probing rules (pure): timeout, pet window, device lookup, sysfs verdicts. */
import assert from "node:assert/strict";
import { fenceMarginSeconds, watchdogTiming } from "../../sidecar/contract/settings/timing";
import { assessSysfs, devNumbers, mayPet, missingDeviceProblem, sysfsNameFromBasename } from "../../sidecar/watchdog/plan";

const timingFor = (ttl: number, safetyMargin?: number) => watchdogTiming({ ttl, safetyMargin });

describe("watchdog timing", () => {
  it("defaults (ttl 4): timeout 3 s, reset 0.5 s before the lease can expire, pets within 0.5 s of the renewal", () => {
    assert.deepEqual(timingFor(4), { timing: { timeoutS: 3, safetyMarginS: 0.5, petWindowS: 0.5 }, problems: [] });
  });

  it("the timeout always leaves a live leader time to fence first and a stuck one's reset before expiry", () => {
    for (const ttl of [2, 2.5, 3, 4, 4.55, 6, 10, 30]) {
      const fence = fenceMarginSeconds(ttl);
      const t = timingFor(ttl).timing!;
      assert.ok(Number.isInteger(t.timeoutS) && t.timeoutS >= 1, `ttl ${ttl}: whole seconds, at least 1`);
      // A pet at the latest allowed moment after a renewal sent at 0 resets at ttl − safetyMargin.
      assert.ok(t.timeoutS + t.petWindowS <= ttl - t.safetyMarginS + 1e-9, `ttl ${ttl}: reset before the lease can expire`);
      // An immediate pet resets at timeout; the live leader fences at timeout + safetyMargin − fenceMargin.
      assert.ok(fence - t.safetyMarginS >= 0.25 - 1e-9, `ttl ${ttl}: the live leader fences ≥ 0.25 s before the reset`);
      assert.ok(t.petWindowS >= 0.25 - 1e-9, `ttl ${ttl}: a renewal's answer has ≥ 0.25 s`);
    }
  });

  it("refuses a safety margin that leaves the live leader no time to fence first, naming the field and the fix", () => {
    const { timing, problems } = timingFor(4, 0.9);
    assert.equal(timing, undefined);
    assert.equal(problems.length, 1);
    assert.equal(problems[0].field, "watchdog.safetyMargin");
    assert.match(
      problems[0].message,
      /^0\.9 s must be above 0 and at most 0\.75 s: .* remove watchdog\.safetyMargin to use 0\.5 s, or set watchdog\.mode to off$/,
    );
  });

  it("refuses a combination that leaves a timeout under 1 s, naming ttl and safetyMargin", () => {
    const { problems } = timingFor(4, 3);
    const p = problems.find((x) => x.field === "timing.ttl");
    assert.ok(p, JSON.stringify(problems));
    assert.match(
      p.message,
      /^4 s − watchdog\.safetyMargin \(3 s\) − 0\.25 s .* under 1 s, the kernel's smallest: raise timing\.ttl, lower watchdog\.safetyMargin or set watchdog\.mode to off$/,
    );
  });

  it("pets only while the reset it schedules lands safetyMargin before the renewal's lease can expire", () => {
    // Renewal sent at 1000, ttl 4000, margin 500, timeout 3 s: the pet may be written until 1500.
    assert.equal(mayPet(1500, 1000, 4000, 500, 3), true);
    assert.equal(mayPet(1501, 1000, 4000, 500, 3), false);
    assert.equal(mayPet(1000, undefined, 4000, 500, 3), false, "no lease, no pet");
  });
});

describe("watchdog device lookup and sysfs", () => {
  it("names the startup error of mode required without a device, and only then", () => {
    assert.equal(
      missingDeviceProblem("required", "/dev/watchdog", false),
      "watchdog.mode is required but /dev/watchdog does not exist: load softdog (modprobe softdog) or set watchdog.mode to automatic or off",
    );
    assert.equal(missingDeviceProblem("automatic", "/dev/watchdog", false), undefined);
    assert.equal(missingDeviceProblem("required", "/dev/watchdog", true), undefined);
  });

  it("maps /dev/watchdog to watchdog0 and /dev/watchdogN to itself", () => {
    assert.equal(sysfsNameFromBasename("watchdog"), "watchdog0");
    assert.equal(sysfsNameFromBasename("watchdog3"), "watchdog3");
    assert.equal(sysfsNameFromBasename("mydog"), undefined);
  });

  it("splits a device number as Linux does (misc 10:130, and numbers above 8 bits)", () => {
    assert.equal(devNumbers((10 << 8) | 130), "10:130");
    assert.equal(devNumbers((248 << 8) | 1), "248:1");
    // major 300, minor 70000: makedev puts the high bits of both above bit 12 / bit 32.
    const major = 300;
    const minor = 70000;
    const rdev = Number(
      (BigInt(major & 0xfff) << 8n) | (BigInt(major & ~0xfff) << 32n) | BigInt(minor & 0xff) | (BigInt(minor & ~0xff) << 12n),
    );
    assert.equal(devNumbers(rdev), "300:70000");
  });

  it("accepts only the planned timeout, and refuses nowayout", () => {
    assert.equal(assessSysfs({ timeout: 3 }, 3, "/dev/watchdog"), "ok");
    assert.equal(assessSysfs({ timeout: 60 }, 3, "/dev/watchdog"), "set-timeout");
    assert.equal(
      assessSysfs({ timeout: 2 }, 3, "/dev/watchdog"),
      "set-timeout",
      "a shorter one would reset a live leader between renewals",
    );
    assert.match(
      (assessSysfs({ timeout: 3, nowayout: "1" }, 3, "/dev/watchdog") as { problem: string }).problem,
      /nowayout .* load softdog with nowayout=0/,
    );
    assert.match((assessSysfs({}, 3, "/dev/watchdog") as { problem: string }).problem, /cannot read the timeout/);
  });
});
