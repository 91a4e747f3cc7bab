/**
 * AWS's documented rules, as the component tests' mocks enforce them: each rule is a row of a table
 * (written once, cited next to it) and `checkCreate` applies every row that concerns a resource
 * being created. A refused creation fails with AWS's own error wording and is recorded in
 * `violations`, so a test can assert that a program breaks (or does not break) a rule.
 *
 * What the provider does before AWS sees a request is modelled too: Pulumi auto-names a resource
 * that has no explicit name as its logical name + "-" + 7 random characters (S3 buckets lower-cased).
 */

/** One refusal, as AWS would answer the create call. */
export interface Violation {
  type: string;
  /** The resource's logical (Pulumi) name. */
  name: string;
  code: string;
  message: string;
}

/** Pulumi's auto-naming: `${logical}-` and 7 random characters. */
export const AUTO_NAME_SUFFIX_LENGTH = 8;

/** The physical name AWS receives: explicit name, prefix + 26 characters (Terraform's unique id), or the auto-name. */
export function physicalName(logical: string, explicit: string | undefined, prefix: string | undefined, lower = false): string {
  if (explicit !== undefined) return explicit;
  if (prefix !== undefined) return `${prefix}${"0".repeat(26)}`;
  const n = `${logical}-abcdefg`;
  return lower ? n.toLowerCase() : n;
}

interface NameRule {
  /** Input that holds the explicit name, and its prefix form. */
  field: string;
  prefixField?: string;
  max: number;
  /** What AWS accepts besides the length. */
  pattern: RegExp;
  /** AWS's wording (without the name). */
  refusal: string;
  lower?: boolean;
  doc: string;
}

