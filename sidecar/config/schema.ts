/**
 * The agent's config file (`hapg agent --config FILE`, YAML or JSON), validated with zod.
 * Every field has a default where one is safe; `validateAgentConfig` returns errors that name the
 * field and the fix, and never echoes secret values.
 */
import { z } from "zod";
import { backupConfigSchema } from "../backup/config";
import { bootstrapSchema, sameStanzaProblem } from "../restore/config";
import { checkHaSettings, haPostgresShape, haSettingsShape, memberTagsSchema, movedSettingHint } from "../settings/schema";

const hostPort = (defaultPort: number) =>
  z
    .object({
      host: z.string().min(1, "must be a host name or IP address, e.g. 127.0.0.1"),
      port: z.number().int().min(1).max(65535).default(defaultPort),
    })
    .strict();

/** A credential is read from a file or an environment variable: never written in the config itself. */
const credentialWith = <U extends z.ZodType<string, string | undefined>>(username: U) =>
  z
    .object({
      username,
      passwordFile: z.string().min(1).optional(),
      passwordEnv: z
        .string()
        .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be an environment variable name")
        .optional(),
    })
    .strict()
    .refine((c) => (c.passwordFile === undefined) !== (c.passwordEnv === undefined), {
      message: "set exactly one of passwordFile or passwordEnv",
    });

/** A PostgreSQL role's credential. */
const credential = (defaultUser: string) =>
  credentialWith(
    z
      .string()
      .regex(/^[a-z_][a-z0-9_]*$/, "must be a lower-case SQL identifier")
      .default(defaultUser),
  );

