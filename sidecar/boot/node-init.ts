/**
 * node-init: the boot step that turns the plan written by the user-data (no secrets) into the
 * files the agent, PostgreSQL and etcd read — passwords, TLS keys and certificates fetched from SSM
 * Parameter Store, and the agent config, validated with the agent's own schema.
 *
 * Entry points:
 *  - `runNodeInit(planFile, deps?)` reads and validates the plan file, then `nodeInit`.
 *  - `nodeInit(plan, deps)` does the work; every side effect goes through `deps`, so tests pass fakes.
 *  - the user-data runs it through the CLI: `hapg node-init --plan /etc/hapg/node-init.json`.
 *
 * Guarantees: a file holding a secret is created with its final mode (0600) before a byte is
 * written (never world-readable, not even for a moment), then renamed into place; errors name the
 * parameter or field, never a secret value; nothing is written unless the whole plan is valid.
 */
import { execFile } from "node:child_process";
import { chownSync, closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { validateAgentConfig } from "../config/schema";
import { NodeInitPlan, nodeInitPlanSchema } from "./plan";

export class NodeInitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NodeInitError";
  }
}

export interface NodeInitDeps {
  /** Returns the (decrypted) value of an SSM parameter. */
  readParameter(name: string, region: string | undefined): Promise<string>;
  /** Resolves a user name to uid/gid; undefined means "leave ownership as is" (tests). */
  lookupUser(name: string): { uid: number; gid: number } | undefined;
  log(message: string): void;
}

/** Reads an SSM parameter with the AWS CLI (from Debian's awscli), retrying while IAM settles at boot. */
export async function readParameterWithAwsCli(name: string, region: string | undefined, attempts = 10): Promise<string> {
  const args = ["ssm", "get-parameter", "--name", name, "--with-decryption", "--output", "json", ...(region ? ["--region", region] : [])];
  let lastError = "";
  for (let i = 0; i < attempts; i++) {
    try {
      const stdout = await new Promise<string>((resolve, reject) =>
        execFile("aws", args, { timeout: 30_000, maxBuffer: 1 << 20 }, (err, out, errOut) =>
          err ? reject(new Error(errOut.trim() || err.message)) : resolve(out),
        ),
      );
      const value = (JSON.parse(stdout) as { Parameter?: { Value?: unknown } }).Parameter?.Value;
      if (typeof value !== "string") throw new Error("the answer has no Parameter.Value");
      return value;
    } catch (e) {
      lastError = (e as Error).message;
      await new Promise((r) => setTimeout(r, Math.min(1000 * 2 ** i, 10_000)));
    }
  }
  throw new NodeInitError(`SSM parameter ${name}: cannot read it (${lastError})`);
}

/** Parses /etc/passwd content for a user's uid and gid. Pure. */
export function parsePasswd(content: string, user: string): { uid: number; gid: number } | undefined {
  for (const line of content.split("\n")) {
    const f = line.split(":");
    if (f[0] === user && f.length >= 4) return { uid: Number(f[2]), gid: Number(f[3]) };
  }
  return undefined;
}

export const systemDeps: NodeInitDeps = {
  readParameter: (name, region) => readParameterWithAwsCli(name, region),
  lookupUser(name) {
    const found = parsePasswd(readFileSync("/etc/passwd", "utf8"), name);
    if (!found) throw new NodeInitError(`user ${name} does not exist: is its package (postgresql / etcd-server) installed?`);
    return found;
  },
  log: (m) => process.stderr.write(`node-init: ${m}\n`),
};

/** Writes a file atomically with its final mode and owner set before any content is written. */
export function writePrivate(path: string, content: string, mode: number, owner: { uid: number; gid: number } | undefined): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, "w", mode);
  try {
    if (owner) chownSync(tmp, owner.uid, owner.gid);
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/** Validates a parsed plan; throws NodeInitError naming each bad field. Pure. */
export function parseNodeInitPlan(raw: unknown): NodeInitPlan {
  const r = nodeInitPlanSchema.safeParse(raw);
  if (!r.success) {
    throw new NodeInitError(
      `invalid node-init plan:\n${r.error.issues.map((i) => `  - ${i.path.join(".") || "(top level)"}: ${i.message}`).join("\n")}`,
    );
  }
  return r.data;
}

/**
 * Runs a validated plan: validates the agent config first (so a bad plan writes nothing), fetches
 * each distinct parameter once, writes every file, then the agent config.
 */
export async function nodeInit(plan: NodeInitPlan, deps: NodeInitDeps): Promise<{ written: string[] }> {
  const agentConfig = plan.agentConfig ? validateAgentConfig(plan.agentConfig.config) : undefined;
  const region = plan.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  const values = new Map<string, string>();
  const where = (f: NodeInitPlan["files"][number]) => `${f.region ?? region ?? ""} ${f.parameter}`;
  for (const f of plan.files) {
    if (!values.has(where(f))) values.set(where(f), await deps.readParameter(f.parameter, f.region ?? region));
  }
  const written: string[] = [];
  for (const f of plan.files) {
    const value = values.get(where(f)) ?? "";
    if (value === "") throw new NodeInitError(`SSM parameter ${f.parameter}: is empty`);
    writePrivate(f.path, value.endsWith("\n") ? value : `${value}\n`, parseInt(f.mode, 8), deps.lookupUser(f.owner));
    written.push(f.path);
  }
  if (plan.agentConfig && agentConfig) {
    // The input config is written (not the parsed one with defaults filled in) so the file stays
    // what the deployer rendered; the agent applies the same defaults when it loads it.
    writePrivate(
      plan.agentConfig.path,
      `${JSON.stringify(plan.agentConfig.config, null, 2)}\n`,
      parseInt(plan.agentConfig.mode, 8),
      deps.lookupUser(plan.agentConfig.owner),
    );
    written.push(plan.agentConfig.path);
  }
  deps.log(`wrote ${written.length} file(s): ${written.join(", ")}`);
  return { written };
}

/** Reads the plan file and runs it. What `hapg node-init --plan FILE` should call. */
export async function runNodeInit(planFile: string, deps: NodeInitDeps = systemDeps): Promise<{ written: string[] }> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(planFile, "utf8"));
  } catch (e) {
    throw new NodeInitError(`${planFile}: cannot read the node-init plan (${(e as Error).message})`);
  }
  return nodeInit(parseNodeInitPlan(raw), deps);
}
