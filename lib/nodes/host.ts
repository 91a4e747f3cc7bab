/**
 * One host (PostgreSQL node or dedicated etcd member), in two steps:
 *  1. `createHostSlot`: what outlives every instance of the host — its fixed private IP (a subnet CIDR
 *     reservation, ./fixed-ip.ts) and its encrypted EBS data volume (./data-volume.ts);
 *  2. `createHostGroup`: a launch template (updated in place: a new version per change) and an Auto
 *     Scaling group of exactly one instance in the host's subnet. A new instance claims the IP and the
 *     volume at boot (sidecar/boot/claim.ts). Pulumi never replaces an instance: the cluster does, one
 *     host at a time, by terminating it in its group (the group launches one from the latest version),
 *     and a dead instance is replaced by its group without anyone running `pulumi up`.
 * Split because every host's certificate and user-data needs addresses before any instance exists.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { ResolvedClusterArgs, ResolvedDataVolume } from "../args/types";
import { SubnetInfo } from "../args/validate";
import { childName, HOST_TAG, resourceTags } from "../naming/names";
import { ec2UserData } from "../userdata/render";
import { createDataVolume } from "./data-volume";
import { fixedIp } from "./fixed-ip";

export interface HostSlot {
  host: string;
  subnet: pulumi.Output<SubnetInfo>;
  /** The fixed private IP (known at preview once the subnet is: it is computed, not allocated). */
  privateIp: pulumi.Output<string>;
  reservation: aws.ec2.SubnetCidrReservation;
  volume: aws.ebs.Volume;
}

export function createHostSlot(
  name: string,
  host: string,
  subnet: pulumi.Output<SubnetInfo>,
  dataVolume: ResolvedDataVolume,
  kmsKeyArn: pulumi.Input<string> | undefined,
  args: ResolvedClusterArgs,
  parent: pulumi.Resource,
): HostSlot {
  const cidr = subnet.apply((s) => aws.ec2.getSubnetOutput({ id: s.id }, { parent }).cidrBlock);
  const privateIp = cidr.apply((c) => fixedIp(c, args.clusterName, host));
  const reservation = new aws.ec2.SubnetCidrReservation(
    childName(name, `${host}-ip`),
    {
      subnetId: subnet.id,
      cidrBlock: pulumi.interpolate`${privateIp}/32`,
      // "explicit": EC2 never hands this address to another interface; only an explicit assignment takes it.
      reservationType: "explicit",
      description: `${childName(args.clusterName, host)} fixed address`,
    },
    { parent },
  );
  const volume = createDataVolume(name, host, subnet.availabilityZone, dataVolume, kmsKeyArn, args, parent);
  return { host, subnet, privateIp, reservation, volume };
}

/** What a host's instances launch from. */
export interface LaunchSpec {
  instanceType: string;
  ami: pulumi.Input<string>;
  instanceProfileArn: pulumi.Input<string>;
  securityGroupIds: pulumi.Input<string>[];
  userData: pulumi.Input<string>;
  /** An auto-assigned public IPv4 on the primary interface (egress "publicIp"): no Elastic IP. */
  publicIp: pulumi.Input<boolean>;
  kmsKeyArn?: pulumi.Input<string>;
}

export interface HostGroup {
  launchTemplate: aws.ec2.LaunchTemplate;
  group: aws.autoscaling.Group;
}

