/**
 * Stack config → component args, for the root Pulumi program (`index.ts`). Every arg has a flat
 * key under the project namespace, so `pulumi config set ha-postgres:nodeCount 5` overrides one
 * parameter per stack. Unset keys keep the component's defaults; a misspelt key is an error.
 * The keys of the HA settings come from their schema (settingKeys): a new setting is a new key.
 */
import * as pulumi from "@pulumi/pulumi";
import { EgressMode, EtcdPlacement, HaPostgresClusterArgs, Routing, VolumeType } from "../args/types";
import { haSettingsSchema } from "../../sidecar/contract/settings/schema";
import type { BootstrapArgs } from "../args/bootstrap";

export const CONFIG_NAMESPACE = "ha-postgres";

/** How a setting is read from stack config: Pulumi's getNumber, getBoolean, get or getObject. */
export type SettingKind = "number" | "integer" | "boolean" | "string" | "object" | "string-or-object";

export interface SettingKey {
  /** The flat stack-config key, e.g. "ttl", "maximumLagOnFailover", "postgresParameters". */
  key: string;
  /** The path of the arg it sets, e.g. ["timing", "ttl"]. */
  path: string[];
  kind: SettingKind;
}

interface ZodLike {
  _zod: { def: { type: string; innerType?: ZodLike } };
  shape?: Record<string, ZodLike>;
  isInt?: boolean;
}

function kindOf(schema: ZodLike): SettingKind | "group" {
  let t = schema;
  while (t._zod.def.innerType && ["default", "prefault", "optional"].includes(t._zod.def.type)) t = t._zod.def.innerType;
  switch (t._zod.def.type) {
    case "object":
      return "group";
    case "number":
      return t.isInt ? "integer" : "number";
    case "boolean":
      return "boolean";
    case "string":
    case "enum":
      return "string";
    case "record":
      return "object";
    case "pipe":
      // A setting with a shorthand (watchdog: "required" or { mode, safetyMargin }).
      return "string-or-object";
    default:
      throw new Error(`stack config: no reader for a setting of zod type ${t._zod.def.type}`);
  }
}

function unwrapObject(schema: ZodLike): Record<string, ZodLike> {
  let t = schema;
  while (t._zod.def.innerType) t = t._zod.def.innerType;
  return t.shape ?? {};
}

/**
 * Every HA setting as a stack-config key, walked from the settings schema: the path joined in
 * camelCase (postgres.parameters → postgresParameters), except the timing group, whose settings keep
 * their own (Patroni's) names: ttl, loopWait, retryTimeout.
 */
export function settingKeys(): SettingKey[] {
  const out: SettingKey[] = [];
  const walk = (shape: Record<string, ZodLike>, path: string[]) => {
    for (const [name, schema] of Object.entries(shape)) {
      const kind = kindOf(schema);
      if (kind === "group") {
        walk(unwrapObject(schema), [...path, name]);
        continue;
      }
      const keyPath = [...path, name].filter((p, i) => !(i === 0 && p === "timing"));
      const key = keyPath.map((p, i) => (i === 0 ? p : p[0].toUpperCase() + p.slice(1))).join("");
      out.push({ key, path: [...path, name], kind });
    }
  };
  walk(haSettingsSchema.shape as unknown as Record<string, ZodLike>, []);
  return out;
}

const SETTING_KEYS = settingKeys();

/** Every key the root program reads, with the arg it sets. */
export const STACK_CONFIG_KEYS: Readonly<Record<string, string>> = {
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
  ssmParameterPrefix: "ssmParameterPrefix",
  tags: "tags (JSON object)",
  bootstrap: "bootstrap (JSON object: fromBackup and a target)",
  backupEnabled: "backup.enabled",
  backupBucketName: "backup.bucketName",
  backupPrefix: "backup.prefix",
  backupKmsKeyArn: "backup.kmsKeyArn",
  backupForceDestroy: "backup.forceDestroy",
  ...Object.fromEntries(SETTING_KEYS.map((s) => [s.key, s.path.join(".") + (s.kind === "object" ? " (JSON object)" : "")])),
};

function readSetting(config: pulumi.Config, s: SettingKey): unknown {
  switch (s.kind) {
    case "number":
    case "integer":
      return config.getNumber(s.key);
    case "boolean":
      return config.getBoolean(s.key);
    case "string":
      return config.get(s.key);
    case "object":
      return config.getObject(s.key);
    case "string-or-object": {
      const raw = config.get(s.key);
      return raw !== undefined && raw.trim().startsWith("{") ? config.getObject(s.key) : raw;
    }
  }
}

/** The HA settings set in stack config, nested as the args take them. */
function settingsFromStackConfig(config: pulumi.Config): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const s of SETTING_KEYS) {
    const value = readSetting(config, s);
    if (value === undefined) continue;
    let at = out;
    for (const p of s.path.slice(0, -1)) at = (at[p] ??= {}) as Record<string, unknown>;
    at[s.path[s.path.length - 1]] = value;
  }
  return out;
}

/** Drops undefined fields and empty sub-objects, so unset config keeps the component's defaults. */
function compact<T extends object>(o: T): T | undefined {
  const entries = Object.entries(o).filter(
    ([, v]) => v !== undefined && !(typeof v === "object" && v !== null && !Array.isArray(v) && Object.keys(v).length === 0),
  );
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
    throw new Error(
      `stack config: ${unknown.map((k) => `${config.name}:${k}`).join(", ")}: not a setting of the cluster: fix the spelling or remove it (known: ${[...known].join(", ")})`,
    );
  }
  const dataVolume = compact({
    sizeGiB: config.getNumber("dataVolumeSizeGiB"),
    type: config.get("dataVolumeType") as VolumeType | undefined,
    iops: config.getNumber("dataVolumeIops"),
    throughputMiBps: config.getNumber("dataVolumeThroughputMiBps"),
  });
  const etcdVolumeSize = config.getNumber("etcdVolumeSizeGiB");
  const { postgres: pgSettings, ...settings } = settingsFromStackConfig(config);
  return (
    compact<HaPostgresClusterArgs>({
      ...(settings as HaPostgresClusterArgs),
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
      postgres: compact({ version: config.getNumber("postgresVersion"), ...(pgSettings as object) }),
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
      ssmParameterPrefix: config.get("ssmParameterPrefix"),
      backup: compact({
        enabled: config.getBoolean("backupEnabled"),
        bucketName: config.get("backupBucketName"),
        prefix: config.get("backupPrefix"),
        kmsKeyArn: config.get("backupKmsKeyArn"),
        forceDestroy: config.getBoolean("backupForceDestroy"),
      }),
      tags: config.getObject<Record<string, string>>("tags"),
      bootstrap: config.getObject<BootstrapArgs>("bootstrap"),
    }) ?? {}
  );
}
