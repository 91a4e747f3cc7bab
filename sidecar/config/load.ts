/** Reads the agent config file and the credentials it points to. Secrets never leave this module in logs. */
import { readFileSync } from "node:fs";
import { AgentConfig, ConfigError, validateAgentConfig } from "../contract/agent-config";

export function loadAgentConfig(file: string): AgentConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new ConfigError([`${file}: cannot read the config file (${(e as Error).message})`]);
  }
  let raw: unknown;
  try {
    // The YAML parser is loaded only for YAML files: a JSON config (what node-init writes) keeps it out of the agent's memory.
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- on demand, see above
    raw = file.endsWith(".json") ? JSON.parse(text) : (require("yaml") as typeof import("yaml")).parse(text);
  } catch (e) {
    throw new ConfigError([`${file}: not valid ${file.endsWith(".json") ? "JSON" : "YAML"}: ${(e as Error).message}`]);
  }
  return validateAgentConfig(raw);
}

export interface Credentials {
  username: string;
  password: string;
}

/** Resolves a credential from its file or environment variable; the error names the field, not the value. */
export function readCredential(
  field: string,
  c: { username: string; passwordFile?: string; passwordEnv?: string },
  env: NodeJS.ProcessEnv = process.env,
): Credentials {
  if (c.passwordFile !== undefined) {
    try {
      const password = readFileSync(c.passwordFile, "utf8").replace(/\r?\n$/, "");
      if (!password) throw new Error("the file is empty");
      return { username: c.username, password };
    } catch (e) {
      throw new ConfigError([`${field}.passwordFile: cannot read ${c.passwordFile} (${(e as Error).message})`]);
    }
  }
  const value = env[c.passwordEnv ?? ""];
  if (!value) throw new ConfigError([`${field}.passwordEnv: environment variable ${c.passwordEnv} is not set or empty`]);
  return { username: c.username, password: value };
}
