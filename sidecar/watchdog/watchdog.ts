/**
 * The one owner of the watchdog device (Linux's /dev/watchdog, e.g. softdog). Opening the device
 * starts the kernel's countdown; every write restarts it; writing the magic close character "V"
 * before closing stops it. If the agent freezes while it holds the device open, nothing writes and
 * the kernel resets the machine: that is the point. The arithmetic is in settings/timing.ts.
 *
 * Node has no ioctl, so the timeout is read from sysfs and, when it is not the planned one, set with
 * util-linux's `wdctl --settimeout` *before* we open the device (a watchdog has one opener at a time).
 * The device is opened only to arm it: probing never starts the countdown. libuv opens every file
 * with O_CLOEXEC, so PostgreSQL and the tools the agent runs never inherit the descriptor.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { AgentConfig } from "../contract/agent-config";
import type { Clock } from "../ha/clock";
import type { LeaseState, WatchdogControl, WatchdogView } from "../ha/types";
import type { Logger } from "../log";
import type { WatchdogMode } from "../contract/settings/schema";
import type { HaTiming, WatchdogTiming } from "../contract/settings/timing";
import { assessSysfs, devNumbers, mayPet, missingDeviceProblem, SysfsWatchdog, sysfsNameFromBasename } from "./plan";

export interface WatchdogOptions {
  mode: WatchdogMode;
  device: string;
  /** Required unless mode is "off". */
  timing?: WatchdogTiming;
  ttlMs: number;
  clock: Clock;
  log: Logger;
  /** Where sysfs is mounted. Default "/sys"; tests use a directory of their own. */
  sysfsRoot?: string;
  /** Asks the kernel for a timeout; returns an error text or undefined. Default: `wdctl --settimeout`. */
  setTimeout?: (device: string, seconds: number) => string | undefined;
}

export class Watchdog implements WatchdogControl {
  private fd?: number;
  /** The lease it was armed under: only its renewals pet it. */
  private leaseId?: string;
  private firesAt?: number;
  private usable = false;
  private problem?: string;

  constructor(private readonly o: WatchdogOptions) {
    this.problem = o.mode === "off" ? "watchdog.mode is off" : "not probed yet";
  }

  /**
   * Checks the device without opening it: exists, writable, one we find in sysfs, the planned
   * timeout (set with wdctl if needed), closable. Throws when mode "required" finds no device.
   */
  probe(): this {
    const { mode, device, log } = this.o;
    if (mode === "off") return this;
    const exists = fs.existsSync(device);
    const missing = missingDeviceProblem(mode, device, exists);
    if (missing) throw new Error(missing);
    this.problem = exists ? this.check() : `no watchdog device ${device}`;
    this.usable = this.problem === undefined;
    if (this.usable) log.info({ device, timeout: this.timing().timeoutS }, "watchdog ready: it is armed only while this member leads");
    else if (!exists) log.info({ device }, `no watchdog device ${device}: running without one (watchdog.mode automatic)`);
    else if (mode === "required")
      log.error({ device }, `watchdog unusable: ${this.problem}: this member refuses leadership (watchdog.mode required)`);
    else log.warn({ device }, `watchdog unusable: ${this.problem}: running without one (watchdog.mode automatic)`);
    return this;
  }

  view(): WatchdogView {
    return {
      mode: this.o.mode,
      usable: this.usable,
      problem: this.problem,
      armed: this.fd !== undefined,
      firesAt: this.firesAt,
      safetyMarginMs: (this.o.timing?.safetyMarginS ?? 0) * 1000,
    };
  }

  arm(lease: LeaseState): "armed" | "late" | "failed" {
    if (!this.usable) return "failed";
    if (this.fd !== undefined) return "armed";
    if (lease.leaseId === undefined || !this.inTime(lease.renewSentAt)) return "late";
    try {
      this.fd = fs.openSync(this.o.device, fs.constants.O_WRONLY);
    } catch (e) {
      this.usable = false;
      this.problem = `cannot open ${this.o.device}: ${(e as Error).message}`;
      this.o.log.error({ device: this.o.device }, `watchdog not armed: ${this.problem}`);
      return "failed";
    }
    // The kernel counts from the open; the first pet only makes that explicit.
    this.leaseId = lease.leaseId;
    this.firesAt = this.o.clock.now() + this.timing().timeoutS * 1000;
    this.write("1");
    this.o.log.info(
      { device: this.o.device, timeout: this.timing().timeoutS },
      "watchdog armed: the machine resets if this agent stops renewing the lease",
    );
    return "armed";
  }

  pet(lease: LeaseState): void {
    if (this.fd === undefined) return;
    const { renewSentAt } = lease;
    if (lease.leaseId !== this.leaseId) {
      this.o.log.warn(
        { leaseId: lease.leaseId, armedUnder: this.leaseId },
        "not petting the watchdog: the lease it was armed under is gone, and with it our leader key",
      );
      return;
    }
    if (!this.inTime(renewSentAt)) {
      const late =
        renewSentAt === undefined ? "no lease" : `a renewal answered ${Math.round(this.o.clock.now() - renewSentAt)} ms after it was sent`;
      this.o.log.warn(
        `not petting the watchdog after ${late} (at most ${Math.round(this.timing().petWindowS * 1000)} ms): the reset would come too close to the lease's expiry; the leader fences itself first unless a faster renewal follows`,
      );
      return;
    }
    if (this.write("1")) this.firesAt = this.o.clock.now() + this.timing().timeoutS * 1000;
  }

