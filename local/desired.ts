/**
 * `hapg local up --desired-config FILE`: the local stand-in for the SSM parameter `pulumi up`
 * publishes. FILE (JSON or YAML, Patroni's layout) is checked, then copied to DIR/desired-config.json,
 * which every agent's config names; the leader reads it every second and converges etcd's config
 * key to it, with the same code as on AWS (sidecar/dynamic/). Edit DIR/desired-config.json to
 * change the running cluster.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { converge } from "../sidecar/dynamic/converge";
import { problemsText, type DynamicConfig } from "../sidecar/contract/settings/dynamic";
import { haSettingsSchema } from "../sidecar/contract/settings/schema";
import { localSettings, type LocalOptions } from "./layout";

export const DESIRED_CONFIG_FILE = "desired-config.json";
/** Seconds between two reads of the file by the leader (a file is cheap to read, unlike SSM). */
export const LOCAL_DESIRED_INTERVAL_S = 1;

export function desiredConfigPath(dir: string): string {
  return path.join(dir, DESIRED_CONFIG_FILE);
}

/** FILE's document, or the problem (naming --desired-config and the field). Reads FILE only. */
export function readDesiredConfigFlag(
  file: string,
  o: Pick<LocalOptions, "ttl" | "loopWait" | "retryTimeout" | "synchronousMode" | "synchronousQuorum">,
): { doc?: DynamicConfig; problem?: string } {
  let doc: unknown;
  try {
    doc = parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    return { problem: `--desired-config: cannot read ${file}: ${(e as Error).message.split("\n")[0]}` };
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    return {
      problem: `--desired-config: ${file} must hold an object such as {"loop_wait": 1, "postgresql": {"parameters": {"work_mem": "8MB"}}}`,
    };
  }
  // The same check the leader makes: every value must be accepted by the settings schema.
  const r = converge({}, doc as DynamicConfig, haSettingsSchema.parse(localSettings(o)));
  if (r.refused.length) return { problem: `--desired-config: ${file}: ${problemsText(r.refused)}` };
  return { doc: doc as DynamicConfig };
}

/** Writes DIR/desired-config.json (0644: not secret, and the agents may run as the service user). */
export function writeDesiredConfig(dir: string, doc: DynamicConfig, owner?: { uid: number; gid: number }): void {
  const file = desiredConfigPath(dir);
  fs.writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`, { mode: 0o644 });
  if (owner) fs.chownSync(file, owner.uid, owner.gid);
}
