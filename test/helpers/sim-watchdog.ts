/**
 * A node's watchdog in the simulated cluster: the production `Watchdog` writing to a stand-in
 * device (a regular file) with a stand-in sysfs directory, and a model of the kernel's countdown
 * that reads what the agent wrote. No real watchdog here: loading softdog would reset this machine.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { silentLogger } from "./silent-logger";
import type { WatchdogMode } from "../../sidecar/contract/settings/schema";
import { watchdogTiming, type WatchdogTiming } from "../../sidecar/contract/settings/timing";
import { Watchdog } from "../../sidecar/watchdog/watchdog";
import type { FakeClock } from "./fake-clock";

/** The stand-in device `<dir>/dev/watchdog0` and sysfs `<dir>/sys/class/watchdog/watchdog0/timeout`. */
export function standInDevice(dir: string, timeoutS: number): { device: string; sysfsRoot: string; timeoutFile: string } {
  const sysfsRoot = path.join(dir, "sys");
  const classDir = path.join(sysfsRoot, "class", "watchdog", "watchdog0");
  fs.mkdirSync(classDir, { recursive: true });
  fs.mkdirSync(path.join(dir, "dev"), { recursive: true });
  const device = path.join(dir, "dev", "watchdog0");
  fs.writeFileSync(device, "");
  const timeoutFile = path.join(classDir, "timeout");
  fs.writeFileSync(timeoutFile, `${timeoutS}\n`);
  return { device, sysfsRoot, timeoutFile };
}

export function simTiming(ttl: number): WatchdogTiming {
  const { timing } = watchdogTiming({ ttl });
  if (!timing) throw new Error(`no watchdog timing for ttl ${ttl}`);
  return timing;
}

export class SimWatchdog {
  readonly control: Watchdog;
  readonly device: string;
  /** Fake ms at which the modelled kernel reset the machine. */
  resetAt?: number;
  private readonly timeoutS: number;
  private seen = 0;
  private countdown: unknown;

  /** `kernelTimeoutS` other than the planned one (e.g. softdog's default 60) makes the device unusable. */
  constructor(
    dir: string,
    private readonly clock: FakeClock,
    o: { mode: Exclude<WatchdogMode, "off">; ttl: number; kernelTimeoutS?: number },
    private readonly onReset: () => void,
  ) {
    const timing = simTiming(o.ttl);
    const stand = standInDevice(dir, o.kernelTimeoutS ?? timing.timeoutS);
    this.device = stand.device;
    this.control = new Watchdog({
      mode: o.mode,
      device: stand.device,
      timing,
      ttlMs: o.ttl * 1000,
      clock,
      log: silentLogger(),
      sysfsRoot: stand.sysfsRoot,
      setTimeout: () => "there is no wdctl for a stand-in device",
    }).probe();
    this.timeoutS = o.kernelTimeoutS ?? timing.timeoutS;
  }

  /** Everything the agent wrote to the device. */
  writes(): string {
    return fs.readFileSync(this.device, "utf8");
  }

  /** The kernel's view, called after every step: a write restarts the countdown, "V" stops it. */
  observe(): void {
    const data = this.writes();
    if (data.length === this.seen || this.resetAt !== undefined) return;
    this.seen = data.length;
    this.clock.clearTimeout(this.countdown);
    if (data.endsWith("V")) return;
    this.countdown = this.clock.setTimeout(() => {
      this.resetAt = this.clock.now();
      this.onReset();
    }, this.timeoutS * 1000);
  }
}
