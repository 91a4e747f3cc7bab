/**
 * Stack config → component args, for the root Pulumi program (`index.ts`). Every arg has a flat
 * key under the project namespace, so `pulumi config set ha-postgres:nodeCount 5` overrides one
 * parameter per stack. Unset keys keep the component's defaults; a misspelt key is an error.
 */
import * as pulumi from "@pulumi/pulumi";
import { EgressMode, EtcdPlacement, HaPostgresClusterArgs, Routing, VolumeType, WatchdogMode } from "../args/types";

export const CONFIG_NAMESPACE = "ha-postgres";

/** Every key the root program reads, with the arg it sets. */
export const STACK_CONFIG_KEYS = {
  clusterName: "clusterName",
  vpcId: "vpcId",
  subnetIds: "subnetIds (JSON list)",
  nodeCount: "nodeCount",
  instanceType: "instanceType",
  architecture: "architecture",
  amiId: "amiId",
  egress: "egress",
  sshKeyName: "sshKeyName",
  sessionManager: "sessionManager",
  postgresVersion: "postgres.version",
  postgresParameters: "postgres.parameters (JSON object)",
  dataVolumeSizeGiB: "dataVolume.sizeGiB",
  dataVolumeType: "dataVolume.type",
  dataVolumeIops: "dataVolume.iops",
  dataVolumeThroughputMiBps: "dataVolume.throughputMiBps",
  kmsKeyId: "kmsKeyId",
  etcdMembers: "etcd.members",
  etcdPlacement: "etcd.placement",
  etcdInstanceType: "etcd.instanceType",
  etcdVolumeSizeGiB: "etcd.dataVolume.sizeGiB",
  routing: "routing",
  primaryPort: "listenerPorts.primary",
  replicaPort: "listenerPorts.replica",
  publicLoadBalancer: "publicLoadBalancer",
  allowedCidrs: "allowedCidrs (JSON list)",
  allowedSecurityGroupIds: "allowedSecurityGroupIds (JSON list)",
  ttl: "timing.ttl",
  loopWait: "timing.loopWait",
  retryTimeout: "timing.retryTimeout",
  maximumLagOnFailover: "maximumLagOnFailover",
  synchronousMode: "synchronousMode",
  synchronousModeStrict: "synchronousModeStrict",
  watchdog: "watchdog",
  ssmParameterPrefix: "ssmParameterPrefix",
  tags: "tags (JSON object)",
} as const;

/** Drops undefined fields and empty sub-objects, so unset config keeps the component's defaults. */
function compact<T extends object>(o: T): T | undefined {
  const entries = Object.entries(o).filter(([, v]) => v !== undefined && !(typeof v === "object" && v !== null && !Array.isArray(v) && Object.keys(v).length === 0));
  return entries.length ? (Object.fromEntries(entries) as T) : undefined;
}

/** Reads the args from stack config. Throws on a key of this namespace that is not an arg. */
export function argsFromStackConfig(config: pulumi.Config = new pulumi.Config(CONFIG_NAMESPACE)): HaPostgresClusterArgs {
  const known = new Set(Object.keys(STACK_CONFIG_KEYS));
  const unknown = Object.keys(pulumi.runtime.allConfig())
    .filter((k) => k.startsWith(`${config.name}:`))
    .map((k) => k.slice(config.name.length + 1))
    .filter((k) => !known.has(k));
  if (unknown.length) {
    throw new Error(`stack config: ${unknown.map((k) => `${config.name}:${k}`).join(", ")}: not a setting of the cluster: fix the spelling or remove it (known: ${[...known].join(", ")})`);
  }
  const dataVolume = compact({
    sizeGiB: config.getNumber("dataVolumeSizeGiB"),
    type: config.get("dataVolumeType") as VolumeType | undefined,
    iops: config.getNumber("dataVolumeIops"),
    throughputMiBps: config.getNumber("dataVolumeThroughputMiBps"),
  });
  const etcdVolumeSize = config.getNumber("etcdVolumeSizeGiB");
  return (
    compact<HaPostgresClusterArgs>({
      clusterName: config.get("clusterName"),
      vpcId: config.get("vpcId"),
      subnetIds: config.getObject<string[]>("subnetIds"),
      nodeCount: config.getNumber("nodeCount"),
      instanceType: config.get("instanceType"),
      architecture: config.get("architecture") as "x86_64" | "arm64" | undefined,
      amiId: config.get("amiId"),
      egress: config.get("egress") as EgressMode | undefined,
      sshKeyName: config.get("sshKeyName"),
      sessionManager: config.getBoolean("sessionManager"),
      postgres: compact({ version: config.getNumber("postgresVersion"), parameters: config.getObject<Record<string, string | number | boolean>>("postgresParameters") }),
      dataVolume,
      kmsKeyId: config.get("kmsKeyId"),
      etcd: compact({
        members: config.getNumber("etcdMembers"),
        placement: config.get("etcdPlacement") as EtcdPlacement | undefined,
        instanceType: config.get("etcdInstanceType"),
        dataVolume: etcdVolumeSize !== undefined ? { sizeGiB: etcdVolumeSize } : undefined,
      }),
      routing: config.get("routing") as Routing | undefined,
      listenerPorts: compact({ primary: config.getNumber("primaryPort"), replica: config.getNumber("replicaPort") }),
      publicLoadBalancer: config.getBoolean("publicLoadBalancer"),
      allowedCidrs: config.getObject<string[]>("allowedCidrs"),
      allowedSecurityGroupIds: config.getObject<string[]>("allowedSecurityGroupIds"),
      timing: compact({ ttl: config.getNumber("ttl"), loopWait: config.getNumber("loopWait"), retryTimeout: config.getNumber("retryTimeout") }),
      maximumLagOnFailover: config.getNumber("maximumLagOnFailover"),
      synchronousMode: config.getBoolean("synchronousMode"),
      synchronousModeStrict: config.getBoolean("synchronousModeStrict"),
      watchdog: config.get("watchdog") as WatchdogMode | undefined,
      ssmParameterPrefix: config.get("ssmParameterPrefix"),
      tags: config.getObject<Record<string, string>>("tags"),
    }) ?? {}
  );
}