const pemFile = (what: string) => z.string().regex(/^\//, `must be the absolute path of ${what} (PEM)`);

/** The API's TLS files: all three, so this agent both serves HTTPS and verifies the members it calls. */
export const apiTlsSchema = z
  .object({
    certFile: pemFile("this node's certificate"),
    keyFile: pemFile("this node's private key"),
    caFile: pemFile("the CA certificate the members' certificates chain to"),
  })
  .strict();

/**
 * A document published outside the node and read at run time: a file (`hapg local`) or an SSM parameter
 * (String; `pulumi up`), read again every intervalSeconds. One shape for the desired dynamic config and the
 * topology (and node-init's plan), so they read and fail the same way.
 */
export function publishedDocumentSchema(field: string, exampleParameter: string, defaultIntervalSeconds: number) {
  return z
    .object({
      /** A JSON (or YAML) file with the document. */
      file: z.string().startsWith("/", "must be an absolute path").optional(),
      /** The name of an SSM parameter (String) with the document as JSON, read with the AWS CLI. */
      ssmParameter: z.string().startsWith("/", `must be an SSM parameter name such as ${exampleParameter}`).optional(),
      /** The SSM parameter's region. Default: AWS_REGION, else the instance's region (IMDSv2). */
      region: z.string().min(1).optional(),
      /** Seconds between two reads (SSM's API is rate-limited). */
      intervalSeconds: z.number().positive("must be a number of seconds above 0, e.g. 60").default(defaultIntervalSeconds),
    })
    .strict()
    .refine((d) => (d.file === undefined) !== (d.ssmParameter === undefined), {
      message: `set exactly one of ${field}.file or ${field}.ssmParameter`,
    });
}

/** The user of the agents' API for calls that change something, wherever this project generates the password (local, AWS). */
export const DEFAULT_API_USER = "hapg";

export const agentConfigSchema = z
  .object({
    /** Cluster name (Patroni's `scope`): members with the same name form one cluster. */
    cluster: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, "use letters, digits, '.', '_' or '-'"),
    /** etcd key prefix: keys live under /<namespace>/<cluster>/. Default "service" as in Patroni. */
    namespace: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, "use letters, digits, '.', '_' or '-'")
      .default("service"),
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
        ...haPostgresShape,
        superuser: credential("postgres"),
        replication: credential("replicator"),
        /** Networks allowed to connect (pg_hba host lines, scram-sha-256) for clients and for replication. */
        allowedCidrs: z.array(z.cidrv4().or(z.cidrv6())).min(1).default(["127.0.0.1/32"]),
        /** Seconds a smart shutdown may take before fast, and fast before immediate. */
        stopTimeouts: z
          .object({ smart: z.number().min(0).default(0), fast: z.number().positive().default(10) })
          .strict()
          .default({ smart: 0, fast: 10 }),
      })
      .strict(),
    api: z
      .object({
        listen: hostPort(8008),
        /** Address other members and HAProxy use for this API. Default: listen. */
        connectAddress: hostPort(8008).optional(),
        /**
         * HTTP basic auth for the calls that change something (POST/DELETE/PATCH: switchover, failover);
         * health endpoints stay open. Absent: those calls are open, as in Patroni without restapi.authentication.
         */
        authentication: credentialWith(z.string().min(1, "must be a user name, e.g. hapg")).optional(),
        /**
         * HTTPS for the API (Patroni's restapi.certfile/keyfile/cafile): the server's certificate and key, and the CA
         * this agent trusts when it calls the other members' APIs (their certificates must chain to it).
         * Absent: plain HTTP (the local cluster).
         */
        tls: apiTlsSchema.optional(),
      })
      .strict(),
    /** The cluster-wide HA settings (timing, lag limit, synchronous mode, watchdog): sidecar/settings/schema.ts. */
    ...haSettingsShape,
    /**
     * Where the desired dynamic configuration is published (`pulumi up` writes an SSM parameter; `hapg local`
     * a file). The leader reads it at start and every intervalSeconds and converges etcd's config key to it
     * (desired keys win; keys it does not name are left alone). Absent: etcd's config key is edited only by
     * operators (PATCH /config, hapg edit-config).
     */
    desiredConfig: publishedDocumentSchema("desiredConfig", "/hapg/main/dynamic-config", 60).optional(),
    /**
     * Where the cluster's topology is published (sidecar/topology/schema.ts: the hosts that should exist, their
     * fixed addresses and revisions; `pulumi up` writes an SSM parameter, `hapg local` a file). Every agent reads it
     * at start and every intervalSeconds: HAProxy's backends and the etcd endpoints follow it, and the leader
     * removes members, slots and etcd members no longer listed and rolls stale hosts. Absent: membership is the
     * agent file's (etcd.endpoints) and nothing is rolled.
     */
    topology: publishedDocumentSchema("topology", "/hapg/main/topology", 30).optional(),
    /**
     * HAProxy on this node, whose backends the agent rewrites from the topology's nodes when they change (the
     * file is then reloaded by whoever watches it: on AWS a systemd path unit, so the agent needs no root).
     * Needs `topology`. Absent: the agent writes no HAProxy config (the local cluster rewrites its own).
     */
    haproxy: z
      .object({
        configFile: z.string().startsWith("/", "must be an absolute path such as /etc/haproxy/haproxy.cfg"),
        bindHost: z.string().min(1).default("*"),
        primaryPort: z.number().int().min(1).max(65535).default(5000),
        replicaPort: z.number().int().min(1).max(65535).default(5001),
        /** The agents serve HTTPS: HAProxy's checks verify their certificates against this CA and each host's name. */
        checkCaFile: z.string().startsWith("/", "must be an absolute path").optional(),
      })
      .strict()
      .optional(),
    /**
     * The roll (the leader replaces hosts whose reported revision differs from the topology's, one at a time, the
     * leader last after a switchover): how a host is replaced. Needs `topology`. Absent: stale hosts are only reported.
     */
    roll: z
      .object({
        replacer: z.union([
          z
            .object({
              /** Terminate the host's instance in its Auto Scaling group (found by these tags), desired capacity kept. */
              aws: z
                .object({
                  region: z.string().min(1).optional(),
                  clusterTags: z.record(z.string().min(1), z.string().min(1)),
                  hostTagKey: z.string().min(1),
                })
                .strict(),
            })
            .strict(),
          z.object({ requestDir: z.string().startsWith("/", "must be an absolute path") }).strict(),
        ]),
        /** Seconds a step (one host) may take before the roll stops there. Default 900. */
        stepTimeoutSeconds: z.number().positive().default(900),
        /** A replaced replica is healthy again once streaming within this many bytes of the leader. Default 16 MiB. */
        healthyLagBytes: z
          .number()
          .int()
          .nonnegative()
          .default(16 * 1024 * 1024),
      })
      .strict()
      .optional(),
    /** Continuous archiving and base backups with pgBackRest (sidecar/backup/config.ts). Absent: none. */
    backup: backupConfigSchema.optional(),
    /** How a new cluster is created: initdb (default), or `fromBackup`, a restore of another cluster's backup (sidecar/restore/config.ts). */
    bootstrap: bootstrapSchema.prefault({}),
    /** This member's tags. */
    tags: memberTagsSchema.prefault({}),
    log: z
      .object({ level: z.enum(["trace", "debug", "info", "warn", "error"]).default("info") })
      .strict()
      .default({ level: "info" }),
  })
  .strict()
  .superRefine((c, ctx) => {
    checkHaSettings(c, ctx);
    const same = sameStanzaProblem(c.cluster, c.backup, c.bootstrap.fromBackup);
    if (same) ctx.addIssue({ code: "custom", path: same.path, message: same.message });
    if (c.roll && !c.topology) ctx.addIssue({ code: "custom", path: ["roll"], message: "needs topology (the revisions to roll to)" });
    if (c.haproxy && !c.topology)
      ctx.addIssue({ code: "custom", path: ["haproxy"], message: "needs topology (the nodes HAProxy routes to)" });
    if (!c.postgres.dataDir.startsWith("/")) {
      ctx.addIssue({ code: "custom", path: ["postgres", "dataDir"], message: "must be an absolute path" });
    }
  });

export type AgentConfig = z.output<typeof agentConfigSchema>;
export type AgentConfigInput = z.input<typeof agentConfigSchema>;

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
  const problems = result.error.issues.flatMap((issue) => {
    const field = issue.path.length ? issue.path.join(".") : "(top level)";
    if (issue.code === "unrecognized_keys") {
      const moved = issue.path.length === 0 ? issue.keys.filter((k) => movedSettingHint(k)) : [];
      const rest = issue.keys.filter((k) => !moved.includes(k));
      return [
        ...moved.map((k) => `${k}: unknown field: ${movedSettingHint(k)}`),
        ...(rest.length ? [`${field}: unknown field(s) ${rest.map((k) => `"${k}"`).join(", ")}: remove them or fix the spelling`] : []),
      ];
    }
    if (issue.code === "invalid_type" && issue.input === undefined) return [`${field}: is required`];
    return [`${field}: ${issue.message}`];
  });
  throw new ConfigError(problems);
}
