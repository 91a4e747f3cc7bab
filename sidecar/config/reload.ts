/**
 * What POST /reload applies from a re-read agent config: the PostgreSQL parameters (written to
 * postgresql.conf and re-read by PostgreSQL; those that need a restart then show as pending_restart).
 * Everything else in the file is read at the agent's start only. Pure.
 */
import type { ParamValue } from "../contract/settings/parameters";
import type { AgentConfig } from "../contract/agent-config";

export interface ReloadPlan {
  /** The parameters to run on, when they changed. */
  parameters?: Record<string, ParamValue>;
  /** What changes, e.g. "postgres.parameters.work_mem". */
  applied: string[];
  /** Top-level sections that changed but need an agent restart. */
  needAgentRestart: string[];
}

export function reloadPlan(current: AgentConfig, fresh: AgentConfig): ReloadPlan {
  const before = current.postgres.parameters;
  const after = fresh.postgres.parameters;
  const names = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  const applied = names.filter((n) => before[n] !== after[n]).map((n) => `postgres.parameters.${n}`);
  const needAgentRestart = (Object.keys(fresh) as (keyof AgentConfig)[])
    .filter((k) => k !== "postgres" && JSON.stringify(current[k]) !== JSON.stringify(fresh[k]))
    .map(String);
  const { parameters: p1, ...pgBefore } = current.postgres;
  const { parameters: p2, ...pgAfter } = fresh.postgres;
  void p1;
  void p2;
  if (JSON.stringify(pgBefore) !== JSON.stringify(pgAfter)) needAgentRestart.unshift("postgres (other than parameters)");
  return { ...(applied.length ? { parameters: { ...after } } : {}), applied, needAgentRestart };
}
