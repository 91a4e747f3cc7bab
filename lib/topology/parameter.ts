/**
 * The topology SSM parameter (String, not secret): rewritten on every `pulumi up` whose hosts, fixed
 * IPs or revisions changed. The agents poll it; node-init reads it at boot (docs/day2.md).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { ResolvedClusterArgs } from "../args/types";
import { childName, parameterNames, resourceTags } from "../naming/names";
import type { Topology } from "../../sidecar/contract/topology";

/** SSM's Standard tier holds 4 KB: the topology of 9 nodes and 5 etcd members is far below (tested). */
export const TOPOLOGY_PARAMETER_LIMIT_BYTES = 4096;

export function topologyValue(t: Topology): string {
  const text = JSON.stringify(t);
  if (Buffer.byteLength(text, "utf8") > TOPOLOGY_PARAMETER_LIMIT_BYTES) {
    throw new Error(
      `topology parameter is ${Buffer.byteLength(text, "utf8")} bytes, over SSM Standard's ${TOPOLOGY_PARAMETER_LIMIT_BYTES}`,
    );
  }
  return text;
}

export function createTopologyParameter(
  name: string,
  args: ResolvedClusterArgs,
  topology: pulumi.Output<Topology>,
  parent: pulumi.Resource,
): aws.ssm.Parameter {
  return new aws.ssm.Parameter(
    childName(name, "topology"),
    {
      name: parameterNames(args.ssmParameterPrefix, args.clusterName).topology,
      type: "String",
      tier: "Standard",
      // insecureValue: not secret, so a preview shows what changed in it.
      insecureValue: topology.apply(topologyValue),
      description: `Topology of HA PostgreSQL ${args.clusterName}: hosts, fixed IPs, revisions, etcd members`,
      tags: resourceTags(args.tags, args.clusterName),
    },
    { parent },
  );
}
