/**
 * The claim (`hapg claim`, run as root by the first-boot script): a new instance of a host's Auto
 * Scaling group takes the two things the host keeps outside any instance (docs/day2.md):
 *  - its fixed private IP, assigned as a secondary private IP of the instance's primary interface with
 *    `assign-private-ip-addresses --allow-reassignment` (it moves from the terminated instance's
 *    interface, if EC2 has not freed it yet), then waited for in the instance metadata (EC2 documents
 *    the remapping as asynchronous) and written to an env file for the unit that puts it on the
 *    interface at every boot;
 *  - its data volume, attached with `attach-volume` once no other instance holds it: while the old,
 *    terminating instance still has it attached (or is detaching it), the claim waits.
 * The decision of each volume poll is a pure function (table-tested); the AWS CLI and IMDS calls
 * are the thin driver around it. Uses the instance role's credentials (IMDS), like node-init.
 */
import { execFile, execFileSync } from "node:child_process";
import { renameSync, writeFileSync } from "node:fs";
import { httpRequest } from "../http/client";
import { IMDS, imdsToken } from "./imds";

/** A volume as `aws ec2 describe-volumes` returns it (the fields the claim reads). */
export interface VolumeState {
  State: string;
  Attachments?: Array<{ InstanceId: string; State: string; Device?: string }>;
}

export type VolumeStep = { action: "done" | "attach" | "wait"; reason: string };

/** What to do with the data volume now. Pure. Throws for a volume that can never be claimed. */
export function volumeClaimStep(volume: VolumeState, instanceId: string): VolumeStep {
  const attachments = volume.Attachments ?? [];
  const mine = attachments.find((a) => a.InstanceId === instanceId);
  if (mine?.State === "attached") return { action: "done", reason: "attached to this instance" };
  if (mine) return { action: "wait", reason: `attachment to this instance is ${mine.State}` };
  const other = attachments.find((a) => a.State !== "detached");
  if (other) return { action: "wait", reason: `still ${other.State} to ${other.InstanceId} (the instance this one replaces)` };
  if (volume.State === "available") return { action: "attach", reason: "available" };
  if (volume.State === "creating" || volume.State === "in-use") return { action: "wait", reason: `volume is ${volume.State}` };
  throw new Error(`data volume is ${volume.State}: it cannot be attached (restore it from a snapshot and set its id)`);
}

/** The interface with this MAC in `ip -o link show` output (e.g. "2: eth0@if7: <...> ... link/ether 02:00:..."). Pure. */
export function interfaceWithMac(ipLinkOutput: string, mac: string): string | undefined {
  for (const line of ipLinkOutput.split("\n")) {
    const m = /^\d+:\s+([^:@\s]+)(?:@\S+)?:.*\blink\/ether\s+([0-9a-f:]{17})/i.exec(line);
    if (m && m[2].toLowerCase() === mac.toLowerCase()) return m[1];
  }
  return undefined;
}

/** The fixed IP's line for the unit (`ip address replace ${FIXED_IP} dev ${IFACE}`). Pure. */
export function fixedIpEnv(ip: string, subnetCidr: string, iface: string): string {
  const prefix = subnetCidr.split("/")[1];
  if (!prefix) throw new Error(`claim: subnet CIDR ${subnetCidr} has no prefix length`);
  return `FIXED_IP=${ip}/${prefix}\nIFACE=${iface}\n`;
}

export interface ClaimDeps {
  imds(path: string): Promise<string>;
  aws(args: string[]): Promise<string>;
  /** The OS name of the interface with this MAC address. */
  interfaceOf(mac: string): string;
  writeFile(path: string, content: string): void;
  sleep(ms: number): Promise<void>;
  log(message: string): void;
}

export interface ClaimOptions {
  volumeId: string;
  fixedIp: string;
  ipEnvFile: string;
  /** Device name for attach-volume (NVMe instances ignore it; the boot script finds the volume by serial). */
  device?: string;
  timeoutMs?: number;
  pollMs?: number;
}

