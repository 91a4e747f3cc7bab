/**
 * Whether the boot rehearsal can run on this machine. Imports nothing else of the rehearsal, so
 * mocha's process can ask without loading the rehearsal's Pulumi mocks.
 */
import { execFileSync } from "node:child_process";

const REQUIRED: Array<[string, string]> = [
  ["debootstrap", "debootstrap"],
  ["systemd-nspawn", "systemd-container"],
  ["haproxy", "haproxy"],
  ["etcdctl", "etcd-client"],
  ["openssl", "openssl"],
  ["zip", "zip"],
  ["losetup", "mount"],
  ["ip", "iproute2"],
  ["nsenter", "util-linux"],
];

/** Why the rehearsal cannot run here (undefined when it can). */
export function unavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "the boot rehearsal needs root (network namespaces, loop devices, containers)";
  const missing = REQUIRED.filter(([cmd]) => {
    try {
      execFileSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" });
      return false;
    } catch {
      return true;
    }
  }).map(([, pkg]) => pkg);
  if (missing.length)
    return `the boot rehearsal needs: apt-get install -y --no-install-recommends ${[...new Set(missing)].join(" ")} (scripts/ensure-deps.sh --boot does it)`;
  return undefined;
}