  rebind(lease: LeaseState): void {
    if (this.fd === undefined || lease.leaseId === undefined || lease.leaseId === this.leaseId) return;
    this.o.log.info(
      { leaseId: lease.leaseId, armedUnder: this.leaseId },
      "watchdog: the leader key is bound to a new lease; its renewals pet",
    );
    this.leaseId = lease.leaseId;
  }

  disarm(): void {
    if (this.fd === undefined) return;
    const magicClosed = this.write("V");
    try {
      fs.closeSync(this.fd);
    } catch {
      // Closed either way; whether the kernel stopped counting depends on the "V" above.
    }
    this.fd = undefined;
    this.leaseId = undefined;
    this.firesAt = undefined;
    if (magicClosed) this.o.log.info({ device: this.o.device }, "watchdog disarmed");
    else
      this.o.log.error(
        { device: this.o.device },
        `could not write the watchdog's magic close: the kernel keeps counting and resets the machine within ${this.timing().timeoutS} s`,
      );
  }

  private inTime(renewSentAt: number | undefined): boolean {
    const t = this.timing();
    return mayPet(this.o.clock.now(), renewSentAt, this.o.ttlMs, t.safetyMarginS * 1000, t.timeoutS);
  }

  private write(byte: "1" | "V"): boolean {
    try {
      fs.writeSync(this.fd!, byte);
      return true;
    } catch (e) {
      this.o.log.error({ err: String(e) }, `writing "${byte}" to the watchdog failed`);
      return false;
    }
  }

  private timing(): WatchdogTiming {
    if (!this.o.timing) throw new Error("watchdog: no timing (mode off?)");
    return this.o.timing;
  }

  /** Why the existing device cannot be armed, or undefined when it can. */
  private check(): string | undefined {
    const { device } = this.o;
    try {
      fs.accessSync(device, fs.constants.W_OK);
    } catch (e) {
      return `cannot write ${device} (${(e as NodeJS.ErrnoException).code}): make it writable by the agent's user, e.g. a udev rule KERNEL=="watchdog*", OWNER="postgres"`;
    }
    const dir = this.sysfsDir();
    if (!dir) return `cannot find ${device} under ${this.sysfsRoot()}/class/watchdog`;
    const wanted = this.timing().timeoutS;
    let verdict = assessSysfs(readSysfs(dir), wanted, device);
    if (verdict === "set-timeout") {
      const err = (this.o.setTimeout ?? wdctlSetTimeout)(device, wanted);
      verdict = assessSysfs(readSysfs(dir), wanted, device);
      if (verdict === "set-timeout") {
        return `its timeout is ${readSysfs(dir).timeout} s and could not be set to ${wanted} s${err ? ` (${err})` : ""}: load softdog with soft_margin=${wanted}`;
      }
    }
    return verdict === "ok" ? undefined : verdict.problem;
  }

  private sysfsRoot(): string {
    return this.o.sysfsRoot ?? "/sys";
  }

  /** /sys/class/watchdog/watchdogN of the device: by its name, else by its major:minor. */
  private sysfsDir(): string | undefined {
    const classDir = path.join(this.sysfsRoot(), "class", "watchdog");
    const candidates = [path.basename(this.o.device)];
    try {
      const link = path.join(this.sysfsRoot(), "dev", "char", devNumbers(fs.statSync(this.o.device).rdev));
      candidates.push(path.basename(fs.realpathSync(link)));
    } catch {
      // Not a character device we find in /sys/dev/char: only the name can tell.
    }
    for (const c of candidates) {
      const name = sysfsNameFromBasename(c);
      if (name && fs.existsSync(path.join(classDir, name))) return path.join(classDir, name);
    }
    return undefined;
  }
}

function readSysfs(dir: string): SysfsWatchdog {
  const attr = (name: string) => {
    try {
      return fs.readFileSync(path.join(dir, name), "utf8").trim();
    } catch {
      return undefined;
    }
  };
  const timeout = attr("timeout");
  return { timeout: timeout === undefined || !/^\d+$/.test(timeout) ? undefined : Number(timeout), nowayout: attr("nowayout") };
}

/** util-linux's wdctl sets the timeout with an ioctl, then writes the magic close itself. */
function wdctlSetTimeout(device: string, seconds: number): string | undefined {
  const r = spawnSync("wdctl", ["--settimeout", String(seconds), device], { encoding: "utf8", timeout: 5000 });
  if (r.error) return `wdctl: ${r.error.message}`;
  if (r.status === 0) return undefined;
  const first = `${r.stderr}${r.stdout}`.trim().split("\n")[0] || `exit ${r.status}`;
  return first.startsWith("wdctl") ? first : `wdctl: ${first}`;
}

/** The agent's watchdog from its config and resolved timing, probed (throws for mode "required" without a device). */
export function watchdogFromConfig(c: AgentConfig, timing: HaTiming, clock: Clock, log: Logger): Watchdog {
  const { mode, device } = c.watchdog;
  return new Watchdog({ mode, device, timing: timing.watchdog, ttlMs: timing.ttlMs, clock, log }).probe();
}

/** A watchdog that is off: for callers (tests, simulations) that run without one. */
export function watchdogOff(): WatchdogControl {
  return {
    view: () => ({ mode: "off", usable: false, problem: "watchdog.mode is off", armed: false, safetyMarginMs: 0 }),
    arm: () => "failed",
    pet: () => undefined,
    disarm: () => undefined,
  };
}
