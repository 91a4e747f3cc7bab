/**
 * The systemd units of the day-2 design (docs/day2.md), rendered as pure strings and checked by
 * `systemd-analyze verify` in the tests:
 *  - the fixed IP on the interface at every boot (the claim assigned it in EC2; the OS must carry it);
 *  - HAProxy reloaded when the agent rewrites its backends from the topology (a path unit: the agent
 *    needs no root);
 *  - a periodic certificate refresh: node-init's file step in refresh mode rewrites changed
 *    certificate/key files atomically and reloads what reads them.
 */
import { NODE_PATHS, UNITS } from "./paths";
import { HostSpec } from "./spec";
import type { WrittenFile } from "./written-file";

/** Minutes between two certificate refreshes (SSM GetParameter calls per host: a handful an hour). */
export const CERT_REFRESH_MINUTES = 15;

export function unitText(sections: Record<string, Array<[string, string]>>): string {
  return Object.entries(sections)
    .map(([section, entries]) => `[${section}]\n${entries.map(([k, v]) => `${k}=${v}`).join("\n")}\n`)
    .join("\n");
}

export function renderFixedIpUnit(): string {
  return unitText({
    Unit: [
      ["Description", "hapg fixed IP"],
      ["After", "network.target"],
    ],
    Service: [
      ["Type", "oneshot"],
      ["RemainAfterExit", "yes"],
      ["EnvironmentFile", NODE_PATHS.fixedIpEnv],
      ["ExecStart", "/usr/sbin/ip address replace ${FIXED_IP} dev ${IFACE}"],
    ],
    Install: [["WantedBy", "multi-user.target"]],
  });
}

export function renderHaproxyReloadPath(): string {
  return unitText({
    Unit: [["Description", "hapg HAProxy config watch"]],
    Path: [
      ["PathChanged", NODE_PATHS.haproxyConfig],
      ["Unit", UNITS.haproxyReload],
    ],
    Install: [["WantedBy", "multi-user.target"]],
  });
}

export function renderHaproxyReloadService(): string {
  return unitText({
    Unit: [["Description", "hapg HAProxy reload"]],
    Service: [
      ["Type", "oneshot"],
      // reload-or-restart: a HAProxy that failed on a bad file comes back on a good one.
      ["ExecStart", `/usr/bin/systemctl reload-or-restart ${UNITS.haproxy}`],
    ],
  });
}

export function renderCertRefreshService(): string {
  return unitText({
    Unit: [["Description", "hapg certificate refresh"]],
    Service: [
      ["Type", "oneshot"],
      ["ExecStart", `${NODE_PATHS.node} ${NODE_PATHS.cli} node-init --plan ${NODE_PATHS.nodeInitPlan} --refresh`],
    ],
  });
}

export function renderCertRefreshTimer(): string {
  return unitText({
    Unit: [["Description", "hapg certificate refresh"]],
    Timer: [
      ["OnBootSec", `${CERT_REFRESH_MINUTES}min`],
      ["OnUnitActiveSec", `${CERT_REFRESH_MINUTES}min`],
      ["Unit", UNITS.certRefresh],
    ],
    Install: [["WantedBy", "timers.target"]],
  });
}

/** The day-2 unit files of a host. */
export function renderDay2Files(spec: HostSpec): WrittenFile[] {
  const d = NODE_PATHS.systemdDir;
  return [
    { path: `${d}/${UNITS.fixedIp}`, content: renderFixedIpUnit(), permissions: "0644" },
    { path: `${d}/${UNITS.certRefresh}`, content: renderCertRefreshService(), permissions: "0644" },
    { path: `${d}/${UNITS.certRefreshTimer}`, content: renderCertRefreshTimer(), permissions: "0644" },
    ...(spec.postgres
      ? [
          { path: `${d}/${UNITS.haproxyReloadPath}`, content: renderHaproxyReloadPath(), permissions: "0644" },
          { path: `${d}/${UNITS.haproxyReload}`, content: renderHaproxyReloadService(), permissions: "0644" },
        ]
      : []),
  ];
}

/** Units the boot script enables besides the services themselves. */
export function day2Units(spec: HostSpec): string[] {
  return [UNITS.certRefreshTimer, ...(spec.postgres ? [UNITS.haproxyReloadPath] : [])];
}
