/**
 * Pulumi mocks shared by every component test (set once per mocha process, before any component
 * module is loaded). Records each resource's type, name, inputs and parent; answers the AWS data
 * lookups the component makes; hands out deterministic IPs and fake secret values that tests can
 * search for ("MOCKSECRET").
 */
import * as pulumi from "@pulumi/pulumi";
import { AMI_ARCHITECTURES, checkCreate, endpointsInAccount, violations } from "./aws-account";
import { offered, Violation } from "./aws-rules";

export { freshAccount, violations } from "./aws-account";

/** Takes (and clears) the refusals of resources whose name starts with `${prefix}-` (all when no prefix). */
export function takeViolations(prefix?: string): Violation[] {
  const mine = violations.filter((v) => prefix === undefined || v.name.startsWith(`${prefix}-`));
  for (const v of mine) violations.splice(violations.indexOf(v), 1);
  return mine;
}

// Root hook: a test after which AWS would have refused a creation fails, unless it took the refusals itself.
// (Only under mocha: a script that loads the mocks has no hooks.)
if (typeof afterEach === "function")
  afterEach(function () {
    const left = takeViolations();
    if (left.length) throw new Error(`AWS would refuse:\n${left.map((v) => `  ${v.name} (${v.type}): ${v.message}`).join("\n")}`);
  });

export const PROJECT = "ha-postgres";
export const STACK = "test";

export interface Recorded {
  type: string;
  name: string;
  inputs: Record<string, any>;
}

export const recorded: Recorded[] = [];

/** Zones of the mocked subnets; a test may replace it (e.g. to put every subnet in one zone). */
export const subnetZones: Record<string, string> = {
  "subnet-a": "us-east-1a",
  "subnet-b": "us-east-1b",
  "subnet-c": "us-east-1c",
  "subnet-x1": "us-east-1a",
  "subnet-x2": "us-east-1b",
  "subnet-x3": "us-east-1c",
  "subnet-i1": "us-east-1a",
  "subnet-i2": "us-east-1b",
  "subnet-i3": "us-east-1c",
  // A second subnet in us-east-1a, and a subnet in us-east-1e (use1-az3: no m7i, no t3), in the default VPC.
  "subnet-a2": "us-east-1a",
  "subnet-e": "us-east-1e",
  "subnet-p1": "us-east-1a",
  "subnet-p2": "us-east-1b",
  "subnet-p3": "us-east-1c",
};
export const SUBNET_VPC: Record<string, string> = {
  "subnet-x1": "vpc-existing",
  "subnet-x2": "vpc-existing",
  "subnet-x3": "vpc-existing",
  "subnet-i1": "vpc-isolated",
  "subnet-i2": "vpc-isolated",
  "subnet-i3": "vpc-isolated",
  "subnet-p1": "vpc-private-link",
  "subnet-p2": "vpc-private-link",
  "subnet-p3": "vpc-private-link",
};

interface MockRouteTable {
  id: string;
  vpcId: string;
  main: boolean;
  subnetIds: string[];
  routes: Array<Record<string, string>>;
}

/**
 * Route tables, as AWS sets them up: the default VPC's subnets have no explicit association and use
 * its main table (a default route to the internet gateway); vpc-existing's subnets are explicitly
 * associated with a private table that routes to a NAT gateway; vpc-isolated's have no default route.
 * A test may edit this list.
 */
export const routeTables: MockRouteTable[] = [
  { id: "rtb-default-main", vpcId: "vpc-default", main: true, subnetIds: [], routes: [{ cidrBlock: "0.0.0.0/0", gatewayId: "igw-0dflt" }] },
  {
    id: "rtb-existing-main",
    vpcId: "vpc-existing",
    main: true,
    subnetIds: [],
    routes: [{ cidrBlock: "0.0.0.0/0", gatewayId: "igw-0xst" }],
  },
  {
    id: "rtb-existing-private",
    vpcId: "vpc-existing",
    main: false,
    subnetIds: ["subnet-x1", "subnet-x2", "subnet-x3"],
    routes: [{ cidrBlock: "0.0.0.0/0", natGatewayId: "nat-0existing" }],
  },
  { id: "rtb-isolated-main", vpcId: "vpc-isolated", main: true, subnetIds: [], routes: [] },
  {
    id: "rtb-isolated",
    vpcId: "vpc-isolated",
    main: false,
    subnetIds: ["subnet-i1", "subnet-i2", "subnet-i3"],
    routes: [{ cidrBlock: "10.50.0.0/16", vpcPeeringConnectionId: "pcx-1" }],
  },
  // An isolated VPC that already has its S3 gateway and SSM endpoints (aws-account.ts PREEXISTING_ENDPOINTS).
  { id: "rtb-private-link-main", vpcId: "vpc-private-link", main: true, subnetIds: [], routes: [] },
  { id: "rtb-private-link", vpcId: "vpc-private-link", main: false, subnetIds: ["subnet-p1", "subnet-p2", "subnet-p3"], routes: [] },
];

