/**
 * The watchdog's petting and probing rules, pure. Its timing arithmetic (kernel timeout, safety
 * margin, pet window) is in settings/timing.ts, beside the fence margin it depends on.
 */
import type { WatchdogMode } from "../contract/settings/schema";

/**
 * May the watchdog be petted (or armed: opening starts its countdown) now, for the last renewal sent
 * at `renewSentAt`? Only if the reset it schedules comes at least safetyMargin before that
 * renewal's lease can expire. All times in ms.
 */
export function mayPet(now: number, renewSentAt: number | undefined, ttlMs: number, safetyMarginMs: number, timeoutS: number): boolean {
  return renewSentAt !== undefined && now + timeoutS * 1000 <= renewSentAt + ttlMs - safetyMarginMs;
}

/** The startup error of mode "required" when the device does not exist (also `hapg check-config`). */
export function missingDeviceProblem(mode: WatchdogMode, device: string, exists: boolean): string | undefined {
  if (mode !== "required" || exists) return undefined;
  return `watchdog.mode is required but ${device} does not exist: load softdog (modprobe softdog) or set watchdog.mode to automatic or off`;
}

/** The /sys/class/watchdog entry of /dev/watchdog (the legacy name of watchdog0) or /dev/watchdogN. */
export function sysfsNameFromBasename(basename: string): string | undefined {
  const m = /^watchdog(\d*)$/.exec(basename);
  if (!m) return undefined;
  return `watchdog${m[1] === "" ? "0" : m[1]}`;
}

/** Linux's major:minor of a device number (glibc's gnu_dev_major/minor), as in /sys/dev/char. */
export function devNumbers(rdev: number): string {
  const big = BigInt(rdev);
  const major = ((big >> 8n) & 0xfffn) | ((big >> 32n) & ~0xfffn);
  const minor = (big & 0xffn) | ((big >> 12n) & ~0xffn);
  return `${major}:${minor}`;
}

/** What sysfs says about the watchdog (attributes a driver does not expose are undefined). */
export interface SysfsWatchdog {
  timeout?: number;
  /** "1": closing never disarms (the magic close is ignored). */
  nowayout?: string;
}

/**
 * Whether the sysfs view allows arming with `wanted` seconds: "ok", "set-timeout" (try wdctl, then
 * look again), or the problem. The timeout must be exactly the planned one: a longer one could
 * outlast the lease, a shorter one would reset a live leader between two renewals. A device that is
 * already counting (sysfs state "active") is not refused here: after an agent that led was killed it
 * counts on, and the restarted agent must be able to open it again in time; if another process holds
 * it open, opening it fails (EBUSY) and says so.
 */
export function assessSysfs(s: SysfsWatchdog, wanted: number, device: string): "ok" | "set-timeout" | { problem: string } {
  if (s.nowayout?.trim() === "1") {
    return {
      problem: `${device} has nowayout set: closing it never disarms it, so every clean stop would reset the machine: load softdog with nowayout=0`,
    };
  }
  if (s.timeout === undefined) return { problem: `cannot read the timeout of ${device} from sysfs` };
  return s.timeout === wanted ? "ok" : "set-timeout";
}
