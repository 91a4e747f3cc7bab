/**
 * The node-init plan (`/etc/hapg/node-init.json`), written by the HaPostgresCluster user-data.
 * It names SSM parameters and where their values go, and carries the agent config to write. It
 * holds no secret: the secrets are only in SSM (SecureString) and, after node-init, in 0600 files.
 */
import { z } from "zod";
import { publishedDocumentSchema } from "../config/schema";
import { hostNameSchema } from "../topology/schema";

const mode = z.string().regex(/^0[0-7]{3}$/, 'must be an octal mode such as "0600"');
const absolutePath = z.string().regex(/^\/[^\0]*$/, "must be an absolute path");
const user = z.string().regex(/^[a-z_][a-z0-9_-]*$/, "must be a user name such as postgres");

export const nodeInitPlanSchema = z
  .object({
    version: z.literal(1, { message: "must be 1 (this agent reads plan version 1)" }),
    /** AWS region of the SSM parameters. Default: AWS_REGION / AWS_DEFAULT_REGION of the process. */
    region: z.string().min(1).optional(),
    files: z
      .array(
        z
          .object({
            parameter: z.string().regex(/^\/[A-Za-z0-9_.\-/]+$/, "must be an SSM parameter name starting with /"),
            path: absolutePath,
            owner: user,
            mode,
            /** This parameter's region when it is not the plan's (a restore source's passphrase, kept in the source's region). */
            region: z.string().min(1).optional(),
          })
          .strict(),
      )
      .default([]),
    /**
     * This host as the topology names it and the revision its instance was launched with (lib computes it over
     * the image, instance type, user-data and volume). `hapg host-report` writes it to etcd (`hosts/<name>`), and
     * the roll compares it with the topology's. Absent: the host reports nothing (not rolled).
     */
    host: z
      .object({ name: hostNameSchema, revision: z.string().min(1) })
      .strict()
      .optional(),
    /** The cluster whose etcd prefix (`/<namespace>/<name>/`) the host report goes under. Required with `host`. */
    cluster: z
      .object({
        name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, "use letters, digits, '.', '_' or '-'"),
        namespace: z
          .string()
          .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, "use letters, digits, '.', '_' or '-'")
          .default("service"),
      })
      .strict()
      .optional(),
    /** Where the topology is published (the same source the agents read): etcd-join and host-report read it. */
    topology: publishedDocumentSchema("topology", "/hapg/main/topology", 30).optional(),
    /**
     * This host's etcd member, when it runs one: `hapg etcd-join` decides before etcd starts whether the member
     * bootstraps (`new`), joins the running cluster (`member add`, `existing`) or just starts on its data, and
     * writes `membershipEnvFile` (ETCD_INITIAL_CLUSTER, ETCD_INITIAL_CLUSTER_STATE) for etcd's unit to read
     * after its main environment file.
     */
    etcd: z
      .object({
        name: hostNameSchema,
        dataDir: absolutePath,
        membershipEnvFile: absolutePath,
        /** The scheme of the members' client and peer URLs. Default https. */
        scheme: z.enum(["http", "https"]).default("https"),
        clientPort: z.number().int().min(1).max(65535).default(2379),
        peerPort: z.number().int().min(1).max(65535).default(2380),
        /** Client TLS towards the running members (they require client certificates). */
        caFile: absolutePath.optional(),
        certFile: absolutePath.optional(),
        keyFile: absolutePath.optional(),
      })
      .strict()
      .optional(),
    /**
     * `hapg node-init --refresh` (a timer): after rewriting files whose parameter changed (a renewed certificate),
     * `systemctl reload-or-restart` these units (HAProxy, whose checks read the CA). The agent notices its own TLS
     * files changed by itself (API TLS context, PostgreSQL reload); etcd reads its certificates per connection.
     */
    refresh: z
      .object({
        reloadUnits: z.array(z.string().regex(/^[A-Za-z0-9@_.-]+\.service$/, "must be a unit name such as haproxy.service")).default([]),
      })
      .strict()
      .optional(),
    agentConfig: z
      .object({
        path: absolutePath,
        owner: user,
        mode,
        /** Validated with the agent's own schema before it is written. */
        config: z.unknown(),
      })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.host && !p.cluster)
      ctx.addIssue({ code: "custom", path: ["cluster"], message: "is required with host (the etcd prefix of the host report)" });
    if (p.etcd && !p.topology) ctx.addIssue({ code: "custom", path: ["topology"], message: "is required with etcd (the members to join)" });
    if (p.host && p.etcd && p.etcd.name !== p.host.name) {
      ctx.addIssue({ code: "custom", path: ["etcd", "name"], message: `must be the host's name (${p.host.name})` });
    }
  });

export type NodeInitPlan = z.output<typeof nodeInitPlanSchema>;
export type NodeInitPlanInput = z.input<typeof nodeInitPlanSchema>;
