/**
 * The HA settings, defined once: the component's args, the stack config, `hapg local` and the agent
 * config all embed these zod shapes and run `checkHaSettings`, so whatever the component accepts,
 * every node's agent accepts, with the same message naming the same path (e.g. `timing.ttl: ...`).
 *
 * A new setting is one entry here (with its default and rules), its consumer in the agent, and the
 * docs: it then reaches the component's args, the stack config and the agent config by itself.
 * Units: seconds and bytes as a user writes them; the agent runs on the milliseconds `resolveTiming`
 * (./timing.ts) derives once.
 */
import { z } from "zod";
import { backupPolicySchema } from "./backup";
import { parameterProblems, type ParamValue } from "./parameters";
import { MIN_TTL_S, timingProblems } from "./timing";

export const SYNCHRONOUS_MODES = ["off", "on", "strict", "quorum"] as const;
/**
 * "off": asynchronous replication. "on": a commit is acknowledged once one standby has it, and only
 * that standby may be promoted; with no standby, writes continue asynchronously. "strict": as "on",
 * but with no standby, writes block rather than go asynchronous. "quorum": a commit is acknowledged
 * once any `synchronousQuorum` of the streaming standbys have it (`ANY k (...)`), so one slow or
 * stopped standby does not slow commits; a standby may be promoted only once it has seen enough of
 * the others to know it has every acknowledged commit; with no standby, writes continue asynchronously.
 */
export type SynchronousMode = (typeof SYNCHRONOUS_MODES)[number];
/**
 * The default: "quorum" (with synchronousQuorum 1: a commit waits for any one standby), so no
 * failover loses an acknowledged commit unless the user chose otherwise (RDS Multi-AZ acknowledges a
 * commit only once a second copy has it, by default, too), and a stalled standby does not stall
 * commits: with "on" a frozen synchronous standby paused writes ~5.6 s (until replicationTimeout
 * dropped it), with "quorum" ~20 ms (docs/ha-states.md, "Which synchronous mode is the default").
 * It costs a round trip to the nearest standby per commit (docs/results.md, "Commit cost"); "off" is the
 * explicit opt-out.
 */
export const DEFAULT_SYNCHRONOUS_MODE: SynchronousMode = "quorum";

/** How many standbys a commit waits for in synchronous mode "quorum" (PostgreSQL's `ANY k`). */
export const DEFAULT_SYNCHRONOUS_QUORUM = 1;

/**
 * synchronousQuorum against the cluster's size: k standbys need k replicas (nodes − 1). Undefined
 * when fine. Used by the component (nodeCount) and `hapg local` (--nodes); the agent, which cannot
 * know the planned size, waits for min(k, streaming standbys) and keeps k ≥ 1 from the schema.
 * k = 1 (the default) always passes: a single node in mode "quorum" has no standby to wait for and
 * commits asynchronously, as it does in mode "on" (both are non-strict).
 */
export function synchronousQuorumProblem(mode: SynchronousMode, k: number, replicas: number): string | undefined {
  if (mode !== "quorum" || k <= Math.max(replicas, 1)) return undefined;
  return `${k} is more than the ${replicas} replica(s) this cluster has: a commit could never get ${k} acknowledgements; use at most ${replicas}, or add nodes`;
}

export const WATCHDOG_MODES = ["off", "automatic", "required"] as const;
/** Patroni's watchdog modes. */
export type WatchdogMode = (typeof WATCHDOG_MODES)[number];
export const DEFAULT_WATCHDOG_DEVICE = "/dev/watchdog";

/** The message for a synchronousMode that is not one of the modes; a boolean (the old form) gets the fix. */
function synchronousModeMessage(input: unknown): string {
  const modes = `must be ${SYNCHRONOUS_MODES.map((m) => `"${m}"${m === DEFAULT_SYNCHRONOUS_MODE ? " (default)" : ""}`)
    .join(", ")
    .replace(/, ([^,]*)$/, " or $1")}`;
  if (input === true || input === "true") return `${modes}, not ${JSON.stringify(input)}: use "on"`;
  if (input === false || input === "false") return `${modes}, not ${JSON.stringify(input)}: use "off"`;
  return `${modes}, not ${JSON.stringify(input) ?? String(input)}`;
}

const seconds = (example: number) => z.number({ error: `must be a number of seconds, e.g. ${example}` });

