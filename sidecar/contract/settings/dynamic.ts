/**
 * The dynamic configuration: etcd's `config` key, in Patroni's layout —
 *   {"ttl": 4, "loop_wait": 1, "retry_timeout": 1.5, "maximum_lag_on_failover": 1048576,
 *    "synchronous_mode": "on", "postgresql": {"parameters": {...}}, "pause": true}
 * Pure. Its values are checked by the one settings schema (./schema.ts): a dynamic document is
 * turned into the HA settings it stands for, merged over a member's own settings (its agent file),
 * and `haSettingsSchema` decides; a refusal is reported on the dynamic field (e.g.
 * `postgresql.parameters.port`) with the schema's message.
 *
 * Precedence, as in Patroni: a value in the dynamic configuration wins over the agent file's, which
 * is the default; a parameter absent from both is PostgreSQL's own default.
 */
import type { ParamValue } from "./parameters";
import { haSettingsSchema, SYNCHRONOUS_MODES, type HaSettings, type SynchronousMode } from "./schema";
import { standbyClusterSchema, type StandbyCluster } from "./standby";

/** The dynamic document as stored (JSON object). */
export type DynamicConfig = Record<string, unknown>;

/** Top-level keys this agent understands; anything else is refused, naming the key. */
export const DYNAMIC_KEYS = [
  "ttl",
  "loop_wait",
  "retry_timeout",
  "maximum_lag_on_failover",
  "synchronous_mode",
  "synchronous_mode_strict",
  "synchronous_node_count",
  "failsafe_mode",
  "postgresql",
  "pause",
  "standby_cluster",
] as const;

/** Dynamic key → the setting of the schema it stands for (used to name both in messages). */
export const DYNAMIC_TO_SETTING: Readonly<Record<string, string>> = {
  ttl: "timing.ttl",
  loop_wait: "timing.loopWait",
  retry_timeout: "timing.retryTimeout",
  maximum_lag_on_failover: "maximumLagOnFailover",
  synchronous_mode: "synchronousMode",
  synchronous_node_count: "synchronousQuorum",
  failsafe_mode: "failsafeMode",
  "postgresql.parameters": "postgres.parameters",
};

export interface DynamicProblem {
  /** The dynamic field, dotted: `ttl`, `postgresql.parameters.shared_buffers`. */
  field: string;
  message: string;
}

