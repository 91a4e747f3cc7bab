/**
 * The node image's build context, staged on disk when the program runs: the repository's
 * docker/Dockerfile, the agent bundle (the same contents the AWS nodes download: lib/bundle's
 * `agentBundleContents`) under app/, the `hapg` wrapper the AWS nodes get and a node container's command. The directory is
 * derived from the package's location, so a second `pulumi up` stages the same path and the image
 * is rebuilt only when what is in it changed.
 */
import { createHash } from "node:crypto";
import { chmodSync, cpSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { agentBundleContents, packageRoot } from "../bundle/agent-bundle";
import { CLI_WRAPPER_SCRIPT } from "../userdata/paths";
import { START_AGENT_SCRIPT } from "./plan";

/** The Dockerfile in the package (shipped with it: package.json's `files`). */
export function dockerfilePath(root: string = packageRoot()): string {
  return join(root, "docker", "Dockerfile");
}

/** The default place of the staged context for the package at `root`. */
export function defaultContextDir(root: string = packageRoot()): string {
  const key = createHash("sha256").update(root).digest("hex").slice(0, 12);
  return join(tmpdir(), `hapg-docker-context-${key}`);
}

/** Contexts staged by this process: one program declaring several clusters stages once. */
const staged = new Set<string>();

/** Stages the build context in `dir` (replacing what was there; once per process); returns `dir`. Throws, naming the fix, if the package is not built. */
export function stageBuildContext(dir: string = defaultContextDir(), root: string = packageRoot()): string {
  const key = `${dir}\0${root}`;
  if (staged.has(key)) return dir;
  const { files, packages, packagesBase } = agentBundleContents(root);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, "app"), { recursive: true });
  cpSync(dockerfilePath(root), join(dir, "Dockerfile"));
  for (const f of files) {
    mkdirSync(dirname(join(dir, "app", f)), { recursive: true });
    cpSync(join(root, f), join(dir, "app", f));
  }
  for (const p of packages) cpSync(join(packagesBase, p), join(dir, "app", p), { recursive: true, dereference: true });
  for (const [file, text] of [
    ["hapg", CLI_WRAPPER_SCRIPT],
    ["start-agent.sh", START_AGENT_SCRIPT],
  ]) {
    writeFileSync(join(dir, file), text);
    chmodSync(join(dir, file), 0o755);
  }
  staged.add(key);
  return dir;
}
