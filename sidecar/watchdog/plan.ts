/**
 * The watchdog's arithmetic and probing rules, pure. The kernel watchdog resets the machine when the
 * leader's agent stops petting it; it exists for the one case fencing cannot cover, an agent that is
 * frozen (SIGSTOP, a stalled VM, a hung process) while PostgreSQL keeps taking writes.
 *
 * Two deadlines matter after a renewal of the lease *sent* at s (see docs/ha-states.md):
 *   - the lease can expire no earlier than s + ttl: the watchdog must have reset a stuck leader
 *     `safetyMargin` before that;
 *   - a live leader fences itself `fenceMargin` before its deadline: the watchdog must fire after
 *     that, so a leader that is merely cut off from etcd stops PostgreSQL and disarms instead of
 *     being reset.
 * The kernel counts whole seconds, so the timeout is the largest whole number that still leaves a
 * renewal's answer MIN_PET_WINDOW_S to arrive and be followed by its pet.
 */

/** Patroni's watchdog modes. */
export type WatchdogMode = "off" | "automatic" | "required";

/** A pet may follow the renewal it belongs to by at least this long (the renewal's round trip). */
export const MIN_PET_WINDOW_S = 0.25;
/** A live leader fences itself at least this long before its own watchdog would fire. */
export const MIN_FENCE_LEAD_S = 0.25;

export interface WatchdogTiming {
  /** The kernel timeout to ask for, whole seconds. */
  timeoutS: number;
  /** The reset comes at least this long before the lease can expire. */
  safetyMarginS: number;
  /** A pet must be written within this long after its renewal was sent (ttl − safetyMargin − timeout). */
  petWindowS: number;
}

/** A problem with the timing, naming the config field (as a dotted path) it is reported on. */
export interface TimingProblem {
  field: string;
  message: string;
}

/** The default safety margin: half the fence margin, i.e. 0.5 s with ttl ≥ 4. */
export function defaultSafetyMargin(fenceMarginS: number): number {
  return fenceMarginS / 2;
}

/**
 * The timeout and pet window for a lease of `ttl` seconds, or the problems (naming the config
 * fields and the fix) that make the combination unusable.
 */
export function watchdogTiming(o: { ttl: number; fenceMarginS: number; safetyMargin?: number }): { timing?: WatchdogTiming; problems: TimingProblem[] } {
  const m = o.safetyMargin ?? defaultSafetyMargin(o.fenceMarginS);
  const problems: TimingProblem[] = [];
  const maxMargin = o.fenceMarginS - MIN_FENCE_LEAD_S;
  if (!(m > 0) || m > maxMargin + 1e-9) {
    problems.push({
      field: "watchdog.safetyMargin",
      message:
        `${m} s must be above 0 and at most ${round(maxMargin)} s: with ttl ${o.ttl} the leader fences itself ${round(o.fenceMarginS)} s before its lease can expire, ` +
        `and the watchdog must fire at least ${MIN_FENCE_LEAD_S} s after that (so only a stuck agent is reset): remove watchdog.safetyMargin to use ${round(defaultSafetyMargin(o.fenceMarginS))} s, or set watchdog.mode to off`,
    });
  }
  const timeoutS = Math.floor(o.ttl - m - MIN_PET_WINDOW_S + 1e-9);
  if (timeoutS < 1) {
    problems.push({
      field: "ttl",
      message: `ttl (${o.ttl} s) − watchdog.safetyMargin (${m} s) − ${MIN_PET_WINDOW_S} s for a renewal's round trip leaves a watchdog timeout under 1 s, the kernel's smallest: raise ttl, lower watchdog.safetyMargin or set watchdog.mode to off`,
    });
  }
  if (problems.length) return { problems };
  return { timing: { timeoutS, safetyMarginS: m, petWindowS: o.ttl - m - timeoutS }, problems };
}

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
    return { problem: `${device} has nowayout set: closing it never disarms it, so every clean stop would reset the machine: load softdog with nowayout=0` };
  }
  if (s.timeout === undefined) return { problem: `cannot read the timeout of ${device} from sysfs` };
  return s.timeout === wanted ? "ok" : "set-timeout";
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
