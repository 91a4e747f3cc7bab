/**
 * The desired dynamic configuration: the HA settings a running cluster may change without a new
 * node (PostgreSQL parameters, timing, lag limit, synchronous mode), published as one non-secret
 * SSM parameter (String, JSON in Patroni's `config` layout). The instance role may read it; its name
 * is in every node's agent config; the leader converges etcd's `config` key to it
 * (sidecar/dynamic/). The nodes' user-data does not hold these values, so changing them in the
 * component's args changes this parameter's value and nothing else: `pulumi up` replaces no node.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { ResolvedClusterArgs } from "../args/types";
import { childName, parameterNames, resourceTags } from "../naming/names";
import { dynamicFromSettings, type DynamicConfig } from "../../sidecar/contract/settings/dynamic";
import type { HaSettings } from "../../sidecar/contract/settings/schema";
import { ssmTierFor } from "./ssm-tier";

/** The document the leader converges etcd's config key to. Pure. */
export function desiredConfigDocument(settings: HaSettings): DynamicConfig {
  return dynamicFromSettings(settings);
}

/** The parameter's value: the document as JSON. Pure. */
export function desiredConfigValue(settings: HaSettings): string {
  return JSON.stringify(desiredConfigDocument(settings));
}

export function createDesiredConfigParameter(name: string, args: ResolvedClusterArgs, parent: pulumi.Resource): aws.ssm.Parameter {
  const value = desiredConfigValue(args.settings);
  return new aws.ssm.Parameter(
    childName(name, "dynamic-config"),
    {
      name: parameterNames(args.ssmParameterPrefix, args.clusterName).dynamicConfig,
      type: "String",
      description: `Desired dynamic configuration of HA PostgreSQL ${args.clusterName} (the leader applies it to etcd's config key)`,
      // insecureValue: not secret, so `pulumi preview` shows the change and the state keeps it readable.
      insecureValue: value,
      // Standard holds 4 KB; many PostgreSQL parameters need Advanced (8 KB; validation refuses more).
      tier: ssmTierFor(value) ?? "Advanced",
      tags: resourceTags(args.tags, args.clusterName),
    },
    // Advanced back to Standard replaces the parameter, under the same name: delete first.
    { parent, deleteBeforeReplace: true },
  );
}