/** VPC CIDR blocks: the primary first; vpc-existing also has a secondary block. */
export const VPC_CIDRS: Record<string, string[]> = {
  "vpc-existing": ["10.20.0.0/16", "10.21.0.0/16"],
  "vpc-isolated": ["10.50.0.0/16"],
  "vpc-private-link": ["10.60.0.0/16"],
  "vpc-default": ["172.31.0.0/16"],
};

/** The value of a lookup's filter, like the EC2 API's Filter.N.Value. */
const filterValue = (filters: Array<{ name: string; values: string[] }> | undefined, name: string) =>
  (filters ?? []).find((f) => f.name === name)?.values?.[0];

/** Every route field of aws.ec2.getRouteTable, "" where unset, as the provider returns them. */
const ROUTE_FIELDS = [
  "cidrBlock",
  "gatewayId",
  "natGatewayId",
  "instanceId",
  "networkInterfaceId",
  "transitGatewayId",
  "vpcPeeringConnectionId",
  "carrierGatewayId",
];
const routeResult = (t: MockRouteTable) => ({
  id: t.id,
  routeTableId: t.id,
  vpcId: t.vpcId,
  routes: t.routes.map((r) => Object.fromEntries(ROUTE_FIELDS.map((f) => [f, r[f] ?? ""]))),
});

let ipCounter = 10;
const created = new Map<string, { type: string; inputs: Record<string, any> }>();
const world = { zoneOf: (subnetId: string) => subnetZones[subnetId] ?? "us-east-1a", created };

// --- Hosts: fixed IPs, launch templates, Auto Scaling groups (the day-2 design, docs/day2.md) ---

/** Each mocked subnet's CIDR (the fixed IPs are computed from it): its VPC's range, a /20 or /24 per subnet. */
export function subnetCidr(id: string): string {
  const vpc = SUBNET_VPC[id] ?? "vpc-default";
  const index = Math.max(
    0,
    Object.keys(subnetZones)
      .filter((s) => (SUBNET_VPC[s] ?? "vpc-default") === vpc)
      .indexOf(id),
  );
  if (vpc === "vpc-existing") return `10.20.${index + 1}.0/24`;
  if (vpc === "vpc-isolated") return `10.50.${index + 1}.0/24`;
  return `172.31.${index * 16}.0/20`;
}

/** Launch template versions, by template name: a changed template is a new version (an in-place update). */
const launchTemplateVersions = new Map<string, { inputs: string; version: number }>();

function hostResourceState(args: pulumi.runtime.MockResourceArgs, state: Record<string, any>): void {
  if (args.type === "aws:ec2/launchTemplate:LaunchTemplate") {
    const inputs = JSON.stringify(args.inputs);
    const prev = launchTemplateVersions.get(args.name);
    const version = prev === undefined ? 1 : prev.inputs === inputs ? prev.version : prev.version + 1;
    launchTemplateVersions.set(args.name, { inputs, version });
    state.latestVersion = version;
    state.defaultVersion = version;
  }
}
const calls: string[] = [];
export const callTokens = calls;

