/**
 * Pulumi mocks whose answers are the rehearsal's own: the default VPC is the rehearsal's subnet,
 * each network interface gets its host's address on the rehearsal's bridge, each data volume a
 * volume id the rehearsal exposes as an NVMe device, passwords are real random strings and TLS
 * keys and certificates are real (./tls-provider.ts). Imported before the component is loaded
 * (set once per process; the rehearsal runs in a process of its own, never inside mocha's).
 */
import * as pulumi from "@pulumi/pulumi";
import { randomBytes, randomInt } from "node:crypto";
import { hostAddress, hostKey, REGION, SUBNET, volumeIdFor, ZONES } from "./plan";
import { tlsOutputs } from "./tls-provider";

export interface RecordedResource {
  type: string;
  name: string;
  id: string;
  inputs: Record<string, any>;
  state: Record<string, any>;
}

/** Every resource the component declared, with the outputs the mocks gave it. */
export const declared: RecordedResource[] = [];
/** Every secret value the mocks generated (passwords, private keys): none may appear in user-data or logs. */
export const secretValues: string[] = [];

/**
 * What the engine keeps between two `pulumi up`s of one stack (the day-2 part renders the deployment
 * again with changed args): a resource registered again with the same inputs keeps its id and outputs
 * (no password, key or certificate is made anew), a launch template whose inputs changed gets a new
 * version. Keyed by `type name`.
 */
const kept = new Map<string, { inputs: string; id: string; state: Record<string, any> }>();

/**
 * Resources the next render makes anew although their inputs did not change: a certificate past its
 * `earlyRenewalHours` is replaced by the provider's plan (the TLS provider's `ready_for_renewal`).
 */
export const renewNext = new Set<string>();

const SUBNET_IDS = ZONES.map((z) => `subnet-rehearsal-${z.slice(-1)}`);

/** A password as @pulumi/random makes one from these inputs (letters, digits, the override specials). */
function password(inputs: Record<string, any>): string {
  const lower = "abcdefghijklmnopqrstuvwxyz";
  const upper = lower.toUpperCase();
  const digits = "0123456789";
  const special = inputs.special === false ? "" : (inputs.overrideSpecial ?? "!@#$%&*()-_=+[]{}<>:?");
  const pick = (set: string) => set[randomInt(set.length)];
  const required = [
    ...Array.from({ length: inputs.minLower ?? 0 }, () => pick(lower)),
    ...Array.from({ length: inputs.minUpper ?? 0 }, () => pick(upper)),
    ...Array.from({ length: inputs.minNumeric ?? 0 }, () => pick(digits)),
  ];
  const all = lower + upper + digits + special;
  const rest = Array.from({ length: Number(inputs.length) - required.length }, () => pick(all));
  return [...required, ...rest].sort(() => randomInt(3) - 1).join("");
}

/** The mock engine hands secret inputs over as {<signature>: <secret sig>, value}: the plain value, recursively. */
export function unwrapSecrets(v: any): any {
  if (Array.isArray(v)) return v.map(unwrapSecrets);
  if (v && typeof v === "object") {
    if (v[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig) return unwrapSecrets(v.value);
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrapSecrets(x)]));
  }
  return v;
}

/** The rehearsal's key of a host (./plan.ts hostKey) from a child resource name `${component}-${host}-${suffix}`. */
function hostOf(name: string, suffix: string): string {
  const m = new RegExp(`^(.+)-((?:pg|etcd)-\\d+)-${suffix}$`).exec(name);
  if (!m) throw new Error(`rehearsal mocks: cannot tell the host of ${name}`);
  return hostKey(m[1], m[2]);
}

