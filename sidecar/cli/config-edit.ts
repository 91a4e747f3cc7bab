/**
 * The pure parts of `hapg edit-config`: `--set KEY=VALUE` / `--pg NAME=VALUE` into a PATCH body (as
 * patronictl reads them: the value is a YAML scalar, so `2` is a number, `true` a boolean and `null`
 * removes the key), and the line diff shown before asking.
 */
import { parse, stringify } from "yaml";
import { mergePatch, type DynamicConfig } from "../contract/settings/dynamic";

/** A refused flag: the CLI prints it and exits 2, having changed nothing. */
export class FlagError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FlagError";
  }
}

const KEY = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_.]*)?$/;

function assignment(flag: string, text: string): [string, unknown] {
  const eq = text.indexOf("=");
  const example = flag === "--pg" ? "--pg work_mem=8MB" : "--set loop_wait=2";
  if (eq <= 0) throw new FlagError(`${flag} "${text}": write NAME=VALUE, e.g. ${example}`);
  const key = text.slice(0, eq).trim();
  const raw = text.slice(eq + 1);
  if (!KEY.test(key)) throw new FlagError(`${flag} "${text}": "${key}" is not a key name, e.g. ${example}`);
  let value: unknown;
  try {
    value = raw.trim() === "" ? null : parse(raw);
  } catch {
    value = raw; // not a YAML scalar: the text itself
  }
  if (typeof value === "object" && value !== null)
    throw new FlagError(`${flag} "${text}": the value must be a single value, not a list or map`);
  return [key, value];
}

/** The PATCH body for the flags; throws FlagError naming the flag. */
export function patchFromFlags(sets: string[], pgs: string[]): DynamicConfig {
  let patch: DynamicConfig = {};
  const put = (path: string[], value: unknown) => {
    const nested = path.reduceRight<unknown>((v, k) => ({ [k]: v }), value) as DynamicConfig;
    patch = mergeKeepingNulls(patch, nested);
  };
  for (const s of sets) {
    const [key, value] = assignment("--set", s);
    // postgresql.parameters.NAME: the parameter name may itself contain dots (custom options such as auto_explain.log_min_duration).
    const m = /^postgresql\.parameters\.(.+)$/.exec(key);
    put(m ? ["postgresql", "parameters", m[1]] : key.split("."), value);
  }
  for (const p of pgs) {
    const [name, value] = assignment("--pg", p);
    put(["postgresql", "parameters", name], value);
  }
  return patch;
}

/** mergePatch, but a null stays in the patch (it means "delete" when the patch is applied). */
function mergeKeepingNulls(a: DynamicConfig, b: DynamicConfig): DynamicConfig {
  const out: DynamicConfig = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    const obj = (x: unknown): x is DynamicConfig => typeof x === "object" && x !== null && !Array.isArray(x);
    out[k] = obj(v) && obj(cur) ? mergeKeepingNulls(cur, v) : v;
  }
  return out;
}

/** The document the server will hold after the patch (for the diff). */
export function previewPatch(current: DynamicConfig, patch: DynamicConfig): DynamicConfig {
  return mergePatch(current, patch);
}

/** A line diff of the two documents as YAML: "-" removed, "+" added, " " kept (LCS, small documents). */
export function configDiff(before: DynamicConfig, after: DynamicConfig): string[] {
  const a = Object.keys(before).length ? stringify(before).trimEnd().split("\n") : [];
  const b = Object.keys(after).length ? stringify(after).trimEnd().split("\n") : [];
  const n = a.length;
  const m = b.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--) lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      out.push(` ${a[i++]}`);
      j++;
    } else if (i < n && (j >= m || lcs[i + 1][j] >= lcs[i][j + 1])) out.push(`-${a[i++]}`);
    else out.push(`+${b[j++]}`);
  }
  return out;
}