export const timingSchema = z
  .object({
    /**
     * Leader lease, seconds (Patroni's `ttl`). The leader renews every loopWait and fences itself before
     * it can expire. Default 4: crash-node takes ~4 s with it; ttl 2 (loopWait 0.5, retryTimeout 0.5)
     * takes under 3 s but leaves a watchdog-armed leader 0.75 s between pets, less than a saturated
     * agent may need (the reasoning and the figures: ./timing.ts, docs/results.md "Soak").
     */
    ttl: seconds(4).min(MIN_TTL_S, `etcd's smallest useful lease is about ${MIN_TTL_S} s: use at least ${MIN_TTL_S}`).default(4),
    /** Seconds between HA loop runs (a leader-key change in etcd wakes the loop at once). Default 1. */
    loopWait: seconds(1).positive("must be above 0 seconds, e.g. 1").default(1),
    /** Seconds one etcd or PostgreSQL call may take before it is given up and retried next loop. Default 1.5. */
    retryTimeout: seconds(1.5).positive("must be above 0 seconds, e.g. 1.5").default(1.5),
    /**
     * Seconds after which a silent replication peer (a partition drops packets; nothing resets the
     * connection) is dropped: PostgreSQL's wal_sender_timeout and wal_receiver_timeout. Until then a
     * synchronous commit waits for a standby it cannot reach, and a replica waits on a dead upstream.
     * Default 5 (PostgreSQL's own is 60; CloudNativePG uses 5).
     */
    replicationTimeout: seconds(5).min(1, "must be at least 1 s (a busy but live peer must not be dropped), e.g. 5").default(5),
  })
  .strict();

const watchdogObject = z
  .object({
    /**
     * "automatic" (default): used when the device exists and can be armed, else the agent runs
     * without one (logged). "required": never lead without it. "off": never used.
     */
    mode: z.enum(WATCHDOG_MODES, { error: 'must be "off", "automatic" (default) or "required"' }).default("automatic"),
    /** The watchdog device. Default "/dev/watchdog" (softdog's, and the first watchdog's legacy name). */
    device: z.string().startsWith("/", "must be the absolute path of the device, e.g. /dev/watchdog").default(DEFAULT_WATCHDOG_DEVICE),
    /**
     * Seconds from the reset of a stuck leader to the earliest expiry of its lease. Default: half
     * the fence margin, i.e. 0.5 s with ttl ≥ 4. The kernel timeout follows: floor(ttl − safetyMargin − 0.25) s.
     */
    safetyMargin: z.number().positive("must be a number of seconds above 0, e.g. 0.5").optional(),
  })
  .strict();

export type WatchdogSettings = z.output<typeof watchdogObject>;
/** The watchdog as written: its settings, or only its mode (`watchdog: "required"`). */
export type WatchdogInput = WatchdogMode | z.input<typeof watchdogObject>;

/** A mode alone is short for `{ mode }`. */
const watchdogSchema = z.preprocess((v) => (typeof v === "string" ? { mode: v } : v), watchdogObject) as unknown as z.ZodType<
  WatchdogSettings,
  WatchdogInput
>;

const parameterValue = z.union([z.string(), z.number(), z.boolean()], { error: "values must be strings, numbers or booleans" });

/** The HA settings under `postgres` (the component and the agent add their own fields beside them). */
export const haPostgresShape = {
  /**
   * Extra server parameters (postgresql.conf), e.g. { shared_buffers: "256MB" }. Parameters the
   * cluster manages are refused (./parameters.ts). Default: none.
   */
  parameters: z.record(z.string(), parameterValue).default({}),
  /** Rejoin a diverged former primary with pg_rewind (else a fresh base backup). Default true. */
  usePgRewind: z.boolean({ error: "must be true or false" }).default(true),
};

/** The cluster-wide HA settings beside `postgres`. */
export const haSettingsShape = {
  /** HA timing profile, seconds. Default: ttl 4, loopWait 1, retryTimeout 1.5, replicationTimeout 5. */
  timing: timingSchema.prefault({}),
  /** A replica more than this many bytes behind the leader's last known position is never promoted. Default 1048576 (1 MiB). */
  maximumLagOnFailover: z
    .number({ error: "must be a whole number of bytes" })
    .int("must be a whole number of bytes")
    .min(0, "must be ≥ 0 bytes")
    .default(1048576),
  /**
   * Synchronous replication managed by the leader: "off", "on" (a commit is acknowledged only once
   * one standby has it, and only that standby, recorded in etcd first, may be promoted: no failover
   * loses an acknowledged commit; without a standby, writes continue asynchronously) or "strict"
   * (without a standby, writes block). Caveat (PostgreSQL's): a commit cancelled by the client while
   * waiting for the standby is already committed locally. Default "off".
   */
  synchronousMode: z.enum(SYNCHRONOUS_MODES, { error: (iss) => synchronousModeMessage(iss.input) }).default(DEFAULT_SYNCHRONOUS_MODE),
  /**
   * synchronousMode "quorum" only: how many standbys a commit waits for (k in PostgreSQL's
   * `ANY k (...)`), at least 1 and at most the number of replicas. A failover needs N − k + 1 of
   * the N standbys in the quorum set (the candidate included) to answer: a small k keeps commits
   * fast while standbys are slow, a large k lets a failover go ahead with more standbys down. A
   * standby that stops streaming leaves the set after timing.replicationTimeout. Default 1.
   */
  synchronousQuorum: z
    .number({ error: "must be a whole number of standbys, e.g. 1" })
    .int("must be a whole number of standbys, e.g. 1")
    .min(1, 'must be at least 1 (for asynchronous replication set synchronousMode: "off")')
    .default(DEFAULT_SYNCHRONOUS_QUORUM),
  /**
   * Linux watchdog (Patroni's `watchdog`), for the one case fencing cannot cover: a leader whose
   * agent is frozen while PostgreSQL keeps taking writes; the kernel resets the machine before the
   * lease can expire. A mode alone ("automatic", "required", "off") is short for `{ mode }`.
   * On the component's nodes, softdog is loaded at boot with the planned timeout unless the mode is "off".
   * Default { mode: "automatic", device: "/dev/watchdog" }.
   */
  watchdog: watchdogSchema.prefault({}),
  /**
   * Failsafe mode (Patroni's `failsafe_mode`): while etcd cannot be reached, the leader keeps its
   * primary writable as long as every member listed in etcd's `failsafe` key confirms over its REST
   * API (POST /failsafe), at least every ttl, that it still follows this leader; a member that
   * confirmed does not race for the leader key for ttl, and a member that is not listed never does.
   * One member that does not answer and the leader fences as without it. Default true (the safety
   * argument is in docs/ha-states.md, "Failsafe mode").
   */
  failsafeMode: z.boolean({ error: "must be true or false" }).default(true),
  /**
   * Continuous archiving and base backups (./backup.ts): archive_timeout, the schedule of full and
   * differential backups, retention, and whether a replica takes them. Applies where a node has a
   * backup repository (the agent config's `backup`). Default: archiveTimeout 60 s, full weekly,
   * differential daily, 2 full backups kept, fromStandby true (the leader takes them until replicas can).
   */
  backupPolicy: backupPolicySchema.prefault({}),
};

