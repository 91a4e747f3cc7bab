/**
 * The mocked AWS account: what exists before the program runs (subnets' zones, VPC endpoints an
 * isolated VPC already has) and what the program creates, so that the rules of ./aws-rules.ts that
 * need state (one subnet per zone, the instance type offered in the zone, the AMI's architecture,
 * duplicate private DNS, unique names, quotas) can be checked when a resource is created.
 *
 * Quotas and unique names count only inside `freshAccount()` scopes: the component tests share one
 * mocha process, and each test stands for its own stack, not one account holding all of them.
 */
import {
  FRESH_ACCOUNT_QUOTAS,
  INSTANCE_TYPES,
  NAME_RULES,
  nameViolation,
  offered,
  physicalName,
  rolePolicyViolation,
  ssmViolation,
  USER_DATA_MAX_BYTES,
  Violation,
} from "./aws-rules";

export const violations: Violation[] = [];

/** A VPC endpoint that exists in the account. */
export interface ExistingEndpoint {
  vpcId: string;
  serviceName: string;
  type: "Gateway" | "Interface";
  privateDnsEnabled?: boolean;
  routeTableIds?: string[];
}

/** Endpoints an isolated VPC of the mocks already has (vpc-private-link: S3 gateway and SSM with private DNS). */
export const PREEXISTING_ENDPOINTS: ExistingEndpoint[] = [
  { vpcId: "vpc-private-link", serviceName: "com.amazonaws.us-east-1.s3", type: "Gateway", routeTableIds: ["rtb-private-link"] },
  { vpcId: "vpc-private-link", serviceName: "com.amazonaws.us-east-1.ssm", type: "Interface", privateDnsEnabled: true },
];

/** AMIs the mocks hand out, by id: their architecture. */
export const AMI_ARCHITECTURES: Record<string, string> = { "ami-debian13-mock": "x86_64", "ami-debian13-arm64-mock": "arm64" };

interface Scope {
  quotas: typeof FRESH_ACCOUNT_QUOTAS;
  eips: number;
  names: Set<string>;
}

let scope: Scope | undefined;
/** Endpoints created by the program (in a scope: a second cluster sees the first's). */
export const createdEndpoints: ExistingEndpoint[] = [];

/** Runs `fn` as one stack in a fresh account: default quotas, no names taken, no endpoints created. */
export async function freshAccount<T>(fn: () => Promise<T>, quotas = FRESH_ACCOUNT_QUOTAS): Promise<T> {
  scope = { quotas, eips: 0, names: new Set() };
  createdEndpoints.length = 0;
  try {
    return await fn();
  } finally {
    scope = undefined;
    createdEndpoints.length = 0;
  }
}

/** Every endpoint the account holds now. */
export function endpointsInAccount(): ExistingEndpoint[] {
  return [...PREEXISTING_ENDPOINTS, ...createdEndpoints];
}

/** Context the mocks give: zones of subnets, resources created so far by id. */
export interface World {
  zoneOf(subnetId: string): string;
  created: Map<string, { type: string; inputs: Record<string, any> }>;
}

/** AWS's answer to a create call: a refusal, or undefined (and the account's state updated). */
export function checkCreate(type: string, name: string, inputs: Record<string, any>, world: World): string | undefined {
  const refusal = refuse(type, name, inputs, world);
  if (refusal) violations.push({ type, name, code: refusal.split(":")[0], message: refusal });
  return refusal;
}

function refuse(type: string, name: string, inputs: Record<string, any>, world: World): string | undefined {
  const named = nameViolation(type, name, inputs);
  if (named) return named;
  if (scope && NAME_RULES[type] && (type.startsWith("aws:lb/") || type === "aws:s3/bucket:Bucket")) {
    const rule = NAME_RULES[type];
    const physical = `${type}:${physicalName(name, inputs[rule.field], rule.prefixField ? inputs[rule.prefixField] : undefined, rule.lower)}`;
    // Load balancer and target group names are unique per Region and account; bucket names globally.
    if (scope.names.has(physical)) return `DuplicateName: ${physical} already exists`;
    scope.names.add(physical);
  }
  switch (type) {
    case "aws:ec2/instance:Instance":
      return instanceRefusal(inputs, world);
    case "aws:ec2/launchTemplate:LaunchTemplate":
      return launchTemplateRefusal(inputs);
    case "aws:autoscaling/group:Group":
      return groupRefusal(inputs, world);
    case "aws:ssm/parameter:Parameter":
      return ssmViolation(inputs);
    case "aws:iam/rolePolicy:RolePolicy":
      return rolePolicyViolation(inputs);
    case "aws:lb/loadBalancer:LoadBalancer": {
      // "You can specify only one subnet per Availability Zone" — Elastic Load Balancing API Reference, CreateLoadBalancer (Subnets).
      const zones = (inputs.subnets ?? []).map((s: string) => world.zoneOf(s));
      const dup = zones.find((z: string, i: number) => zones.indexOf(z) !== i);
      if (dup)
        return `InvalidConfigurationRequest: A load balancer cannot be attached to multiple subnets in the same Availability Zone (${dup})`;
      return undefined;
    }
    case "aws:ec2/eip:Eip":
      // Elastic IP addresses per Region: 5 (Amazon VPC quotas).
      if (scope && ++scope.eips > scope.quotas.elasticIpsPerRegion)
        return "AddressLimitExceeded: The maximum number of addresses has been reached.";
      return undefined;
    case "aws:ec2/vpcEndpoint:VpcEndpoint":
      return endpointRefusal(inputs);
  }
  return undefined;
}

