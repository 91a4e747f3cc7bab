/**
 * Reading a host's launch inputs under mocks: a host is an Auto Scaling group of one launching from
 * its launch template (`${name}-${host}-lt`), whose user-data is base64 (as EC2 takes it).
 */
import { gunzipSync } from "node:zlib";
import { inputsOf, recorded, Recorded } from "./mocks";

/** A launch template's userData as cloud-init reads it: base64 of gzip. */
export function decodeUserData(b64: string): string {
  return gunzipSync(Buffer.from(b64, "base64")).toString("utf8");
}

export const HOST_TYPES = {
  launchTemplate: "aws:ec2/launchTemplate:LaunchTemplate",
  group: "aws:autoscaling/group:Group",
  reservation: "aws:ec2/subnetCidrReservation:SubnetCidrReservation",
  volume: "aws:ebs/volume:Volume",
} as const;

/** The launch template inputs of host resource `${name}-${host}` (e.g. "c1-pg-0"), the last registered. */
export function launchTemplateOf(host: string): Record<string, any> {
  return inputsOf(HOST_TYPES.launchTemplate, `${host}-lt`);
}

/** The decoded user-data of host resource `${name}-${host}`. */
export function userDataOf(host: string): string {
  return decodeUserData(launchTemplateOf(host).userData as string);
}

/** The launch templates among `resources` (one per host), as host resource names. */
export function hostsIn(resources: Recorded[]): string[] {
  return resources.filter((r) => r.type === HOST_TYPES.launchTemplate).map((r) => r.name.replace(/-lt$/, ""));
}

export { recorded };

/** A host's launch template inputs with the user-data decoded, named like the host (`c1-pg-0`). */
export interface HostLaunchRecord {
  type: string;
  name: string;
  inputs: Record<string, any>;
}

function decoded(r: Recorded): HostLaunchRecord {
  return {
    type: r.type,
    name: r.name.replace(/-lt$/, ""),
    inputs: { ...r.inputs, userData: decodeUserData(r.inputs.userData as string) },
  };
}

/** Every host's launch inputs among `resources` (the latest registration of each). */
export function hostLaunchesIn(resources: Recorded[]): HostLaunchRecord[] {
  const latest = new Map<string, Recorded>();
  for (const r of resources) if (r.type === HOST_TYPES.launchTemplate) latest.set(r.name, r);
  return [...latest.values()].map(decoded);
}

/** The launch inputs of host resource `${name}-${host}`, user-data decoded. */
export function hostInputs(host: string): Record<string, any> {
  return decoded({ type: HOST_TYPES.launchTemplate, name: `${host}-lt`, inputs: launchTemplateOf(host) }).inputs;
}