/** Name rules of every named resource type the component creates. */
export const NAME_RULES: Record<string, NameRule> = {
  // "This name must be unique per region per account, can have a maximum of 32 characters, must contain only
  // alphanumeric characters or hyphens, and must not begin or end with a hyphen" — Elastic Load Balancing API
  // Reference, CreateLoadBalancer (Name); the name must also not begin with "internal-".
  "aws:lb/loadBalancer:LoadBalancer": {
    field: "name",
    prefixField: "namePrefix",
    max: 32,
    pattern: /^(?!internal-)[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/,
    refusal:
      "ValidationError: LoadBalancer name cannot be longer than 32 characters, must contain only alphanumeric characters or hyphens, and must not begin or end with a hyphen or with 'internal-'",
    doc: "https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateLoadBalancer.html",
  },
  // Same rule for target groups — Elastic Load Balancing API Reference, CreateTargetGroup (Name).
  "aws:lb/targetGroup:TargetGroup": {
    field: "name",
    prefixField: "namePrefix",
    max: 32,
    pattern: /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/,
    refusal:
      "ValidationError: Target group name cannot be longer than '32' characters, must contain only alphanumeric characters or hyphens, and must not begin or end with a hyphen",
    doc: "https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateTargetGroup.html",
  },
  // IAM: role and instance profile names up to 64 characters of [\w+=,.@-] — IAM User Guide, "IAM and AWS STS quotas".
  "aws:iam/role:Role": {
    field: "name",
    prefixField: "namePrefix",
    max: 64,
    pattern: /^[\w+=,.@-]+$/,
    refusal:
      "ValidationError: 1 validation error detected: Value at 'roleName' failed to satisfy constraint: Member must have length less than or equal to 64",
    doc: "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html",
  },
  "aws:iam/instanceProfile:InstanceProfile": {
    field: "name",
    prefixField: "namePrefix",
    max: 128,
    pattern: /^[\w+=,.@-]+$/,
    refusal:
      "ValidationError: Value at 'instanceProfileName' failed to satisfy constraint: Member must have length less than or equal to 128",
    doc: "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html",
  },
  // Inline policy names: 128 characters — IAM User Guide, "IAM and AWS STS quotas".
  "aws:iam/rolePolicy:RolePolicy": {
    field: "name",
    prefixField: "namePrefix",
    max: 128,
    pattern: /^[\w+=,.@-]+$/,
    refusal: "ValidationError: Value at 'policyName' failed to satisfy constraint: Member must have length less than or equal to 128",
    doc: "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html",
  },
  // "Constraints: Up to 255 characters in length" — EC2 API Reference, CreateSecurityGroup (GroupName).
  "aws:ec2/securityGroup:SecurityGroup": {
    field: "name",
    prefixField: "namePrefix",
    max: 255,
    pattern: /^(?!sg-)[\x20-\x7e]+$/,
    refusal: "InvalidParameterValue: Value for parameter GroupName is invalid",
    doc: "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateSecurityGroup.html",
  },
  // 3–63 characters, lower-case letters, digits, dots and hyphens, beginning and ending with a letter or digit —
  // Amazon S3 User Guide, "General purpose bucket naming rules". (The provider lower-cases its auto-names.)
  "aws:s3/bucket:Bucket": {
    field: "bucket",
    prefixField: "bucketPrefix",
    max: 63,
    pattern: /^(?!xn--)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
    refusal: "InvalidBucketName: The specified bucket is not valid.",
    lower: true,
    doc: "https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html",
  },
};

/** The name rule's refusal for a resource being created, if any. */
export function nameViolation(type: string, logical: string, inputs: Record<string, any>): string | undefined {
  const rule = NAME_RULES[type];
  if (!rule) return undefined;
  const name = physicalName(logical, inputs[rule.field], rule.prefixField ? inputs[rule.prefixField] : undefined, rule.lower);
  if (name.length > rule.max || !rule.pattern.test(name)) return `${rule.refusal} (name "${name}", ${name.length} characters)`;
  return undefined;
}

/**
 * "Role policy size cannot exceed 10,240 characters" (the aggregate of a role's inline policies, white space
 * not counted) — IAM User Guide, "IAM and AWS STS quotas", IAM object quotas.
 */
export const ROLE_POLICY_MAX_CHARS = 10240;

export function rolePolicyViolation(inputs: Record<string, any>): string | undefined {
  const chars = String(inputs.policy ?? "").replace(/\s/g, "").length;
  if (chars > ROLE_POLICY_MAX_CHARS)
    return `LimitExceeded: Maximum policy size of ${ROLE_POLICY_MAX_CHARS} bytes exceeded for role (${chars} characters)`;
  return undefined;
}

/** "User data is limited to 16 KB" (raw, before base64) — EC2 User Guide, "Run commands when you launch an EC2 instance with user data input". */
export const USER_DATA_MAX_BYTES = 16384;

/**
 * SSM Parameter Store: Standard values up to 4 KB, Advanced up to 8 KB; names of letters, digits and `.-_/`,
 * at most 15 levels, not starting with "aws" or "ssm", at most 1011 characters — Systems Manager User Guide,
 * "Managing parameter tiers" and "Requirements and constraints for parameter names".
 */
export const SSM_RULES = {
  maxValueBytes: { Standard: 4096, Advanced: 8192 } as Record<string, number>,
  maxNameLength: 1011,
  maxLevels: 15,
  namePattern: /^[A-Za-z0-9_./-]+$/,
  doc: "https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html",
};

export function ssmViolation(inputs: Record<string, any>): string | undefined {
  const name = String(inputs.name ?? "");
  const tier = inputs.tier ?? "Standard";
  const value = String(inputs.value ?? inputs.insecureValue ?? "");
  const max = SSM_RULES.maxValueBytes[tier] ?? SSM_RULES.maxValueBytes.Standard;
  if (Buffer.byteLength(value) > max)
    return `ValidationException: ${tier} tier parameters support a maximum parameter value of ${max} characters. (${name}: ${Buffer.byteLength(value)} bytes)`;
  if (name.length > SSM_RULES.maxNameLength || !SSM_RULES.namePattern.test(name))
    return `ValidationException: Parameter name: can't be prefixed with "aws" or "ssm" (case-insensitive) and must only contain letters, numbers and the symbols .-_/ (${name})`;
  if (/^\/?(aws|ssm)/i.test(name))
    return `ValidationException: Parameter name: can't be prefixed with "aws" or "ssm" (case-insensitive). (${name})`;
  if (name.split("/").filter(Boolean).length > SSM_RULES.maxLevels)
    return `HierarchyLevelLimitExceededException: A hierarchy can have a maximum of 15 levels. (${name})`;
  return undefined;
}

/**
 * Instance types the tests use, as DescribeInstanceTypes describes them: architecture and hypervisor.
 * Xen types expose EBS volumes as /dev/xvd*, not NVMe — EC2 User Guide, "Instances built on the AWS Nitro
 * System" (https://docs.aws.amazon.com/ec2/latest/instancetypes/ec2-nitro-instances.html) and
 * "Amazon EBS and NVMe" (https://docs.aws.amazon.com/ebs/latest/userguide/nvme-ebs-volumes.html).
 */
export const INSTANCE_TYPES: Record<string, { arch: "x86_64" | "arm64"; hypervisor: "nitro" | "xen" }> = {
  "m7i.large": { arch: "x86_64", hypervisor: "nitro" },
  "m6i.large": { arch: "x86_64", hypervisor: "nitro" },
  "r7i.xlarge": { arch: "x86_64", hypervisor: "nitro" },
  "c5.large": { arch: "x86_64", hypervisor: "nitro" },
  "t3.small": { arch: "x86_64", hypervisor: "nitro" },
  "t3.medium": { arch: "x86_64", hypervisor: "nitro" },
  "m7g.large": { arch: "arm64", hypervisor: "nitro" },
  "t4g.small": { arch: "arm64", hypervisor: "nitro" },
  "c7g.large": { arch: "arm64", hypervisor: "nitro" },
  "a1.large": { arch: "arm64", hypervisor: "nitro" },
  "t2.micro": { arch: "x86_64", hypervisor: "xen" },
  "t2.medium": { arch: "x86_64", hypervisor: "xen" },
  "m4.large": { arch: "x86_64", hypervisor: "xen" },
  "c4.large": { arch: "x86_64", hypervisor: "xen" },
  "r4.large": { arch: "x86_64", hypervisor: "xen" },
  "m3.medium": { arch: "x86_64", hypervisor: "xen" },
};

/**
 * Zones that do not offer some instance types (DescribeInstanceTypeOfferings with location-type
 * availability-zone answers without them). use1-az3 (mocked as us-east-1e) offers only older types:
 * no m7i, no t3 — EC2 User Guide, "Find an Amazon EC2 instance type" / DescribeInstanceTypeOfferings.
 */
export const NOT_OFFERED: Record<string, string[]> = {
  "us-east-1e": ["m7i.large", "r7i.xlarge", "t3.small", "t3.medium", "m7g.large", "t4g.small", "c7g.large", "m6i.large"],
};

export function offered(type: string, zone: string): boolean {
  return !(NOT_OFFERED[zone] ?? []).includes(type);
}

/**
 * A fresh account's default quotas, per Region unless said otherwise (all adjustable on request):
 *  - Elastic IP addresses per Region: 5 — Amazon VPC User Guide, "Amazon VPC quotas"
 *    (https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html);
 *  - security groups per VPC: 2500 (same page, "Security groups"); rules per security group: 60 inbound, 60 outbound;
 *  - interface endpoints per VPC: 50; gateway endpoints per Region: 20 — AWS PrivateLink,
 *    "AWS PrivateLink quotas" (https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-limits-endpoints.html);
 *  - network load balancers per Region: 50; target groups per Region: 3000 — Elastic Load Balancing,
 *    "Quotas for your Network Load Balancers".
 */
export const FRESH_ACCOUNT_QUOTAS = {
  elasticIpsPerRegion: 5,
  securityGroupsPerVpc: 2500,
  inboundRulesPerSecurityGroup: 60,
  outboundRulesPerSecurityGroup: 60,
  interfaceEndpointsPerVpc: 50,
  gatewayEndpointsPerRegion: 20,
  networkLoadBalancersPerRegion: 50,
  targetGroupsPerRegion: 3000,
};
