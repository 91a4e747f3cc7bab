/**
 * The agent's version: the `version` of this package's package.json, so a release bumps one place.
 * Read at load from the file that ships next to the code: dist/sidecar/contract/version.js sits three levels
 * below the package root in the repository, in the npm package and in the agent bundle alike.
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";

/** This package's name, as package.json spells it (the bundle also finds the package root by it). */
export const PACKAGE_NAME = "ha-postgres-cluster";

export const PACKAGE_JSON = path.resolve(__dirname, "..", "..", "..", "package.json");

function readVersion(file: string): string {
  const pkg = JSON.parse(readFileSync(file, "utf8")) as { name?: string; version?: unknown };
  if (pkg.name !== PACKAGE_NAME || typeof pkg.version !== "string") {
    throw new Error(`${file}: not the ${PACKAGE_NAME} package.json (the agent reads its version there): reinstall the agent`);
  }
  return pkg.version;
}

export const AGENT_VERSION: string = readVersion(PACKAGE_JSON);
