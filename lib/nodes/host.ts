/**
 * One host (PostgreSQL node or dedicated etcd member), in two steps:
 *  1. `createHostSlot`: the network interface (the fixed private IP) and the encrypted EBS data
 *     volume — both outlive the instance, so a replaced instance gets the same IP and data;
 *  2. `createHostInstance`: the instance (IMDSv2 only, encrypted root, no SSH key unless asked; a
 *     public address only through an Elastic IP on the interface, see network/egress-resources.ts)
 *     and the volume attachment. Split because every host's user-data needs every other host's IP
 *     before any instance exists.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { ResolvedClusterArgs, ResolvedDataVolume } from "../args/types";
import { SubnetInfo } from "../args/validate";
import { childName, resourceTags } from "../naming/names";

export interface HostSlot {
  host: string;
  eni: aws.ec2.NetworkInterface;
  volume: aws.ebs.Volume;
}

export function createHostSlot(
  name: string,
  host: string,
  subnet: pulumi.Output<SubnetInfo>,
  securityGroupIds: pulumi.Input<string>[],
  dataVolume: ResolvedDataVolume,
  kmsKeyArn: pulumi.Input<string> | undefined,
  args: ResolvedClusterArgs,
  parent: pulumi.Resource,
): HostSlot {
  const tag = childName(args.clusterName, host);
  const eni = new aws.ec2.NetworkInterface(
    childName(name, `${host}-eni`),
    {
      subnetId: subnet.id,
      securityGroups: securityGroupIds,
      description: `${tag} fixed address`,
      tags: resourceTags(args.tags, args.clusterName, tag),
    },
    { parent },
  );
  const volume = new aws.ebs.Volume(
    childName(name, `${host}-data`),
    {
      availabilityZone: subnet.availabilityZone,
      size: dataVolume.sizeGiB,
      type: dataVolume.type,
      encrypted: true,
      ...(kmsKeyArn !== undefined ? { kmsKeyId: kmsKeyArn } : {}),
      ...(dataVolume.iops !== undefined ? { iops: dataVolume.iops } : {}),
      ...(dataVolume.throughputMiBps !== undefined ? { throughput: dataVolume.throughputMiBps } : {}),
      tags: resourceTags(args.tags, args.clusterName, `${tag}-data`),
    },
    { parent },
  );
  return { host, eni, volume };
}

export interface HostInstance {
  instance: aws.ec2.Instance;
  attachment: aws.ec2.VolumeAttachment;
}

export function createHostInstance(
  name: string,
  slot: HostSlot,
  opts: {
    instanceType: string;
    ami: pulumi.Input<string>;
    instanceProfile: aws.iam.InstanceProfile;
    userData: pulumi.Input<string>;
    kmsKeyArn?: pulumi.Input<string>;
  },
  args: ResolvedClusterArgs,
  parent: pulumi.Resource,
  dependsOn: NonNullable<pulumi.CustomResourceOptions["dependsOn"]>,
): HostInstance {
  const tag = childName(args.clusterName, slot.host);
  const instance = new aws.ec2.Instance(
    childName(name, slot.host),
    {
      ami: opts.ami,
      instanceType: opts.instanceType,
      iamInstanceProfile: opts.instanceProfile.name,
      // The ENI carries the fixed IP and the security groups; an existing ENI gets no public IP.
      primaryNetworkInterface: { networkInterfaceId: slot.eni.id },
      userData: opts.userData,
      metadataOptions: { httpTokens: "required", httpEndpoint: "enabled", httpPutResponseHopLimit: 1, instanceMetadataTags: "disabled" },
      rootBlockDevice: {
        encrypted: true,
        volumeType: "gp3",
        volumeSize: 16,
        deleteOnTermination: true,
        ...(opts.kmsKeyArn !== undefined ? { kmsKeyId: opts.kmsKeyArn } : {}),
      },
      ...(args.sshKeyName !== undefined ? { keyName: args.sshKeyName } : {}),
      tags: resourceTags(args.tags, args.clusterName, tag),
      volumeTags: resourceTags(args.tags, args.clusterName, `${tag}-root`),
    },
    {
      parent,
      dependsOn,
      // A newer Debian AMI or a changed user-data must not restart every node at once: replace
      // hosts one at a time with `pulumi up --replace <urn>` (see README).
      ignoreChanges: ["ami", "userData"],
    },
  );
  const attachment = new aws.ec2.VolumeAttachment(
    childName(name, `${slot.host}-data-attach`),
    {
      instanceId: instance.id,
      volumeId: slot.volume.id,
      deviceName: "/dev/xvdf",
      // Stop the instance before detaching so PostgreSQL/etcd data is flushed when it is replaced.
      stopInstanceBeforeDetaching: true,
    },
    { parent },
  );
  return { instance, attachment };
}