/** The launch template's inputs. Pure (Outputs passed through), so tests read what a version holds. */
export function launchTemplateArgs(slot: Pick<HostSlot, "host">, spec: LaunchSpec, args: ResolvedClusterArgs): aws.ec2.LaunchTemplateArgs {
  const tag = childName(args.clusterName, slot.host);
  const hostTags = { ...resourceTags(args.tags, args.clusterName, tag), [HOST_TAG]: slot.host };
  return {
    description: `Instances of ${tag} (HA PostgreSQL ${args.clusterName})`,
    imageId: spec.ami,
    instanceType: spec.instanceType,
    iamInstanceProfile: { arn: spec.instanceProfileArn },
    // gzip + base64 (cloud-init decompresses it): EC2's 16 KB limit applies to the compressed bytes.
    userData: pulumi.output(spec.userData).apply(ec2UserData),
    // Every change is a new version and the default: the group launches the latest one.
    updateDefaultVersion: true,
    metadataOptions: { httpTokens: "required", httpEndpoint: "enabled", httpPutResponseHopLimit: 1, instanceMetadataTags: "disabled" },
    blockDeviceMappings: [
      {
        // Debian's AMIs boot from /dev/xvda; the data volume is not here (it is claimed at boot).
        deviceName: "/dev/xvda",
        ebs: {
          encrypted: "true",
          volumeType: "gp3",
          volumeSize: 16,
          deleteOnTermination: "true",
          ...(spec.kmsKeyArn !== undefined ? { kmsKeyId: spec.kmsKeyArn } : {}),
        },
      },
    ],
    networkInterfaces: [
      {
        deviceIndex: 0,
        securityGroups: spec.securityGroupIds,
        associatePublicIpAddress: pulumi.output(spec.publicIp).apply((p) => (p ? "true" : "false")),
        deleteOnTermination: "true",
      },
    ],
    ...(args.sshKeyName !== undefined ? { keyName: args.sshKeyName } : {}),
    // Tags of what each launch creates: the instance, its root volume, its interface (IAM conditions of
    // the claim and of the roll use the cluster and host tags). Never the data volume: its tags are its
    // own resource's (no `volumeTags` fighting them: the perpetual diff of issue 16's defect 13).
    tagSpecifications: [
      { resourceType: "instance", tags: hostTags },
      { resourceType: "volume", tags: resourceTags(args.tags, args.clusterName, `${tag}-root`) },
      { resourceType: "network-interface", tags: hostTags },
    ],
    tags: resourceTags(args.tags, args.clusterName, tag),
  };
}

/** The Auto Scaling group's inputs: one instance, one subnet, the template's latest version. */
export function groupArgs(slot: HostSlot, launchTemplate: aws.ec2.LaunchTemplate, args: ResolvedClusterArgs): aws.autoscaling.GroupArgs {
  const tag = childName(args.clusterName, slot.host);
  const tags = { ...resourceTags(args.tags, args.clusterName, tag), [HOST_TAG]: slot.host };
  return {
    minSize: 1,
    maxSize: 1,
    desiredCapacity: 1,
    vpcZoneIdentifiers: [slot.subnet.id],
    // The version number, not "$Latest": a change shows in the preview as an in-place update of the
    // group, and instances already running are untouched (no instanceRefresh: the cluster rolls).
    launchTemplate: { id: launchTemplate.id, version: launchTemplate.latestVersion.apply((v) => `${v}`) },
    healthCheckType: "EC2",
    healthCheckGracePeriod: 300,
    // A replaced instance may wait minutes for the volume; Pulumi must not wait for it on `up`.
    waitForCapacityTimeout: "0",
    tags: Object.entries(tags).map(([key, value]) => ({ key, value, propagateAtLaunch: false })),
  };
}

export function createHostGroup(
  name: string,
  slot: HostSlot,
  spec: LaunchSpec,
  args: ResolvedClusterArgs,
  parent: pulumi.Resource,
  dependsOn: pulumi.Input<pulumi.Resource[]>,
): HostGroup {
  const launchTemplate = new aws.ec2.LaunchTemplate(childName(name, `${slot.host}-lt`), launchTemplateArgs(slot, spec, args), { parent });
  // The group waits for the fixed IP, the volume and everything the first boot reads (the role's
  // policies included: an instance must not boot before its permissions exist).
  const group = new aws.autoscaling.Group(childName(name, `${slot.host}-asg`), groupArgs(slot, launchTemplate, args), {
    parent,
    dependsOn: pulumi.output(dependsOn).apply((d) => [...d, slot.reservation, slot.volume]),
  });
  return { launchTemplate, group };
}
