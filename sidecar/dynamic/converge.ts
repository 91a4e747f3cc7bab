/**
 * Converging etcd's `config` key to a desired document (the one `pulumi up` publishes, or a local
 * file): desired keys win, keys the desired document does not name are left alone (an operator's
 * `hapg edit-config` of another key stays). Each desired value is checked by the settings schema
 * (through ./../settings/dynamic.ts); a refused one is reported and the current value kept. Pure.
 */
import { effectiveSettings, type DynamicConfig, type DynamicProblem } from "../contract/settings/dynamic";
import type { HaSettings } from "../contract/settings/schema";

export interface Convergence {
  /** The document to write (equal to the current one when nothing changed). */
  next: DynamicConfig;
  changed: boolean;
  /** Fields whose value changed, dotted (`ttl`, `postgresql.parameters.work_mem`). */
  applied: string[];
  /** Desired values refused, with the schema's message; the current value stays. */
  refused: DynamicProblem[];
}

interface Leaf {
  field: string;
  value: unknown;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** A desired document's leaves: top-level values, and each PostgreSQL parameter on its own. */
function leavesOf(desired: DynamicConfig): { leaves: Leaf[]; refused: DynamicProblem[] } {
  const leaves: Leaf[] = [];
  const refused: DynamicProblem[] = [];
  for (const [k, v] of Object.entries(desired)) {
    if (k === "pause") {
      refused.push({ field: k, message: "maintenance mode is an operator's switch, not a desired setting: use hapg pause / hapg resume" });
    } else if (k === "postgresql" && isObject(v) && Object.keys(v).every((x) => x === "parameters") && isObject(v.parameters ?? {})) {
      for (const [name, value] of Object.entries((v.parameters ?? {}) as Record<string, unknown>)) {
        leaves.push({ field: `postgresql.parameters.${name}`, value });
      }
    } else {
      leaves.push({ field: k, value: v });
    }
  }
  return { leaves, refused };
}

function getAt(doc: DynamicConfig, field: string): unknown {
  return field.split(".").reduce<unknown>((o, k) => (isObject(o) ? o[k] : undefined), doc);
}

function setAt(doc: DynamicConfig, field: string, value: unknown): DynamicConfig {
  const [head, ...rest] = field.split(".");
  if (rest.length === 0) return { ...doc, [head]: value };
  const inner = isObject(doc[head]) ? (doc[head] as DynamicConfig) : {};
  return { ...doc, [head]: setAt(inner, rest.join("."), value) };
}

const key = (p: DynamicProblem) => `${p.field}\u0000${p.message}`;

function problemsOf(base: HaSettings, doc: DynamicConfig): DynamicProblem[] {
  const r = effectiveSettings(base, doc);
  return r.ok ? [] : r.problems;
}

/** The problems `doc` has that `before` did not (a value is only refused for what it adds). */
function added(base: HaSettings, before: DynamicConfig, doc: DynamicConfig): DynamicProblem[] {
  const had = new Set(problemsOf(base, before).map(key));
  return problemsOf(base, doc).filter((p) => !had.has(key(p)));
}

export function converge(current: DynamicConfig, desired: DynamicConfig, base: HaSettings): Convergence {
  const { leaves, refused } = leavesOf(desired);
  const all = leaves.reduce((doc, l) => setAt(doc, l.field, l.value), current);
  let next: DynamicConfig;
  if (added(base, current, all).length === 0) next = all;
  else {
    // Not all at once: take each value that the schema accepts on top of what was taken so far.
    next = current;
    for (const l of leaves) {
      const candidate = setAt(next, l.field, l.value);
      const problems = added(base, next, candidate);
      if (problems.length === 0) next = candidate;
      else
        refused.push(
          ...problems.map((p) => ({
            field: l.field,
            message: p.field === l.field || p.field.startsWith(`${l.field} (`) ? p.message : `${p.field}: ${p.message}`,
          })),
        );
    }
  }
  const applied = leaves
    .filter((l) => JSON.stringify(getAt(current, l.field)) !== JSON.stringify(getAt(next, l.field)))
    .map((l) => l.field);
  return { next, changed: applied.length > 0, applied, refused };
}
