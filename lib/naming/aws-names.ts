/**
 * Explicit names for the resources whose names AWS limits more tightly than Pulumi's auto-naming
 * allows: a load balancer's and a target group's name holds at most 32 characters of letters, digits
 * and '-' (Elastic Load Balancing API Reference, CreateLoadBalancer / CreateTargetGroup, Name), and
 * Pulumi's auto-name is the logical name + '-' + 7 random characters — over 32 for any component name
 * over 13 characters.
 *
 * Such a name must also be unique in the account and Region, and a replacement is created before the
 * old resource is deleted (Pulumi's default), so the replacement needs another name. The name ends in
 * a hash of the cluster name and of the properties whose change replaces the resource: a change that
 * replaces it renames it, any other change keeps it (and the load balancer keeps its DNS name). Pure.
 */
import { createHash } from "node:crypto";

/** ELBv2's limit on load balancer and target group names. */
export const ELB_NAME_MAX = 32;

const HASH_LENGTH = 7;

/**
 * `<role>-<cluster name, cut to fit>-<hash>`: starts with the role (so never with "internal-", which
 * AWS refuses for load balancers), ends with a hex digit, at most 32 characters.
 */
export function elbName(clusterName: string, role: string, replacementKeys: ReadonlyArray<string | number | boolean>): string {
  const hash = createHash("sha256")
    .update(JSON.stringify([clusterName, role, ...replacementKeys]))
    .digest("hex")
    .slice(0, HASH_LENGTH);
  const room = ELB_NAME_MAX - role.length - HASH_LENGTH - 2;
  const cut = clusterName.slice(0, room).replace(/-+$/, "");
  return `${role}-${cut}-${hash}`;
}
