/**
 * A host's encrypted EBS data volume: it outlives every instance (a new instance attaches it at boot)
 * and every Pulumi change:
 *  - size, type, IOPS and throughput change in place (EC2 ModifyVolume); the new instance grows the
 *    file system at boot;
 *  - `retainOnDelete`: a replacement-forcing change, a scale-in or a `pulumi destroy` never deletes a
 *    volume in AWS (Pulumi drops it from the stack; the volume stays, tagged, for the user to delete);
 *  - the properties whose change would force a replacement (encryption, KMS key, snapshot) are
 *    ignored after creation: a new KMS key applies to new hosts' volumes, never replaces all at once.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { ResolvedClusterArgs, ResolvedDataVolume } from "../args/types";
import { childName, HOST_TAG, resourceTags } from "../naming/names";

/**
 * The aws.ebs.Volume properties whose change replaces the volume (besides availabilityZone, which
 * follows the host's subnet), per the provider's documentation; see docs/day2.md.
 */
export const VOLUME_FORCE_NEW_IGNORED = ["encrypted", "kmsKeyId", "snapshotId"] as const;

/** The resource options of every data volume (exported: the tests assert them). */
export function dataVolumeOptions(parent: pulumi.Resource): pulumi.CustomResourceOptions {
  return { parent, retainOnDelete: true, ignoreChanges: [...VOLUME_FORCE_NEW_IGNORED] };
}

/** The tag value of a data volume's role tag (the claim's IAM condition). */
export const DATA_VOLUME_ROLE = "data";
export const ROLE_TAG = "ha-postgres:role";

export function createDataVolume(
  name: string,
  host: string,
  availabilityZone: pulumi.Input<string>,
  dataVolume: ResolvedDataVolume,
  kmsKeyArn: pulumi.Input<string> | undefined,
  args: ResolvedClusterArgs,
  parent: pulumi.Resource,
): aws.ebs.Volume {
  const tag = childName(args.clusterName, host);
  return new aws.ebs.Volume(
    childName(name, `${host}-data`),
    {
      availabilityZone,
      size: dataVolume.sizeGiB,
      type: dataVolume.type,
      encrypted: true,
      ...(kmsKeyArn !== undefined ? { kmsKeyId: kmsKeyArn } : {}),
      ...(dataVolume.iops !== undefined ? { iops: dataVolume.iops } : {}),
      ...(dataVolume.throughputMiBps !== undefined ? { throughput: dataVolume.throughputMiBps } : {}),
      tags: { ...resourceTags(args.tags, args.clusterName, `${tag}-data`), [HOST_TAG]: host, [ROLE_TAG]: DATA_VOLUME_ROLE },
    },
    dataVolumeOptions(parent),
  );
}