export const mocks: pulumi.runtime.Mocks = {
  call(args) {
    calls.push(args.token);
    switch (args.token) {
      case "aws:ec2/getVpc:getVpc": {
        const id = args.inputs.id ?? "vpc-default";
        const cidrs = VPC_CIDRS[id] ?? VPC_CIDRS["vpc-default"];
        return {
          id,
          cidrBlock: cidrs[0],
          cidrBlockAssociations: cidrs.map((c, i) => ({ associationId: `vpc-cidr-assoc-${i}`, cidrBlock: c, state: "associated" })),
          default: id === "vpc-default",
          enableDnsSupport: true,
          enableDnsHostnames: id !== "vpc-isolated",
        };
      }
      case "aws:ec2/getSubnets:getSubnets": {
        const vpc = filterValue(args.inputs.filters, "vpc-id");
        return {
          ids: vpc === "vpc-existing" ? ["subnet-x1", "subnet-x2", "subnet-x3"] : ["subnet-a", "subnet-b", "subnet-c"],
          filters: args.inputs.filters,
        };
      }
      case "aws:ec2/getSubnet:getSubnet":
        return {
          id: args.inputs.id,
          availabilityZone: subnetZones[args.inputs.id] ?? "us-east-1a",
          vpcId: SUBNET_VPC[args.inputs.id] ?? "vpc-default",
          cidrBlock: subnetCidr(args.inputs.id),
        };
      case "aws:index/getPartition:getPartition":
        return { partition: "aws", dnsSuffix: "amazonaws.com", id: "aws" };
      case "aws:ec2/getRouteTables:getRouteTables": {
        const subnet = filterValue(args.inputs.filters, "association.subnet-id");
        const inVpc = (t: MockRouteTable) => !args.inputs.vpcId || t.vpcId === args.inputs.vpcId;
        const ids = routeTables.filter((t) => inVpc(t) && subnet !== undefined && t.subnetIds.includes(subnet)).map((t) => t.id);
        return { id: "rtbs", ids, filters: args.inputs.filters, vpcId: args.inputs.vpcId };
      }
      case "aws:ec2/getRouteTable:getRouteTable": {
        const main = filterValue(args.inputs.filters, "association.main") === "true";
        const t = routeTables.find((x) => (main ? x.main && x.vpcId === args.inputs.vpcId : x.id === args.inputs.routeTableId));
        if (!t) throw new Error(`no matching route table found (${JSON.stringify(args.inputs)})`);
        return routeResult(t);
      }
      case "aws:ec2/getAmi:getAmi": {
        const arm = filterValue(args.inputs.filters, "architecture") === "arm64";
        const id = arm ? "ami-debian13-arm64-mock" : "ami-debian13-mock";
        return { id, architecture: AMI_ARCHITECTURES[id], name: `debian-13-${arm ? "arm64" : "amd64"}-20261101` };
      }
      case "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings": {
        // DescribeInstanceTypeOfferings, location-type availability-zone: one row per (type, zone) offered.
        const all = (n: string) => (args.inputs.filters ?? []).find((f: { name: string }) => f.name === n)?.values ?? [];
        const rows = all("instance-type").flatMap((t: string) =>
          all("location")
            .filter((z: string) => offered(t, z))
            .map((z: string) => [t, z]),
        );
        return {
          id: "offerings",
          instanceTypes: rows.map((r: string[]) => r[0]),
          locations: rows.map((r: string[]) => r[1]),
          locationTypes: rows.map(() => "availability-zone"),
        };
      }
      case "aws:ec2/getVpcEndpoint:getVpcEndpoint": {
        const found = endpointsInAccount().filter((e) => e.vpcId === args.inputs.vpcId && e.serviceName === args.inputs.serviceName);
        if (found.length === 0) throw new Error("no matching EC2 VPC Endpoint found");
        const e = found[0];
        return {
          id: `vpce-${e.serviceName.split(".").pop()}`,
          vpcId: e.vpcId,
          serviceName: e.serviceName,
          vpcEndpointType: e.type,
          privateDnsEnabled: !!e.privateDnsEnabled,
          routeTableIds: e.routeTableIds ?? [],
        };
      }
      case "aws:index/getCallerIdentity:getCallerIdentity":
        return { accountId: "123456789012", arn: "arn:aws:iam::123456789012:user/test", userId: "test" };
      case "aws:index/getRegion:getRegion":
        return { name: "us-east-1", region: "us-east-1", id: "us-east-1" };
      case "aws:s3/getBucket:getBucket": {
        // An existing bucket, in the region its name ends with (e.g. "shared-backups-eu-west-1"), else us-east-1.
        // As @pulumi/aws v7 answers: `bucketRegion` is the bucket's own region, `region` the one the lookup ran in.
        const bucketRegion = /-([a-z]{2}-[a-z]+-\d)$/.exec(args.inputs.bucket)?.[1] ?? "us-east-1";
        return {
          id: args.inputs.bucket,
          bucket: args.inputs.bucket,
          arn: `arn:aws:s3:::${args.inputs.bucket}`,
          region: args.inputs.region ?? "us-east-1",
          bucketRegion,
        };
      }
      case "aws:kms/getKey:getKey":
        return { arn: `arn:aws:kms:us-east-1:123456789012:key/${args.inputs.keyId}`, id: args.inputs.keyId };
      default:
        return args.inputs;
    }
  },
  newResource(args) {
    recorded.push({ type: args.type, name: args.name, inputs: args.inputs });
    const id = `${args.name}-id`;
    // AWS's rules (./aws-rules.ts): a refusal is recorded in `violations` (a throw here would leave the
    // program's outputs pending forever under mocks), and the test that caused it fails (below).
    checkCreate(args.type, args.name, args.inputs, world);
    created.set(id, { type: args.type, inputs: args.inputs });
    const arn = `arn:aws:mock:::${args.name}`;
    const state: Record<string, any> = { ...args.inputs, arn };
    hostResourceState(args, state);
    switch (args.type) {
      case "aws:ec2/networkInterface:NetworkInterface":
        state.privateIp = `10.0.${Math.floor(ipCounter / 250)}.${ipCounter++ % 250}`;
        break;
      case "aws:ec2/eip:Eip":
        state.publicIp = `203.0.113.${ipCounter++ % 250}`;
        state.allocationId = `eipalloc-${args.name}`;
        break;
      case "aws:ebs/volume:Volume":
        return { id: `vol-${args.name.replace(/[^a-z0-9]/g, "")}`, state };
      case "aws:lb/loadBalancer:LoadBalancer":
        state.dnsName = `${args.name}.elb.us-east-1.amazonaws.com`;
        break;
      case "aws:s3/bucket:Bucket":
        state.bucket = `${args.name}-bucket`;
        state.arn = `arn:aws:s3:::${args.name}-bucket`;
        break;
      case "aws:ssm/parameter:Parameter":
        state.arn = `arn:aws:ssm:us-east-1:123456789012:parameter${args.inputs.name}`;
        break;
      case "aws:iam/instanceProfile:InstanceProfile":
      case "aws:iam/role:Role":
        state.name = `${args.name}-physical`;
        break;
      case "random:index/randomPassword:RandomPassword":
        state.result = `MOCKSECRET-password-${args.name}`;
        break;
      case "tls:index/privateKey:PrivateKey":
        state.privateKeyPem = `-----BEGIN EC PRIVATE KEY-----\nMOCKSECRET-key-${args.name}\n-----END EC PRIVATE KEY-----\n`;
        break;
      case "tls:index/selfSignedCert:SelfSignedCert":
      case "tls:index/locallySignedCert:LocallySignedCert":
        state.certPem = `-----BEGIN CERTIFICATE-----\nmock-cert-${args.name}\n-----END CERTIFICATE-----\n`;
        break;
      case "tls:index/certRequest:CertRequest":
        state.certRequestPem = `-----BEGIN CERTIFICATE REQUEST-----\nmock-${args.name}\n-----END CERTIFICATE REQUEST-----\n`;
        break;
    }
    return { id: args.type.startsWith("ha-postgres:") ? "" : id, state };
  },
};

