/**
 * The agent's config file (`hapg agent --config FILE`, YAML or JSON), validated with zod.
 * Every field has a default where one is safe; `validateAgentConfig` returns errors that name the
 * field and the fix, and never echoes secret values.
 */
import { z } from "zod";
import { watchdogTiming } from "../watchdog/plan";

const hostPort = (defaultPort: number) =>
  z
    .object({
      host: z.string().min(1, "must be a host name or IP address, e.g. 127.0.0.1"),
      port: z.number().int().min(1).max(65535).default(defaultPort),
    })
    .strict();

/** A credential is read from a file or an environment variable: never written in the config itself. */
const credential = (defaultUser: string) =>
  z
    .object({
      username: z.string().regex(/^[a-z_][a-z0-9_]*$/, "must be a lower-case SQL identifier").default(defaultUser),
      passwordFile: z.string().min(1).optional(),
      passwordEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be an environment variable name").optional(),
    })
    .strict()
    .refine((c) => (c.passwordFile === undefined) !== (c.passwordEnv === undefined), {
      message: "set exactly one of passwordFile or passwordEnv",
    });

const tags = z
  .object({
    /** Never promote this member. */
    nofailover: z.boolean().default(false),
    /** Keep this member out of the replica load-balancing pool (/replica answers 503). */
    noloadbalance: z.boolean().default(false),
    /** Among equally advanced candidates the higher priority wins; 0 means never (like nofailover). */
    failoverPriority: z.number().int().min(0).default(1),
  })
  .strict();

const parameterValue = z.union([z.string(), z.number(), z.boolean()]);

