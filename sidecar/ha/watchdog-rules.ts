/**
 * Rows W1–W3 of docs/ha-states.md: what the watchdog changes in a decision. Pure. Applied to every
 * decision `decide` takes, after the row that matched, because the rule is the same for all of them:
 * - W1: with mode "required", a member whose watchdog cannot be armed never takes or keeps leadership;
 * - W2: the watchdog is armed before PostgreSQL may become writable (bootstrap, promote,
 *   startPrimary), and at once by a running leader that is not armed (an agent restarted under it);
 * - W3: it is disarmed once PostgreSQL can no longer take writes: right after the `demote`/`fence`
 *   that stops it, or first when it is not running as primary.
 */
import type { Action, Decision, HaInput, WatchdogView } from "./types";

/** Actions that take or keep leadership, or make PostgreSQL writable. */
const LEADING = new Set<Action["type"]>(["claimInitialize", "bootstrap", "acquireLeader", "updateLeader", "promote", "startPrimary"]);
/** The first of these gets the watchdog armed before it. */
const WRITABLE = new Set<Action["type"]>(["bootstrap", "promote", "startPrimary"]);
const STOPS = new Set<Action["type"]>(["demote", "fence", "stopForHandOver", "stopForStandby"]);

/** Mode "required" and the watchdog cannot be armed: this member refuses leadership (Patroni's `watchdog_failed`). */
export function watchdogFailed(wd: WatchdogView | undefined): boolean {
  return wd?.mode === "required" && !wd.usable;
}

export function withWatchdog(input: HaInput, d: Decision): Decision {
  const wd = input.watchdog;
  if (!wd || wd.mode === "off") return d;
  const pg = input.local.pg;
  const primary = pg.running && pg.inRecovery === false;
  const stopAt = d.actions.findIndex((a) => STOPS.has(a.type));
  const leads = d.actions.some((a) => LEADING.has(a.type)) || (primary && stopAt < 0 && (d.role === "leader" || d.role === "candidate"));

  if (leads && watchdogFailed(wd)) {
    const ours = input.cluster?.leader?.name === input.self.name;
    const actions: Action[] = [...(primary ? [{ type: "demote" } as const] : []), ...(ours ? [{ type: "releaseLeader" } as const] : [])];
    const what = primary ? "stopping this primary" : ours ? "giving the leader key back" : "not taking the leader key";
    return {
      actions,
      reason: `watchdog.mode is required but the watchdog cannot be armed (${wd.problem ?? "unknown"}): ${what} instead of: ${d.reason}`,
      role: d.role === "leader" || d.role === "candidate" ? "replica" : d.role,
    };
  }
  if (leads && wd.usable && !wd.armed) {
    const at = d.actions.findIndex((a) => WRITABLE.has(a.type));
    return insert(d, at < 0 ? 0 : at, { type: "armWatchdog" }, "arming the watchdog first");
  }
  if (!leads && wd.armed) {
    if (stopAt >= 0) return insert(d, stopAt + 1, { type: "disarmWatchdog" }, "then disarming the watchdog");
    if (!primary) return insert(d, 0, { type: "disarmWatchdog" }, "disarming the watchdog (not leading)");
  }
  return d;
}

function insert(d: Decision, at: number, action: Action, note: string): Decision {
  return { ...d, actions: [...d.actions.slice(0, at), action, ...d.actions.slice(at)], reason: `${d.reason}; ${note}` };
}
