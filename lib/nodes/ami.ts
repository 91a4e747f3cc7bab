/** The default AMI: the newest official Debian 13 image, looked up at deploy time. */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

/** Debian's cloud team's AWS account, which publishes the official Debian AMIs. */
export const DEBIAN_AMI_OWNER = "136693071363";

/** getAmi filter for the official Debian 13 ("trixie") image of an architecture. */
export function debianAmiFilter(architecture: "x86_64" | "arm64") {
  const arch = architecture === "arm64" ? "arm64" : "amd64";
  return {
    owners: [DEBIAN_AMI_OWNER],
    mostRecent: true,
    filters: [
      { name: "name", values: [`debian-13-${arch}-*`] },
      { name: "architecture", values: [architecture] },
      { name: "virtualization-type", values: ["hvm"] },
      { name: "root-device-type", values: ["ebs"] },
    ],
  };
}

export function resolveAmi(
  amiId: pulumi.Input<string> | undefined,
  architecture: "x86_64" | "arm64",
  parent: pulumi.Resource,
): pulumi.Output<string> {
  if (amiId !== undefined) return pulumi.output(amiId);
  return aws.ec2.getAmiOutput(debianAmiFilter(architecture), { parent }).id;
}