export const rehearsalMocks: pulumi.runtime.Mocks = {
  call(args) {
    switch (args.token) {
      case "aws:ec2/getVpc:getVpc":
        return { id: args.inputs.id ?? "vpc-rehearsal", cidrBlock: SUBNET, default: true };
      case "aws:ec2/getSubnets:getSubnets":
        return { ids: SUBNET_IDS, filters: args.inputs.filters };
      case "aws:ec2/getSubnet:getSubnet":
        // Every zone's subnet is the rehearsal's bridge: the component computes the hosts' fixed IPs in it.
        return {
          id: args.inputs.id,
          availabilityZone: ZONES[SUBNET_IDS.indexOf(args.inputs.id)] ?? ZONES[0],
          vpcId: "vpc-rehearsal",
          cidrBlock: SUBNET,
        };
      // Every rehearsal zone offers every instance type (the component places hosts only where theirs is).
      case "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings": {
        const filter = (n: string): string[] => args.inputs.filters?.find((f: { name: string }) => f.name === n)?.values ?? [];
        const zones = filter("location").length ? filter("location") : ZONES;
        const type = filter("instance-type")[0];
        return {
          id: "offerings",
          locations: zones,
          locationTypes: zones.map(() => "availability-zone"),
          instanceTypes: zones.map(() => type),
          filters: args.inputs.filters,
        };
      }
      case "aws:index/getPartition:getPartition":
        return { partition: "aws", dnsSuffix: "amazonaws.com", id: "aws" };
      // The subnets route 0.0.0.0/0 to a NAT gateway (egress "auto" → "nat": no Elastic IPs). The
      // rehearsal's containers have no route out whatever the mode, so the mode changes nothing here.
      case "aws:ec2/getRouteTables:getRouteTables":
        return { id: "rtbs", ids: [], filters: args.inputs.filters, vpcId: args.inputs.vpcId };
      case "aws:ec2/getRouteTable:getRouteTable":
        return {
          id: "rtb-rehearsal-main",
          routeTableId: "rtb-rehearsal-main",
          vpcId: "vpc-rehearsal",
          routes: [
            {
              cidrBlock: "0.0.0.0/0",
              gatewayId: "",
              natGatewayId: "nat-0rehearsal",
              instanceId: "",
              networkInterfaceId: "",
              transitGatewayId: "",
              vpcPeeringConnectionId: "",
              carrierGatewayId: "",
            },
          ],
        };
      case "aws:ec2/getAmi:getAmi":
        return { id: "ami-0rehearsal0debian13", architecture: "x86_64", name: "debian-13-amd64-rehearsal" };
      case "aws:index/getCallerIdentity:getCallerIdentity":
        return { accountId: "123456789012", arn: "arn:aws:iam::123456789012:user/rehearsal", userId: "rehearsal" };
      case "aws:index/getRegion:getRegion":
        return { name: REGION, region: REGION, id: REGION };
      // An existing bucket (the restored cluster archives into the first one's bucket, under its own prefix).
      case "aws:s3/getBucket:getBucket":
        return { id: args.inputs.bucket, bucket: args.inputs.bucket, arn: `arn:aws:s3:::${args.inputs.bucket}`, region: REGION };
      case "aws:kms/getKey:getKey":
        return { arn: `arn:aws:kms:${REGION}:123456789012:key/${args.inputs.keyId}`, id: args.inputs.keyId };
      default:
        return args.inputs;
    }
  },
  async newResource(raw) {
    const args = { ...raw, inputs: unwrapSecrets(raw.inputs) as Record<string, any> };
    const k = `${args.type} ${args.name}`;
    const before = kept.get(k);
    const inputsJson = JSON.stringify(args.inputs);
    if (before && before.inputs === inputsJson && !renewNext.delete(args.name)) {
      declared.push({ type: args.type, name: args.name, id: before.id, inputs: args.inputs, state: before.state });
      return { id: before.id, state: before.state };
    }
    // A replacement (a key, certificate or password: their inputs force new ones) is made anew; any other
    // change is an update in place: same id, the outputs it had with the new inputs; a launch template's
    // every change is a new version.
    const replaced = !before || args.type.startsWith("tls:") || args.type.startsWith("random:");
    const changed = replaced ? await created(args) : { id: before.id, state: { ...before.state, ...args.inputs } };
    if (before && args.type === "aws:ec2/launchTemplate:LaunchTemplate") changed.state.latestVersion = before.state.latestVersion + 1;
    kept.set(k, { inputs: inputsJson, id: changed.id, state: changed.state });
    declared.push({ type: args.type, name: args.name, id: changed.id, inputs: args.inputs, state: changed.state });
    return changed;
  },
};

/** A resource as the provider creates it (its id and outputs). */
async function created(args: {
  type: string;
  name: string;
  inputs: Record<string, any>;
}): Promise<{ id: string; state: Record<string, any> }> {
  {
    const state: Record<string, any> = { ...args.inputs, arn: `arn:aws:mock:::${args.name}` };
    let id = args.type.startsWith("ha-postgres:") ? "" : `${args.name}-id`;
    switch (args.type) {
      case "aws:ec2/networkInterface:NetworkInterface":
        state.privateIp = hostAddress(hostOf(args.name, "eni"));
        break;
      case "aws:ebs/volume:Volume":
        id = volumeIdFor(hostOf(args.name, "data"));
        break;
      case "aws:ec2/launchTemplate:LaunchTemplate":
        state.latestVersion = 1;
        break;
      case "aws:lb/loadBalancer:LoadBalancer":
        state.dnsName = `${args.name}-${randomBytes(8).toString("hex")}.elb.${REGION}.amazonaws.com`;
        break;
      case "aws:s3/bucket:Bucket":
        state.bucket = `${args.name}-${randomBytes(4).toString("hex")}`;
        state.arn = `arn:aws:s3:::${state.bucket}`;
        id = state.bucket;
        break;
      case "aws:ssm/parameter:Parameter":
        state.arn = `arn:aws:ssm:${REGION}:123456789012:parameter${args.inputs.name}`;
        break;
      case "aws:iam/instanceProfile:InstanceProfile":
      case "aws:iam/role:Role":
        state.name = `${args.name}-physical`;
        break;
      case "random:index/randomPassword:RandomPassword":
        state.result = password(args.inputs);
        secretValues.push(state.result);
        break;
      default: {
        const tls = await tlsOutputs(args.type, args.inputs);
        if (tls) {
          Object.assign(state, tls);
          if (tls.privateKeyPem) secretValues.push(tls.privateKeyPem);
        }
      }
    }
    return { id, state };
  }
}

void pulumi.runtime.setMocks(rehearsalMocks, "ha-postgres", "rehearsal", false);