void pulumi.runtime.setMocks(mocks, PROJECT, STACK, false);

/** Resolves an Output's value (mocks resolve everything: not a preview). */
export function valueOf<T>(o: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => o.apply((v) => resolve(v)));
}

export interface Child {
  type: string;
  name: string;
  parent: pulumi.Resource | undefined;
  resource: pulumi.Resource;
}

/**
 * Collects every resource created under `opts` (a transformation on the component is inherited by
 * all its descendants) with its parent, and waits until all are registered with the mock engine.
 */
export function childCollector() {
  const children: Child[] = [];
  const transformation: pulumi.ResourceTransformation = (a) => {
    children.push({ type: a.type, name: a.name, parent: a.opts.parent, resource: a.resource });
    return undefined;
  };
  return {
    children,
    opts: { transformations: [transformation] } as pulumi.ComponentResourceOptions,
    /** Waits for every child (and children created while waiting) to be registered. */
    async settle(): Promise<void> {
      let seen = -1;
      while (seen !== children.length) {
        seen = children.length;
        await Promise.all(children.map((c) => valueOf(c.resource.urn)));
        await new Promise((r) => setTimeout(r, 10));
      }
    },
  };
}

/** Inputs the mock engine saw for the resource of this type and name. */
export function inputsOf(type: string, name: string): Record<string, any> {
  const r = recorded.find((x) => x.type === type && x.name === name);
  if (!r) throw new Error(`no ${type} named ${name} was registered`);
  return r.inputs;
}

/** Recorded resources whose name starts with `${prefix}-`. */
export function recordedUnder(prefix: string): Recorded[] {
  return recorded.filter((r) => r.name.startsWith(`${prefix}-`));
}

/** For top-level programs (no collector): waits until no resource has been registered for 200 ms. */
export async function quiesce(): Promise<void> {
  let last = -1;
  let stable = 0;
  while (stable < 4) {
    await new Promise((r) => setTimeout(r, 50));
    if (recorded.length === last) stable++;
    else {
      stable = 0;
      last = recorded.length;
    }
  }
}