export async function claim(o: ClaimOptions, d: ClaimDeps): Promise<void> {
  const poll = o.pollMs ?? 2000;
  const deadline = Date.now() + (o.timeoutMs ?? 15 * 60_000);
  const instanceId = (await d.imds("meta-data/instance-id")).trim();
  const mac = (await d.imds("meta-data/mac")).trim();
  const eni = (await d.imds(`meta-data/network/interfaces/macs/${mac}/interface-id`)).trim();
  const cidr = (await d.imds(`meta-data/network/interfaces/macs/${mac}/subnet-ipv4-cidr-block`)).trim();
  const localIps = async () => (await d.imds(`meta-data/network/interfaces/macs/${mac}/local-ipv4s`)).split(/\s+/).filter(Boolean);

  if (!(await localIps()).includes(o.fixedIp)) {
    d.log(`claim: assigning ${o.fixedIp} to ${eni}`);
    await d.aws([
      "ec2",
      "assign-private-ip-addresses",
      "--network-interface-id",
      eni,
      "--private-ip-addresses",
      o.fixedIp,
      "--allow-reassignment",
    ]);
    while (!(await localIps()).includes(o.fixedIp)) {
      if (Date.now() > deadline) throw new Error(`claim: ${o.fixedIp} did not reach ${eni} in time`);
      await d.sleep(poll);
    }
  }
  d.writeFile(o.ipEnvFile, fixedIpEnv(o.fixedIp, cidr, d.interfaceOf(mac)));

  for (;;) {
    const out = await d.aws(["ec2", "describe-volumes", "--volume-ids", o.volumeId, "--output", "json"]);
    const volume = (JSON.parse(out) as { Volumes: VolumeState[] }).Volumes[0];
    if (!volume) throw new Error(`claim: data volume ${o.volumeId} not found`);
    const step = volumeClaimStep(volume, instanceId);
    if (step.action === "done") break;
    if (Date.now() > deadline) throw new Error(`claim: data volume ${o.volumeId} ${step.reason}; gave up`);
    d.log(`claim: data volume ${o.volumeId}: ${step.reason}`);
    if (step.action === "attach") {
      await d.aws(["ec2", "attach-volume", "--volume-id", o.volumeId, "--instance-id", instanceId, "--device", o.device ?? "/dev/xvdf"]);
    }
    await d.sleep(poll);
  }
  d.log(`claim: ${o.fixedIp} and ${o.volumeId} are this instance's (${instanceId})`);
}

/** The real dependencies: IMDSv2, the AWS CLI (Debian's awscli), /sys/class/net. */
export function systemClaimDeps(): ClaimDeps {
  let token: string | undefined;
  return {
    async imds(path) {
      token ??= await imdsToken(21600, 10_000);
      const r = await httpRequest(`${IMDS}/${path}`, { headers: { "X-aws-ec2-metadata-token": token }, timeoutMs: 10_000 });
      if (r.status !== 200) throw new Error(`claim: IMDS ${path}: HTTP ${r.status}`);
      return r.text;
    },
    aws: (args) =>
      new Promise((resolve, reject) =>
        execFile("aws", args, { timeout: 60_000 }, (err, stdout, stderr) =>
          err ? reject(new Error(`aws ${args.slice(0, 2).join(" ")}: ${stderr || err.message}`)) : resolve(stdout),
        ),
      ),
    interfaceOf(mac) {
      // iproute2's view (the container's network namespace), not /sys, which a container may mount from elsewhere.
      const name = interfaceWithMac(execFileSync("ip", ["-o", "link", "show"], { encoding: "utf8" }), mac);
      if (!name) throw new Error(`claim: no interface has MAC ${mac}`);
      return name;
    },
    writeFile(path, content) {
      writeFileSync(`${path}.tmp`, content, { mode: 0o644 });
      renameSync(`${path}.tmp`, path);
    },
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    log: (m) => console.error(m),
  };
}
