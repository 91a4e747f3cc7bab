/**
 * AWS's and Debian's limits that the component's arguments must respect, each with its source: the
 * instance types that fit the boot script (Nitro, the AMI's architecture), the PostgreSQL versions
 * Debian 13 ships, the lengths that Pulumi's auto-names and SSM's names leave. Pure.
 */

/**
 * Instance families built on Graviton (arm64): a "g" after the generation digit, e.g. m7g, t4g, c8gd;
 * and a1, the first-generation Graviton ("Amazon EC2 A1 instances", EC2 instance types guide).
 */
export function isArmInstanceType(t: string): boolean {
  return /^[a-z]+\d+g[a-z-]*\./.test(t) || t.startsWith("a1.");
}

/**
 * Families on the Xen hypervisor, not the Nitro System ("Instances built on the AWS Nitro System",
 * https://docs.aws.amazon.com/ec2/latest/instancetypes/ec2-nitro-instances.html, lists every Nitro
 * type; these are the current and previous generation types it leaves out). Xen exposes EBS volumes
 * as /dev/xvd*, not as NVMe devices, and the boot script finds the data volume by its NVMe serial.
 * p3dn is Nitro although p3 is not; i3en and i3p too.
 */
const XEN_FAMILIES = new Set([
  "t1",
  "t2",
  "m1",
  "m2",
  "m3",
  "m4",
  "c1",
  "c3",
  "c4",
  "r3",
  "r4",
  "i2",
  "i3",
  "d2",
  "x1",
  "x1e",
  "g2",
  "g3",
  "g3s",
  "p2",
  "p3",
  "h1",
  "f1",
  "cc2",
  "cr1",
  "hs1",
]);
export function isXenInstanceType(t: string): boolean {
  return XEN_FAMILIES.has(t.split(".")[0]) && t !== "m4.16xlarge";
}

/** The PostgreSQL major versions Debian 13's archive ships (`postgresql-17`; https://packages.debian.org/trixie/postgresql). */
export const DEBIAN_POSTGRES_VERSIONS = [17];

/**
 * The longest component name: Pulumi auto-names the buckets and IAM resources from it (name + "-" + role +
 * "-" + 7 random characters); IAM role names take at most 64 characters and "-etcd-profile" is the longest role.
 */
export const MAX_COMPONENT_NAME_LENGTH = 64 - "-etcd-profile".length - 8;

/**
 * The longest SSM prefix, and its deepest hierarchy. Parameter names are `<prefix>/<cluster>/<kind>/<name>`:
 * SSM takes 15 levels ("Requirements and constraints for parameter names", Systems Manager User Guide), and
 * the nodes' role lists each parameter's ARN in an inline policy of at most 10,240 characters (IAM User
 * Guide, "IAM and AWS STS quotas"), which 9 nodes' parameters fill with a prefix of about 200.
 */
export const SSM_PREFIX_MAX = { length: 160, levels: 12 };

export function ssmPrefixProblems(prefix: string): string[] {
  const levels = prefix.split("/").filter(Boolean).length;
  if (prefix.length > SSM_PREFIX_MAX.length || levels > SSM_PREFIX_MAX.levels)
    return [
      `ssmParameterPrefix: "${prefix.slice(0, 40)}${prefix.length > 40 ? "…" : ""}" has ${prefix.length} characters in ${levels} levels: use at most ${SSM_PREFIX_MAX.length} characters and ${SSM_PREFIX_MAX.levels} levels (SSM allows 15 levels per name, and the nodes' IAM policy lists every parameter)`,
    ];
  if (/^\/(aws|ssm)/i.test(prefix))
    return [`ssmParameterPrefix: "${prefix}": SSM reserves names that begin with "aws" or "ssm": use another first level`];
  return [];
}
