/**
 * Row OP1 (docs/ha-states.md "Operator commands"): while an operator's restart or reinitialize runs
 * on this member, the HA loop leaves PostgreSQL alone. Pure.
 *
 * A planned restart is not a crash: the leader keeps its key (its lease is renewed by its own timer,
 * apart from the loop) and nobody fails over; the restart itself starts the server again as the
 * primary only while that lease is valid (RestartOptions.mayStartPrimary). Fencing (row F1) is
 * checked before this row and still applies to a primary that runs; replicas see the leader key and
 * never race for it.
 */
import type { Decision, HaInput } from "./types";

export function operationRow(input: HaInput): Decision | undefined {
  const op = input.local.operation;
  if (!op) return undefined;
  const leads = input.cluster?.leader?.name === input.self.name;
  const what = op === "restart" ? "a requested restart" : "a requested reinitialize (base backup from the leader)";
  return {
    actions: [],
    reason: leads
      ? `${what} is in progress: keeping the leader key under the renewed lease; no failover for a planned restart`
      : `${what} is in progress: leaving PostgreSQL to it`,
    role: leads ? "leader" : "replica",
  };
}
