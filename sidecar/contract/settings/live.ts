/**
 * When a change to each dynamic setting (etcd's `config` key) takes effect on a running member: the
 * one table the agent's live overlay (DynamicConfigApplier.self), its pending lists (/patroni's
 * pending_agent_restart), the API's mutation rules and the documentation's table all come from. Pure.
 */
import { DYNAMIC_KEYS } from "./dynamic";
import type { DynamicSettings } from "./dynamic";
import type { HaSettings } from "./schema";

/**
 * - next-loop: the next HA loop runs on it;
 * - agent-restart: the agent takes it when it starts (until then /patroni lists it in pending_agent_restart);
 * - postgres: written and reloaded at the next loop; a parameter PostgreSQL reads only at start waits
 *   for PostgreSQL's restart (pending_restart).
 */
export type AppliesAt = "next-loop" | "agent-restart" | "postgres";

/** The settings the decision and the API's rules read at every loop: the live overlay on a member's own config. */
export type LiveSettings = Pick<DynamicSettings, "maximumLagOnFailover" | "synchronousMode" | "synchronousQuorum" | "standbyCluster">;

export interface LiveSettingRule {
  /** The dynamic key, as in etcd. */
  key: (typeof DYNAMIC_KEYS)[number];
  /** The setting of the schema it stands for. */
  setting: string;
  appliesAt: AppliesAt;
  /** The field of LiveSettings it feeds (next-loop settings the decision reads). */
  live?: keyof LiveSettings;
  /** Its value in a member's settings (agent-restart settings: compared with what the agent started with). */
  value?: (s: HaSettings) => unknown;
  /** Why it applies then (the documentation's last column). */
  why: string;
}

export const LIVE_SETTING_RULES: readonly LiveSettingRule[] = [
  {
    key: "maximum_lag_on_failover",
    setting: "maximumLagOnFailover",
    appliesAt: "next-loop",
    live: "maximumLagOnFailover",
    why: "the next decision and the next switchover request check it",
  },
  {
    key: "synchronous_mode",
    setting: "synchronousMode",
    appliesAt: "next-loop",
    live: "synchronousMode",
    why: "the leader sets synchronous_standby_names at its next loop",
  },
  {
    key: "synchronous_mode_strict",
    setting: "synchronousMode",
    appliesAt: "next-loop",
    live: "synchronousMode",
    why: 'Patroni\'s spelling of synchronous_mode "strict"',
  },
  {
    key: "synchronous_node_count",
    setting: "synchronousQuorum",
    appliesAt: "next-loop",
    live: "synchronousQuorum",
    why: "the leader's next loop sizes the quorum with it",
  },
  {
    key: "standby_cluster",
    setting: "(standby cluster)",
    appliesAt: "next-loop",
    live: "standbyCluster",
    why: "the next loop follows the source (the standby leader points primary_conninfo and restore_command at it, by reload); removed, the standby leader promotes",
  },
  { key: "pause", setting: "(maintenance mode)", appliesAt: "next-loop", why: "the next loop stops (or resumes) acting on PostgreSQL" },
  {
    key: "loop_wait",
    setting: "timing.loopWait",
    appliesAt: "next-loop",
    value: (s) => s.timing.loopWait,
    why: "the next loop waits that long, if the timing stays valid with the ttl and retry_timeout the agent started with; otherwise at the agent's restart",
  },
  {
    key: "ttl",
    setting: "timing.ttl",
    appliesAt: "agent-restart",
    value: (s) => s.timing.ttl,
    why: "etcd renews a lease with the TTL it was granted, and the fencing arithmetic depends on it",
  },
  {
    key: "retry_timeout",
    setting: "timing.retryTimeout",
    appliesAt: "agent-restart",
    value: (s) => s.timing.retryTimeout,
    why: "the etcd client's deadlines and the fencing arithmetic are set when the agent starts",
  },
  {
    key: "failsafe_mode",
    setting: "failsafeMode",
    appliesAt: "agent-restart",
    value: (s) => s.failsafeMode,
    why: "the failsafe keeper and the decision's view of the member are built with it at start",
  },
  {
    key: "postgresql",
    setting: "postgres.parameters",
    appliesAt: "postgres",
    why: "written and reloaded at the next loop; a parameter PostgreSQL reads only at start is listed in pending_restart until PostgreSQL restarts (hapg restart)",
  },
];

/** The next-loop settings of `s` the decision reads (the overlay on a member's own view). */
export function liveSettings(s: DynamicSettings): LiveSettings {
  const out: Partial<Record<keyof LiveSettings, unknown>> = {};
  for (const r of LIVE_SETTING_RULES) if (r.live && s[r.live] !== undefined) out[r.live] = s[r.live];
  return out as LiveSettings;
}

/** The agent-restart settings whose value in `now` differs from what the agent `started` with (dynamic keys). */
export function waitingForAgentRestart(now: HaSettings, started: HaSettings): string[] {
  return LIVE_SETTING_RULES.filter((r) => r.appliesAt === "agent-restart" && r.value)
    .filter((r) => JSON.stringify(r.value!(now)) !== JSON.stringify(r.value!(started)))
    .map((r) => r.key);
}

const WHEN: Record<AppliesAt, string> = {
  "next-loop": "next loop",
  "agent-restart": "agent's restart",
  postgres: "reload, or PostgreSQL's restart",
};

/** The documentation's table (docs/operations.md holds it as printed here; a test compares). */
export function liveSettingsTable(): string {
  const rows = LIVE_SETTING_RULES.map(
    (r) => `| \`${r.key}\` | ${r.setting.startsWith("(") ? r.setting : `\`${r.setting}\``} | ${WHEN[r.appliesAt]} | ${r.why} |`,
  );
  return ["| etcd key | setting | applies at | why |", "| --- | --- | --- | --- |", ...rows].join("\n");
}
