/**
 * The permissions of the day-2 design (docs/day2.md), as policies of their own beside the node policy
 * (./role.ts), so the role split of etcd hosts and PostgreSQL nodes attaches them where they belong:
 *  - claim (every host): at boot a new instance takes its fixed IP (a secondary private IP of its own
 *    primary interface) and attaches its data volume — only interfaces, instances and data volumes
 *    tagged with this cluster;
 *  - replace (PostgreSQL nodes only: the leader's roll coordinator): terminate an instance of this
 *    cluster's Auto Scaling groups, which launch a new one from the latest launch template version.
 * Pure documents (tested as JSON), and the resources that attach them.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { ResolvedClusterArgs } from "../args/types";
import { DATA_VOLUME_ROLE, ROLE_TAG } from "../nodes/data-volume";
import { childName, CLUSTER_TAG } from "../naming/names";
import type { PolicyStatement } from "./statement";

/**
 * The AWS APIs the day-2 design calls from a host (the claim: EC2; the roll: EC2 Auto Scaling): with
 * egress "endpoints" (no way out but VPC endpoints) each needs an interface endpoint.
 */
export const HOST_API_ENDPOINT_SERVICES = ["ec2", "autoscaling"] as const;

export interface HostPolicyScope {
  partition: string;
  region: string;
  accountId: string;
  clusterName: string;
}

const clusterTag = (s: HostPolicyScope) => ({ [`aws:ResourceTag/${CLUSTER_TAG}`]: s.clusterName });

/** What a host needs to claim its fixed IP and its data volume at boot. */
export function hostClaimPolicyDocument(s: HostPolicyScope) {
  const ec2 = (type: string) => `arn:${s.partition}:ec2:${s.region}:${s.accountId}:${type}/*`;
  const statements: PolicyStatement[] = [
    {
      // The address moves from the terminated instance's interface (or from nowhere) to the new one's;
      // the launch template tags every interface it creates with the cluster.
      Sid: "ClaimFixedIp",
      Effect: "Allow",
      Action: ["ec2:AssignPrivateIpAddresses"],
      Resource: [ec2("network-interface")],
      Condition: { StringEquals: clusterTag(s) },
    },
    {
      Sid: "ClaimDataVolume",
      Effect: "Allow",
      Action: ["ec2:AttachVolume"],
      Resource: [ec2("volume")],
      Condition: { StringEquals: { ...clusterTag(s), [`aws:ResourceTag/${ROLE_TAG}`]: DATA_VOLUME_ROLE } },
    },
    {
      // AttachVolume authorizes the instance too: only this cluster's instances.
      Sid: "ClaimDataVolumeInstance",
      Effect: "Allow",
      Action: ["ec2:AttachVolume"],
      Resource: [ec2("instance")],
      Condition: { StringEquals: clusterTag(s) },
    },
    {
      // Describe calls support no resource-level permissions (the Service Authorization Reference).
      Sid: "SeeClaimState",
      Effect: "Allow",
      Action: ["ec2:DescribeVolumes", "ec2:DescribeNetworkInterfaces"],
      Resource: "*",
    },
  ];
  return { Version: "2012-10-17", Statement: statements };
}

/** What the leader's roll coordinator needs to replace a host: terminate its instance in its group. */
export function hostReplacePolicyDocument(s: HostPolicyScope) {
  const statements: PolicyStatement[] = [
    {
      Sid: "ReplaceClusterHosts",
      Effect: "Allow",
      Action: ["autoscaling:TerminateInstanceInAutoScalingGroup"],
      Resource: [`arn:${s.partition}:autoscaling:${s.region}:${s.accountId}:autoScalingGroup:*:autoScalingGroupName/*`],
      Condition: { StringEquals: clusterTag(s) },
    },
    {
      // The replacer finds a host's running instance by its cluster and host tags (describe-instances);
      // Describe calls support no resource-level permissions.
      Sid: "SeeClusterHosts",
      Effect: "Allow",
      Action: ["ec2:DescribeInstances", "autoscaling:DescribeAutoScalingInstances"],
      Resource: "*",
    },
  ];
  return { Version: "2012-10-17", Statement: statements };
}

/**
 * The claim policy on every host role and the replace policy on the PostgreSQL nodes' role. Returned
 * so the hosts' groups wait for them: an instance must not boot before its permissions exist.
 */
export function createHostPolicies(
  name: string,
  args: ResolvedClusterArgs,
  roles: { nodes: aws.iam.Role; etcd?: aws.iam.Role },
  parent: pulumi.Resource,
): aws.iam.RolePolicy[] {
  const opts = { parent };
  const region = aws.getRegionOutput({}, opts).region;
  const caller = aws.getCallerIdentityOutput({}, opts).accountId;
  const partition = aws.getPartitionOutput({}, opts).partition;
  const scope = pulumi
    .all([partition, region, caller])
    .apply(([p, r, a]) => ({ partition: p, region: r, accountId: a, clusterName: args.clusterName }));
  // Every host claims its fixed IP and volume at boot: the nodes' role and the dedicated etcd hosts' own.
  const claimers: Array<[string, aws.iam.Role]> = [
    ["claim-policy", roles.nodes],
    ...(roles.etcd ? [["etcd-claim-policy", roles.etcd] as [string, aws.iam.Role]] : []),
  ];
  const claim = claimers.map(
    ([role, r]) =>
      new aws.iam.RolePolicy(
        childName(name, role),
        { role: r.id, policy: scope.apply((s) => JSON.stringify(hostClaimPolicyDocument(s))) },
        opts,
      ),
  );
  const replace = new aws.iam.RolePolicy(
    childName(name, "replace-policy"),
    { role: roles.nodes.id, policy: scope.apply((s) => JSON.stringify(hostReplacePolicyDocument(s))) },
    opts,
  );
  return [...claim, replace];
}
