/**
 * The node-init plan (`/etc/hapg/node-init.json`), written by the HaPostgresCluster user-data.
 * It names SSM parameters and where their values go, and carries the agent config to write. It
 * holds no secret: the secrets are only in SSM (SecureString) and, after node-init, in 0600 files.
 */
import { z } from "zod";

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
  .strict();

export type NodeInitPlan = z.output<typeof nodeInitPlanSchema>;
export type NodeInitPlanInput = z.input<typeof nodeInitPlanSchema>;