function instanceRefusal(inputs: Record<string, any>, world: World): string | undefined {
  // "User data is limited to 16 KB, in raw form, before it is base64-encoded" — EC2 User Guide, user data.
  const bytes = Buffer.byteLength(String(inputs.userData ?? ""));
  if (bytes > USER_DATA_MAX_BYTES) return `InvalidParameterValue: User data is limited to ${USER_DATA_MAX_BYTES} bytes (got ${bytes})`;
  const type = String(inputs.instanceType);
  const eni = world.created.get(inputs.primaryNetworkInterface?.networkInterfaceId ?? "");
  const zone = eni ? world.zoneOf(eni.inputs.subnetId) : undefined;
  // RunInstances in a zone that does not offer the type — EC2 User Guide, "Troubleshoot instance launch issues" (InsufficientInstanceCapacity/Unsupported).
  if (zone && !offered(type, zone))
    return `Unsupported: Your requested instance type (${type}) is not supported in your requested Availability Zone (${zone}).`;
  const info = INSTANCE_TYPES[type];
  const amiArch = AMI_ARCHITECTURES[String(inputs.ami)];
  if (info && amiArch && info.arch !== amiArch)
    return `InvalidParameterValue: The architecture '${info.arch}' of the specified instance type does not match the architecture '${amiArch}' of the specified AMI.`;
  return undefined;
}

/**
 * A launch template holds what RunInstances gets: its user-data (base64, as EC2 takes it: the limit is
 * on the decoded bytes) and the image's architecture against the instance type's.
 */
function launchTemplateRefusal(inputs: Record<string, any>): string | undefined {
  const bytes = Buffer.from(String(inputs.userData ?? ""), "base64").length;
  // "User data is limited to 16 KB, in raw form, before it is base64-encoded" — EC2 User Guide, user data.
  if (bytes > USER_DATA_MAX_BYTES) return `InvalidUserData.Malformed: User data is limited to ${USER_DATA_MAX_BYTES} bytes (got ${bytes})`;
  const info = INSTANCE_TYPES[String(inputs.instanceType)];
  const amiArch = AMI_ARCHITECTURES[String(inputs.imageId)];
  if (info && amiArch && info.arch !== amiArch)
    return `InvalidParameterValue: The architecture '${info.arch}' of the specified instance type does not match the architecture '${amiArch}' of the specified AMI.`;
  return undefined;
}

/** A group launches its template's instance type in its subnets' zones: each must offer it. */
function groupRefusal(inputs: Record<string, any>, world: World): string | undefined {
  const template = world.created.get(inputs.launchTemplate?.id ?? "");
  if (!template) return undefined;
  const type = String(template.inputs.instanceType);
  for (const subnet of inputs.vpcZoneIdentifiers ?? []) {
    const zone = world.zoneOf(subnet);
    // CreateAutoScalingGroup validates the template's type against the zones — EC2 Auto Scaling API Reference (ValidationError).
    if (!offered(type, zone))
      return `ValidationError: Your requested instance type (${type}) is not supported in your requested Availability Zone (${zone}).`;
  }
  return undefined;
}

function endpointRefusal(inputs: Record<string, any>): string | undefined {
  const existing = endpointsInAccount().filter((e) => e.vpcId === inputs.vpcId && e.serviceName === inputs.serviceName);
  if (inputs.vpcEndpointType === "Interface" && inputs.privateDnsEnabled) {
    // One private hosted zone per service name in a VPC — AWS PrivateLink, "Manage DNS names for VPC endpoint services"
    // (https://docs.aws.amazon.com/vpc/latest/privatelink/privatelink-access-aws-services.html#interface-endpoint-private-dns).
    if (existing.some((e) => e.type === "Interface" && e.privateDnsEnabled))
      return `InvalidParameter: private-dns-enabled cannot be set because there is already a conflicting DNS domain for ${inputs.serviceName.replace(/^com\.amazonaws\.([^.]+)\.(.*)$/, "$2.$1")}.amazonaws.com in the VPC ${inputs.vpcId}`;
  }
  if (inputs.vpcEndpointType === "Gateway") {
    // A route table takes one route per destination (the service's prefix list) — Amazon VPC, "Gateway endpoints".
    const taken = existing.flatMap((e) => e.routeTableIds ?? []).find((t) => (inputs.routeTableIds ?? []).includes(t));
    if (taken)
      return `RouteAlreadyExists: route table ${taken} already has a route with destination-prefix-list-id for ${inputs.serviceName}`;
  }
  if (scope) {
    const inVpc = createdEndpoints.filter((e) => e.vpcId === inputs.vpcId && e.type === "Interface").length;
    if (inputs.vpcEndpointType === "Interface" && inVpc + 1 > scope.quotas.interfaceEndpointsPerVpc)
      return "VpcEndpointLimitExceeded: The maximum number of VPC endpoints has been reached.";
  }
  if (scope)
    createdEndpoints.push({
      vpcId: inputs.vpcId,
      serviceName: inputs.serviceName,
      type: inputs.vpcEndpointType,
      privateDnsEnabled: inputs.privateDnsEnabled,
      routeTableIds: inputs.routeTableIds,
    });
  return undefined;
}