export const agentConfigSchema = z
  .object({
    /** Cluster name (Patroni's `scope`): members with the same name form one cluster. */
    cluster: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, "use letters, digits, '.', '_' or '-'"),
    /** etcd key prefix: keys live under /<namespace>/<cluster>/. Default "service" as in Patroni. */
    namespace: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, "use letters, digits, '.', '_' or '-'").default("service"),
    /** This member's unique name; also its replication slot name (non-alphanumerics become '_'). */
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, "use letters, digits, '.', '_' or '-'"),
    etcd: z
      .object({
        endpoints: z
          .array(z.url({ protocol: /^https?$/, error: "must be an http:// or https:// URL such as http://127.0.0.1:2379" }))
          .min(1, "list at least one etcd client URL"),
        username: z.string().min(1).optional(),
        passwordFile: z.string().min(1).optional(),
        caFile: z.string().min(1).optional(),
        certFile: z.string().min(1).optional(),
        keyFile: z.string().min(1).optional(),
      })
      .strict()
      .refine((e) => (e.username === undefined) === (e.passwordFile === undefined), {
        message: "etcd.username and etcd.passwordFile go together: set both or neither",
      }),
    postgres: z
      .object({
        /** Directory with postgres, pg_ctl, initdb...; discovered (pg_config, /usr/lib/postgresql/N/bin) when absent. */
        binDir: z.string().min(1).optional(),
        dataDir: z.string().min(1, "must be the absolute path of the data directory"),
        /** Address and port PostgreSQL listens on. */
        listen: hostPort(5432),
        /** Address and port other members and the proxy use to reach this PostgreSQL. Default: listen. */
        connectAddress: hostPort(5432).optional(),
        /** Extra server parameters (postgresql.conf), e.g. { shared_buffers: "256MB" }. */
        parameters: z.record(z.string().regex(/^[a-z_][a-z0-9_.]*$/, "must be a PostgreSQL parameter name"), parameterValue).default({}),
        superuser: credential("postgres"),
        replication: credential("replicator"),
        /** Networks allowed to connect (pg_hba host lines, scram-sha-256) for clients and for replication. */
        allowedCidrs: z.array(z.cidrv4().or(z.cidrv6())).min(1).default(["127.0.0.1/32"]),
        /** Seconds a smart shutdown may take before fast, and fast before immediate. */
        stopTimeouts: z
          .object({ smart: z.number().min(0).default(0), fast: z.number().positive().default(10) })
          .strict()
          .default({ smart: 0, fast: 10 }),
        /** Rejoin a diverged former primary with pg_rewind (else a fresh base backup). */
        usePgRewind: z.boolean().default(true),
      })
      .strict(),
    api: z
      .object({
        listen: hostPort(8008),
        /** Address other members and HAProxy use for this API. Default: listen. */
        connectAddress: hostPort(8008).optional(),
      })
      .strict(),
    /** Leader lease length, seconds. The leader renews every loopWait and fences itself before it can expire. */
    ttl: z.number().min(2, "etcd's smallest lease is about 2 s; use ttl >= 2").default(4),
    /** Seconds between HA loop runs (a leader-key change in etcd wakes the loop at once). */
    loopWait: z.number().positive().default(1),
    /** Seconds one etcd or PostgreSQL call may take before it is given up and retried next loop. */
    retryTimeout: z.number().positive().default(1.5),
    /** A replica more than this many bytes behind the leader's last known position is never promoted. */
    maximumLagOnFailover: z.number().int().min(0).default(1048576),
    /**
     * Synchronous replication managed by the leader: a commit is acknowledged only once one standby
     * has it, and only that standby (recorded in etcd before PostgreSQL relies on it) may be promoted,
     * so no failover loses an acknowledged commit. Without a standby, writes continue asynchronously
     * and no replica may be promoted until one is synchronous again.
     */
    synchronousMode: z.boolean().default(false),
    /** With synchronousMode: when no standby can be synchronous, writes block instead of going asynchronous. */
    synchronousModeStrict: z.boolean().default(false),
    tags: tags.default({ nofailover: false, noloadbalance: false, failoverPriority: 1 }),
    /**
     * Linux watchdog (Patroni's `watchdog`), for the one case fencing cannot cover: a leader whose
     * agent is frozen (SIGSTOP, a stalled VM) while PostgreSQL keeps taking writes. While leading, the
     * agent pets the kernel watchdog on every lease renewal; frozen, it stops, and the kernel resets
     * the machine before the lease can expire. README "Watchdog" has the arithmetic.
     */
    watchdog: z
      .object({
        /**
         * "automatic" (default): used when the device exists and can be armed, else the agent runs
         * without one (logged). "required": never lead without it (no device: a startup error).
         * "off": never used.
         */
        mode: z.enum(["off", "automatic", "required"], { message: 'must be "off", "automatic" (default) or "required"' }).default("automatic"),
        /** The watchdog device. Default "/dev/watchdog" (softdog's, and the first watchdog's legacy name). */
        device: z.string().startsWith("/", "must be the absolute path of the device, e.g. /dev/watchdog").default("/dev/watchdog"),
        /**
         * Seconds from the reset of a stuck leader to the earliest expiry of its lease. Default: half
         * the fence margin, i.e. 0.5 s with ttl ≥ 4; at most the fence margin − 0.25 s. The kernel
         * timeout follows: floor(ttl − safetyMargin − 0.25) s, 3 s by default.
         */
        safetyMargin: z.number().positive("must be a number of seconds above 0, e.g. 0.5").optional(),
      })
      .strict()
      .default({ mode: "automatic", device: "/dev/watchdog" }),
    log: z
      .object({ level: z.enum(["trace", "debug", "info", "warn", "error"]).default("info") })
      .strict()
      .default({ level: "info" }),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.loopWait + 2 * c.retryTimeout > c.ttl) {
      ctx.addIssue({
        code: "custom",
        path: ["ttl"],
        message: `ttl (${c.ttl}) must be at least loopWait + 2 × retryTimeout (${c.loopWait + 2 * c.retryTimeout}): raise ttl or lower loopWait/retryTimeout`,
      });
    }
    if (c.ttl - fenceMarginSeconds(c) < c.loopWait) {
      ctx.addIssue({
        code: "custom",
        path: ["ttl"],
        message: `ttl (${c.ttl}) leaves the leader less than one loopWait to renew before it must fence itself: raise ttl`,
      });
    }
    if (c.watchdog.mode !== "off" && c.ttl >= 2) {
      for (const p of watchdogTiming({ ttl: c.ttl, fenceMarginS: fenceMarginSeconds(c), safetyMargin: c.watchdog.safetyMargin }).problems) {
        ctx.addIssue({ code: "custom", path: p.field.split("."), message: p.message });
      }
    }
    const syncCommit = String(c.postgres.parameters.synchronous_commit ?? "on").toLowerCase();
    if (c.synchronousMode && (syncCommit === "off" || syncCommit === "local")) {
      ctx.addIssue({
        code: "custom",
        path: ["postgres", "parameters", "synchronous_commit"],
        message: `"${syncCommit}" does not wait for the standby, which synchronousMode relies on: use on, remote_write or remote_apply (or remove it)`,
      });
    }
    if (c.synchronousModeStrict && !c.synchronousMode) {
      ctx.addIssue({ code: "custom", path: ["synchronousModeStrict"], message: "needs synchronousMode: true as well (strict is a variant of synchronous mode)" });
    }
    if (!c.postgres.dataDir.startsWith("/")) {
      ctx.addIssue({ code: "custom", path: ["postgres", "dataDir"], message: "must be an absolute path" });
    }
  });

export type AgentConfig = z.output<typeof agentConfigSchema>;
export type AgentConfigInput = z.input<typeof agentConfigSchema>;

/**
 * Fencing margin: the leader stops accepting writes at (last successful renewal *sent*) + ttl − margin.
 * etcd grants the renewed TTL when it *receives* the request, which is after we sent it, and checks
 * expiry every 500 ms, so the lease can only expire later than sent + ttl, never earlier. The margin
 * covers the time to stop PostgreSQL immediately (tens of ms) and a late timer on a busy machine.
 */
export function fenceMarginSeconds(c: { ttl: number; loopWait: number }): number {
  return Math.min(1, c.ttl / 4);
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid agent config:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** Validates a parsed config object; throws ConfigError naming each bad field. Pure. */
export function validateAgentConfig(raw: unknown): AgentConfig {
  const result = agentConfigSchema.safeParse(raw);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const field = issue.path.length ? issue.path.join(".") : "(top level)";
    if (issue.code === "unrecognized_keys") {
      return `${field}: unknown field(s) ${issue.keys.map((k) => `"${k}"`).join(", ")}: remove them or fix the spelling`;
    }
    if (issue.code === "invalid_type" && issue.input === undefined) return `${field}: is required`;
    return `${field}: ${issue.message}`;
  });
  throw new ConfigError(problems);
}
