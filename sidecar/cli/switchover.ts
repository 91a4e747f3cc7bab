/**
 * `hapg switchover` and `hapg failover`: ask a member's API (found from a local cluster's directory
 * or given as a URL) for a planned switchover or a manual failover, and print what happened.
 */
import * as fs from "node:fs";
import { createInterface } from "node:readline/promises";
import type { Command } from "commander";
import { callTarget, localApiCredentials, type ApiReply, type ApiTarget } from "../api/client";
import { readCaFile } from "../http/transport";
import { DEFAULT_CLI_CONFIG, defaultCliConfigFile, loadCliConfig } from "../contract/cli-config";
import { cliConfigTargets } from "./cli-targets";

export interface CommonOpts {
  dir?: string;
  api?: string;
  user?: string;
  passwordFile?: string;
  cacert?: string;
  json?: boolean;
  force?: boolean;
}

/** The member API a command calls (the commands of ./config-cmds.ts share it). */
export type Target = ApiTarget;

/** The first target whose agent answers at all (any member's API takes these calls). */
async function firstAnswering(targets: ApiTarget[], where: string): Promise<ApiTarget> {
  for (const t of targets) {
    const ok = await callTarget(t, "GET", "/liveness", undefined, 1000).then(
      () => true,
      () => false,
    );
    if (ok) return t;
  }
  throw new Error(`no agent of ${where} answers on its API (${targets.map((t) => t.api).join(", ")}): is the cluster running?`);
}

/**
 * The member API to call and its credentials: --api URL (+ --user/--password-file or HAPG_API_PASSWORD,
 * --cacert for https), --dir of a local cluster, or, with neither, the CLI config every AWS node has.
 */
export async function target(o: CommonOpts): Promise<Target> {
  if (o.dir !== undefined && o.api !== undefined)
    throw new Error("give only one of --dir DIR (a local cluster) or --api URL (a member's API)");
  if (o.api !== undefined) {
    if (!/^https?:\/\/[^/]+/.test(o.api)) throw new Error(`--api: "${o.api}" is not an http(s) URL, e.g. https://10.0.1.21:8008`);
    const password = o.passwordFile ? fs.readFileSync(o.passwordFile, "utf8").trim() : process.env.HAPG_API_PASSWORD;
    if (o.passwordFile && !password) throw new Error(`--password-file: ${o.passwordFile} is empty`);
    return {
      api: o.api.replace(/\/+$/, ""),
      auth: password ? { username: o.user ?? "hapg", password } : undefined,
      ca: o.cacert === undefined ? undefined : readCaFile(o.cacert, "--cacert"),
    };
  }
  if (o.dir !== undefined) {
    const { readClusterFile } = await import("./cluster-file");
    const c = readClusterFile(o.dir);
    const auth = localApiCredentials(c);
    return firstAnswering(
      c.nodes.map((n) => ({ api: n.apiUrl, auth })),
      `the cluster in ${o.dir} (hapg local status --dir ${o.dir})`,
    );
  }
  const file = defaultCliConfigFile();
  if (!file)
    throw new Error(`give --dir DIR (a local cluster) or --api URL (a member's API); on an AWS node ${DEFAULT_CLI_CONFIG} says it`);
  return firstAnswering(cliConfigTargets(file, loadCliConfig(file)), `the cluster in ${file}`);
}

async function currentLeader(t: ApiTarget): Promise<string | undefined> {
  const r = await callTarget(t, "GET", "/cluster");
  const members = (r.body.members ?? []) as { name: string; role: string }[];
  return members.find((m) => m.role === "leader")?.name;
}

async function confirm(question: string, o: CommonOpts): Promise<void> {
  if (o.force || o.json) return;
  if (!process.stdin.isTTY) throw new Error("not asking for confirmation without a terminal: add --force");
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  const answer = await rl.question(`${question} [y/N] `);
  rl.close();
  if (!/^y(es)?$/i.test(answer.trim())) throw new Error("aborted: nothing was changed");
}

export function report(what: string, r: ApiReply, o: CommonOpts): void {
  if (o.json) console.log(JSON.stringify({ status: r.status, ...r.body }));
  else if (r.status < 300) console.log(`${what}: ${r.body.message ?? "done"}`);
  if (r.status >= 300) {
    const hint = r.status === 401 ? " (give the API's credentials: --password-file FILE, or HAPG_API_PASSWORD)" : "";
    throw new Error(`${what} refused (HTTP ${r.status}): ${r.body.error ?? JSON.stringify(r.body)}${hint}`);
  }
}

/** Which cluster a command talks to (what `target` reads) and --json. */
export function apiSource(cmd: Command, jsonHelp = "print the API's answer as JSON"): Command {
  return cmd
    .option("--dir <dir>", "a local cluster's directory (hapg local up --dir)")
    .option("--api <url>", "a member's API, e.g. https://10.0.1.21:8008 (default on an AWS node: /etc/hapg/cli.json)")
    .option("--cacert <file>", "with an https:// --api: the cluster CA certificate (PEM)")
    .option("--user <name>", "API user (with --api)", "hapg")
    .option("--password-file <file>", "file holding the API password (with --api; or set HAPG_API_PASSWORD)")
    .option("--json", jsonHelp);
}

/** apiSource plus --force, for commands that ask before they act. */
export function common(cmd: Command): Command {
  return apiSource(cmd.option("--force", "do not ask for confirmation"));
}

export function registerSwitchoverCommands(program: Command): void {
  common(
    program
      .command("switchover")
      .description("planned switchover: the leader hands over to a replica (no write is lost, the old leader follows without a rewind)")
      .option("--candidate <member>", "the member to hand over to (default: the most advanced eligible replica)")
      .option("--leader <member>", "the current leader (default: read from the cluster)")
      .option("--scheduled <time>", "ISO 8601 time with a time zone, e.g. 2026-11-27T16:00:00Z")
      .option("--cancel", "cancel a scheduled switchover"),
  ).action(async (o: CommonOpts & { candidate?: string; leader?: string; scheduled?: string; cancel?: boolean }) => {
    const t = await target(o);
    if (o.cancel) return report("cancel", await callTarget(t, "DELETE", "/switchover"), o);
    const leader = o.leader ?? (await currentLeader(t));
    if (!leader) throw new Error("the cluster has no leader now: use hapg failover --candidate MEMBER");
    const to = o.candidate ?? "the most advanced eligible replica";
    await confirm(`Switch over from ${leader} to ${to}${o.scheduled ? ` at ${o.scheduled}` : " now"}?`, o);
    const body = { leader, ...(o.candidate ? { candidate: o.candidate } : {}), ...(o.scheduled ? { scheduled_at: o.scheduled } : {}) };
    report("switchover", await callTarget(t, "POST", "/switchover", body), o);
  });
  common(
    program
      .command("failover")
      .description("manual failover: promote the named member (also when there is no healthy leader)")
      .requiredOption("--candidate <member>", "the member to promote"),
  ).action(async (o: CommonOpts & { candidate: string }) => {
    const t = await target(o);
    await confirm(`Fail over to ${o.candidate}?`, o);
    report("failover", await callTarget(t, "POST", "/failover", { candidate: o.candidate }), o);
  });
}
