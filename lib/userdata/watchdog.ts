/**
 * softdog on a PostgreSQL node (component arg `watchdog`, unless "off"). Pure renderers; the agent
 * owns the device at run time (sidecar/watchdog/). softdog is loaded by the agent's unit before every
 * start, with an explicit `modprobe`: modules-load.d would skip it on images that blacklist watchdog
 * drivers (Ubuntu's kmod does; systemd-modules-load applies the blacklist, modprobe by name does not).
 */
import { HA_DEFAULTS } from "../../sidecar/contract/settings/schema";
import { resolveTiming } from "../../sidecar/contract/settings/timing";
import type { WrittenFile } from "./written-file";
import type { HostSpec, PostgresHostSpec } from "./spec";

/** The agent's unit runs as this user (files.ts): it must be able to open the device. */
const AGENT_USER = "postgres";

/**
 * The kernel timeout the agent plans with its file's timing (sidecar/contract/settings/timing.ts). The timing
 * a running cluster uses comes with the dynamic config and is not in the user-data (a new ttl must
 * not replace a node): when it differs, the agent sets the kernel's timeout itself (wdctl) before arming.
 */
export function softdogTimeout(pg: PostgresHostSpec): number {
  const timeoutS = resolveTiming({ timing: HA_DEFAULTS.timing, watchdog: pg.settings.watchdog }).watchdog?.timeoutS;
  if (timeoutS === undefined) throw new Error("softdogTimeout: the watchdog is off");
  return timeoutS;
}

export function watchdogEnabled(spec: HostSpec): spec is HostSpec & { postgres: PostgresHostSpec } {
  return spec.postgres !== undefined && spec.postgres.settings.watchdog.mode !== "off";
}

/** softdog's options, and a udev rule that gives the agent's user /dev/watchdog and /dev/watchdogN. */
export function renderWatchdogFiles(spec: HostSpec): WrittenFile[] {
  if (!watchdogEnabled(spec)) return [];
  const ttl = HA_DEFAULTS.timing.ttl;
  return [
    {
      path: "/etc/modprobe.d/hapg-softdog.conf",
      content:
        `# Written by HaPostgresCluster: the agent's watchdog (README, "Watchdog"). soft_margin is the timeout the\n` +
        `# agent plans for its file's ttl ${ttl} (for another ttl from the dynamic config it sets its own with wdctl);\n` +
        `# nowayout=0 lets its magic close disarm the watchdog when it stops leading.\n` +
        `options softdog soft_margin=${softdogTimeout(spec.postgres)} nowayout=0\n`,
      permissions: "0644",
    },
    {
      path: "/etc/udev/rules.d/60-hapg-watchdog.rules",
      content: `# Written by HaPostgresCluster: the agent (user ${AGENT_USER}) owns the watchdog device.\nKERNEL=="watchdog*", OWNER="${AGENT_USER}", GROUP="${AGENT_USER}", MODE="0600"\n`,
      permissions: "0644",
    },
  ];
}

/**
 * ExecStartPre lines of the agent's unit: load softdog as root ("+") and wait for udev to hand the
 * device to the agent's user. "-": a kernel without softdog is not fatal here; the agent then runs
 * without a watchdog (automatic) or refuses to start (required), saying so.
 */
export function watchdogExecStartPre(spec: HostSpec): Array<[string, string]> {
  if (!watchdogEnabled(spec)) return [];
  return [
    ["ExecStartPre", "-+/usr/sbin/modprobe softdog"],
    ["ExecStartPre", "-+/usr/bin/udevadm settle --timeout=10"],
  ];
}