/** `pause: true` is maintenance mode (Patroni's). */
export function isPausedConfig(config: DynamicConfig | undefined): boolean {
  return config?.pause === true;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Patroni's synchronous_mode is a boolean (plus synchronous_mode_strict); ours is "off" | "on" |
 * "strict". Both spellings are read; anything else is handed to the schema, which names the fix.
 */
function synchronousModeOf(c: DynamicConfig): unknown {
  const m = c.synchronous_mode;
  const strict = c.synchronous_mode_strict === true;
  if (m === true) return strict ? "strict" : "on";
  if (m === false) return "off";
  if (m === "on" && strict) return "strict";
  return m;
}

/** The shape problems the schema cannot name in dynamic terms (unknown keys, wrong containers). */
function shapeProblems(c: DynamicConfig): DynamicProblem[] {
  const problems: DynamicProblem[] = [];
  for (const key of Object.keys(c)) {
    if (!(DYNAMIC_KEYS as readonly string[]).includes(key)) {
      problems.push({ field: key, message: `unknown key: this cluster's dynamic configuration has ${DYNAMIC_KEYS.join(", ")}` });
    }
  }
  if (c.pause !== undefined && typeof c.pause !== "boolean") {
    problems.push({ field: "pause", message: "must be true or false (or null to remove it): maintenance mode is pause: true" });
  }
  if (c.synchronous_mode_strict !== undefined && typeof c.synchronous_mode_strict !== "boolean") {
    problems.push({ field: "synchronous_mode_strict", message: 'must be true or false (or use synchronous_mode: "strict")' });
  }
  if (c.postgresql !== undefined) {
    if (!isObject(c.postgresql)) problems.push({ field: "postgresql", message: 'must be an object such as {"parameters": {...}}' });
    else {
      for (const key of Object.keys(c.postgresql)) {
        if (key !== "parameters")
          problems.push({ field: `postgresql.${key}`, message: "unknown key: only postgresql.parameters is dynamic" });
      }
      const p = c.postgresql.parameters;
      if (p !== undefined && !isObject(p)) {
        problems.push({
          field: "postgresql.parameters",
          message: 'must be an object of parameter names to values, e.g. {"work_mem": "8MB"}',
        });
      }
      if (isObject(p)) {
        for (const [name, v] of Object.entries(p)) {
          if (!["string", "number", "boolean"].includes(typeof v)) {
            problems.push({ field: `postgresql.parameters.${name}`, message: "must be a string, number or boolean (null removes it)" });
          }
        }
      }
    }
  }
  return problems;
}

/** The parameters a dynamic document sets (empty when none). */
export function dynamicParameters(c: DynamicConfig | undefined): Record<string, ParamValue> {
  const pg = c?.postgresql;
  const p = isObject(pg) ? pg.parameters : undefined;
  return isObject(p) ? (p as Record<string, ParamValue>) : {};
}

/** The HA settings a dynamic document stands for, merged over `base` (a member's agent file). Unchecked. */
function mergedInput(base: HaSettings, c: DynamicConfig): Record<string, unknown> {
  const timing = { ...base.timing } as Record<string, unknown>;
  if (c.ttl !== undefined) timing.ttl = c.ttl;
  if (c.loop_wait !== undefined) timing.loopWait = c.loop_wait;
  if (c.retry_timeout !== undefined) timing.retryTimeout = c.retry_timeout;
  // Every setting of the base first, so a setting the dynamic document cannot name keeps the file's value.
  return {
    ...base,
    timing,
    maximumLagOnFailover: c.maximum_lag_on_failover ?? base.maximumLagOnFailover,
    synchronousQuorum: c.synchronous_node_count ?? base.synchronousQuorum,
    failsafeMode: c.failsafe_mode ?? base.failsafeMode,
    synchronousMode:
      c.synchronous_mode !== undefined || c.synchronous_mode_strict !== undefined ? synchronousModeOf(c) : base.synchronousMode,
    watchdog: base.watchdog,
    postgres: { ...base.postgres, parameters: { ...base.postgres.parameters, ...dynamicParameters(c) } },
  };
}

/** A schema path (timing.ttl, postgres.parameters.x) as the dynamic field it came from, naming the setting too. */
function dynamicField(path: PropertyKey[]): string {
  const dotted = path.map(String).join(".");
  for (const [dyn, setting] of Object.entries(DYNAMIC_TO_SETTING)) {
    if (dotted === setting) return `${dyn} (${setting})`;
    if (dotted.startsWith(`${setting}.`)) return `${dyn}${dotted.slice(setting.length)}`;
  }
  return dotted || "(document)";
}

/**
 * What a member runs on: the HA settings, and `standbyCluster` while etcd's config has
 * `standby_cluster` (dynamic only: an agent file never sets it, see ./standby.ts).
 */
export type DynamicSettings = HaSettings & { standbyCluster?: StandbyCluster };

export type EffectiveResult = { ok: true; settings: DynamicSettings } | { ok: false; problems: DynamicProblem[] };

/**
 * The settings a member runs on: its agent file's, with the dynamic document's values over them,
 * checked by the settings schema. Problems name the dynamic field and carry the schema's message.
 */
export function effectiveSettings(base: HaSettings, c: DynamicConfig | undefined): EffectiveResult {
  const doc = c ?? {};
  const shape = shapeProblems(doc);
  if (shape.length) return { ok: false, problems: shape };
  const parsed = haSettingsSchema.safeParse(mergedInput(base, doc));
  const problems = parsed.success ? [] : parsed.error.issues.map((i) => ({ field: dynamicField(i.path), message: i.message }));
  // Patroni's standby_cluster: checked by its own schema, named in Patroni's terms.
  const standby = doc.standby_cluster === undefined ? undefined : standbyClusterSchema.safeParse(doc.standby_cluster);
  if (standby && !standby.success) {
    for (const i of standby.error.issues)
      problems.push({ field: ["standby_cluster", ...i.path.map(String)].join("."), message: i.message });
  }
  if (problems.length || !parsed.success) return { ok: false, problems };
  return { ok: true, settings: standby?.success ? { ...parsed.data, standbyCluster: standby.data } : parsed.data };
}

/** One line per problem, `field: message`. */
export function problemsText(problems: DynamicProblem[]): string {
  return problems.map((p) => `${p.field}: ${p.message}`).join("; ");
}

/**
 * PATCH semantics (Patroni's): objects merge recursively, `null` deletes the key, anything else
 * replaces. Pure: returns a new document.
 */
export function mergePatch(current: DynamicConfig, patch: DynamicConfig): DynamicConfig {
  const out: DynamicConfig = { ...current };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else if (isObject(v) && isObject(out[k])) out[k] = mergePatch(out[k] as DynamicConfig, v);
    else if (isObject(v)) out[k] = mergePatch({}, v);
    else out[k] = v;
  }
  return out;
}

/** The dynamic document for a set of HA settings (what the component publishes as the desired config). */
export function dynamicFromSettings(
  s: Pick<HaSettings, "timing" | "maximumLagOnFailover" | "synchronousMode" | "synchronousQuorum" | "failsafeMode" | "postgres">,
): DynamicConfig {
  return {
    ttl: s.timing.ttl,
    loop_wait: s.timing.loopWait,
    retry_timeout: s.timing.retryTimeout,
    maximum_lag_on_failover: s.maximumLagOnFailover,
    synchronous_mode: s.synchronousMode,
    synchronous_node_count: s.synchronousQuorum,
    failsafe_mode: s.failsafeMode,
    postgresql: { parameters: { ...s.postgres.parameters } },
  };
}

export { SYNCHRONOUS_MODES, type SynchronousMode };