/** A member's own tags (each node's agent config; not cluster-wide). */
export const memberTagsSchema = z
  .object({
    /** Never promote this member. */
    nofailover: z.boolean().default(false),
    /** Keep this member out of the replica load-balancing pool (/replica answers 503). */
    noloadbalance: z.boolean().default(false),
    /** Among equally advanced candidates the higher priority wins; 0 means never (like nofailover). */
    failoverPriority: z.number().int().min(0).default(1),
  })
  .strict();

/** What the cross-field rules look at (the component's args and the agent config both have it). */
export interface HaSettingsView {
  timing: { ttl: number; loopWait: number; retryTimeout: number };
  synchronousMode: SynchronousMode;
  watchdog: WatchdogSettings;
  postgres: { parameters: Record<string, ParamValue> };
}

/** The cross-field rules, each issue on the path of the setting to change. */
export function checkHaSettings(s: HaSettingsView, ctx: z.RefinementCtx): void {
  const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: "custom", path, message, input: s });
  const watchdog = s.watchdog.mode === "off" ? undefined : s.watchdog;
  for (const p of timingProblems(s.timing, watchdog)) issue(p.field.split("."), p.message);
  const parameters = s.postgres.parameters;
  for (const [name, message] of parameterProblems(parameters)) issue(["postgres", "parameters", name], message);
  const syncCommit = String(parameters.synchronous_commit ?? "on").toLowerCase();
  if (s.synchronousMode !== "off" && (syncCommit === "off" || syncCommit === "local")) {
    issue(
      ["postgres", "parameters", "synchronous_commit"],
      `"${syncCommit}" does not wait for the standby, which synchronousMode "${s.synchronousMode}" relies on: ` +
        "use on, remote_write or remote_apply (or remove it), or set synchronousMode to off",
    );
  }
}

/** The HA settings alone (what `hapg local`, the stack config and the tests check). */
export const haSettingsSchema = z
  .object({ ...haSettingsShape, postgres: z.object(haPostgresShape).strict().prefault({}) })
  .strict()
  .superRefine(checkHaSettings);

export type HaSettings = z.output<typeof haSettingsSchema>;
export type HaSettingsInput = z.input<typeof haSettingsSchema>;

/** Every default, read from the schema itself. */
export const HA_DEFAULTS: HaSettings = haSettingsSchema.parse({});

/** The HA settings out of an object that has them beside other fields (the component's parsed args). */
export function pickHaSettings(o: Omit<HaSettings, "postgres"> & { postgres: HaSettings["postgres"] }): HaSettings {
  const pick = <T extends object>(from: object, shape: T) =>
    Object.fromEntries(Object.keys(shape).map((k) => [k, (from as Record<string, unknown>)[k]]));
  return { ...pick(o, haSettingsShape), postgres: pick(o.postgres, haPostgresShape) } as HaSettings;
}

/** Settings that changed name or place: an unknown field with one of these names gets the fix. */
const MOVED: Readonly<Record<string, string>> = {
  synchronousModeStrict: 'strict is now a synchronous mode: remove it and set synchronousMode: "strict"',
  ttl: "moved to timing.ttl",
  loopWait: "moved to timing.loopWait",
  retryTimeout: "moved to timing.retryTimeout",
};

/** The fix for an unknown field that is a setting under its former name, or undefined. */
export function movedSettingHint(key: string): string | undefined {
  return Object.hasOwn(MOVED, key) ? MOVED[key] : undefined;
}
