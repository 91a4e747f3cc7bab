/**
 * The operator CLI's default config: where `hapg list`, `hapg switchover`... find the cluster when no
 * flag says (--api, --dir, --config, --etcd). On an AWS node the user-data writes it to
 * /etc/hapg/cli.json (world-readable, no secret: it names the members' API URLs, the CA file and the
 * file holding the API password, which only root can read), so `hapg list` works as it is in a
 * Session Manager shell, and `sudo hapg switchover` can authenticate. HAPG_CLI_CONFIG names another file.
 */
import { existsSync, readFileSync } from "node:fs";
import { z } from "zod";
import { DEFAULT_API_USER } from "./agent-config";

export const DEFAULT_CLI_CONFIG = "/etc/hapg/cli.json";
export const CLI_CONFIG_ENV = "HAPG_CLI_CONFIG";

export const cliConfigSchema = z
  .object({
    /** The cluster's name, for messages. */
    cluster: z.string().min(1),
    api: z
      .object({
        /** Every member's API, this node's first: the commands use the first one that answers. */
        urls: z
          .array(z.url({ protocol: /^https?$/, error: "must be an http:// or https:// URL such as https://10.0.1.10:8008" }))
          .min(1, "list at least one member's API URL"),
        /** The cluster CA (PEM) an https:// URL must chain to. */
        caFile: z.string().regex(/^\//, "must be the absolute path of the CA certificate (PEM)").optional(),
        username: z.string().min(1).default(DEFAULT_API_USER),
        /** The API password, for the commands that change something (readable by root only on a node). */
        passwordFile: z.string().regex(/^\//, "must be the absolute path of the file holding the API password").optional(),
      })
      .strict(),
  })
  .strict();

export type CliConfig = z.output<typeof cliConfigSchema>;
export type CliConfigInput = z.input<typeof cliConfigSchema>;

/** The default config file to use, if any: $HAPG_CLI_CONFIG (which must exist), else /etc/hapg/cli.json when present. */
export function defaultCliConfigFile(
  env: NodeJS.ProcessEnv = process.env,
  exists: (file: string) => boolean = existsSync,
): string | undefined {
  const named = env[CLI_CONFIG_ENV];
  if (named) {
    if (!exists(named)) throw new Error(`${CLI_CONFIG_ENV}=${named}: no such file: name a CLI config file, or unset ${CLI_CONFIG_ENV}`);
    return named;
  }
  return exists(DEFAULT_CLI_CONFIG) ? DEFAULT_CLI_CONFIG : undefined;
}

/** Parses a CLI config; the error names the file and each bad field. Pure. */
export function parseCliConfig(file: string, raw: unknown): CliConfig {
  const r = cliConfigSchema.safeParse(raw);
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => `${i.path.join(".") || "(top level)"}: ${i.message}`);
  throw new Error(`${file}: invalid CLI config: ${problems.join("; ")}`);
}

export function loadCliConfig(file: string): CliConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new Error(`${file}: cannot read the CLI config (${(e as Error).message})`, { cause: e });
  }
  return parseCliConfig(file, raw);
}
