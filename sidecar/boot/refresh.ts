/**
 * `hapg node-init --plan FILE --refresh` (defect 11: a renewed certificate never reached a running
 * node). Run periodically as root by a timer: fetches the plan's parameters again, rewrites only the
 * files whose value changed (atomically, mode and owner set before any byte, like node-init), then
 * reloads the units the plan names. The agent reloads what reads its own TLS files by itself
 * (../api/tls-reload.ts: the API's TLS context, and PostgreSQL's ssl files by a reload).
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { NodeInitError, parseNodeInitPlan, systemDeps, writePrivate, type NodeInitDeps } from "./node-init";
import type { NodeInitPlan } from "./plan";

export interface RefreshDeps extends NodeInitDeps {
  reloadUnit(unit: string): Promise<void>;
}

const systemctlReload = (unit: string) =>
  new Promise<void>((resolve, reject) =>
    execFile("systemctl", ["reload-or-restart", unit], { timeout: 60_000 }, (err, _o, errOut) =>
      err ? reject(new Error(`systemctl reload-or-restart ${unit}: ${errOut.trim() || err.message}`)) : resolve(),
    ),
  );

export const systemRefreshDeps: RefreshDeps = { ...systemDeps, reloadUnit: systemctlReload };

const current = (path: string) => {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
};

/** Rewrites changed files, then reloads. The agent config is not rewritten (a new one comes with a new instance). */
export async function refresh(plan: NodeInitPlan, deps: RefreshDeps): Promise<{ changed: string[]; reloaded: string[] }> {
  const region = plan.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  const values = new Map<string, string>();
  const changed: string[] = [];
  for (const f of plan.files) {
    const key = `${f.region ?? region ?? ""} ${f.parameter}`;
    if (!values.has(key)) values.set(key, await deps.readParameter(f.parameter, f.region ?? region));
    const value = values.get(key) ?? "";
    // An empty parameter is a mistake upstream: keep the working file rather than break its readers.
    if (value === "") throw new NodeInitError(`SSM parameter ${f.parameter}: is empty (kept ${f.path} as it is)`);
    const content = value.endsWith("\n") ? value : `${value}\n`;
    if (current(f.path) === content) continue;
    writePrivate(f.path, content, parseInt(f.mode, 8), deps.lookupUser(f.owner));
    changed.push(f.path);
  }
  const reloaded: string[] = [];
  if (changed.length) {
    deps.log(`refreshed ${changed.join(", ")}`);
    for (const unit of plan.refresh?.reloadUnits ?? []) {
      await deps.reloadUnit(unit);
      reloaded.push(unit);
    }
  }
  return { changed, reloaded };
}

export async function runRefresh(
  planFile: string,
  deps: RefreshDeps = systemRefreshDeps,
): Promise<{ changed: string[]; reloaded: string[] }> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(planFile, "utf8"));
  } catch (e) {
    throw new NodeInitError(`${planFile}: cannot read the node-init plan (${(e as Error).message})`);
  }
  return refresh(parseNodeInitPlan(raw), deps);
}
