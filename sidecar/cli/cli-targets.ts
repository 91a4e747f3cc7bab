/** The API targets a CLI config (sidecar/contract/cli-config.ts) names, with its CA and credentials read now. */
import { readFileSync } from "node:fs";
import type { ApiTarget } from "../api/client";
import type { CliConfig } from "../contract/cli-config";
import { readCaFile } from "../http/transport";

/** The CA of a CLI config, read now (an unreadable file is an error naming it). */
export function cliConfigCa(file: string, c: CliConfig): Buffer | undefined {
  return c.api.caFile ? readCaFile(c.api.caFile, `${file}: api.caFile`) : undefined;
}

/**
 * The targets of a CLI config for a command that changes something: every member's API with the
 * credentials (read now). Without the right to read the password file, says to run as root.
 */
export function cliConfigTargets(file: string, c: CliConfig): ApiTarget[] {
  const ca = cliConfigCa(file, c);
  let auth: ApiTarget["auth"];
  if (c.api.passwordFile) {
    let password: string;
    try {
      password = readFileSync(c.api.passwordFile, "utf8").trim();
    } catch (e) {
      const denied = (e as NodeJS.ErrnoException).code === "EACCES";
      throw new Error(
        `${file}: api.passwordFile ${c.api.passwordFile}: cannot read it (${(e as Error).message})` +
          (denied ? ": the API password is readable by root only: run the command with sudo" : ""),
        { cause: e },
      );
    }
    auth = { username: c.api.username, password };
  }
  return c.api.urls.map((u) => ({ api: u.replace(/\/+$/, ""), auth, ca }));
}
