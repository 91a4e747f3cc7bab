/**
 * `hapg switchover` and `hapg failover`: ask a member's API (found from a local cluster's directory
 * or given as a URL) for a planned switchover or a manual failover, and print what happened.
 */
import * as fs from "node:fs";
import { createInterface } from "node:readline/promises";
import type { Command } from "commander";
import { callApi, localApiCredentials, type ApiReply } from "../api/client";
import type { ApiCredentials } from "../api/mutations";

export interface Target {
  api: string;
  auth?: ApiCredentials;
}

export interface CommonOpts {
  dir?: string;
  api?: string;
  user?: string;
  passwordFile?: string;
  json?: boolean;
  force?: boolean;
}

/** The member API to call and its credentials: --api URL (+ --user/--password-file or HAPG_API_PASSWORD), or --dir of a local cluster. */
export async function target(o: CommonOpts): Promise<Target> {
  if ((o.dir === undefined) === (o.api === undefined))
    throw new Error("give exactly one of --dir DIR (a local cluster) or --api URL (a member's API)");
  if (o.api !== undefined) {
    if (!/^https?:\/\/[^/]+/.test(o.api)) throw new Error(`--api: "${o.api}" is not an http(s) URL, e.g. http://10.0.1.21:8008`);
    const password = o.passwordFile ? fs.readFileSync(o.passwordFile, "utf8").trim() : process.env.HAPG_API_PASSWORD;
    if (o.passwordFile && !password) throw new Error(`--password-file: ${o.passwordFile} is empty`);
    return { api: o.api.replace(/\/+$/, ""), auth: password ? { username: o.user ?? "hapg", password } : undefined };
  }
  const { readClusterFile } = await import("../local/state");
  const c = readClusterFile(o.dir!);
  // Any member's API answers; the first one that does is used.
  for (const n of c.nodes) {
    const ok = await fetch(`${n.apiUrl}/liveness`, { signal: AbortSignal.timeout(1000) }).then(
      () => true,
      () => false,
    );
    if (ok) return { api: n.apiUrl, auth: localApiCredentials(c) };
  }
  throw new Error(`no agent of the cluster in ${o.dir} answers on its API: is it running (hapg local status --dir ${o.dir})?`);
}

async function currentLeader(api: string): Promise<string | undefined> {
  const r = await callApi(api, "GET", "/cluster");
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

function report(what: string, r: ApiReply, o: CommonOpts): void {
  if (o.json) console.log(JSON.stringify({ status: r.status, ...r.body }));
  else if (r.status < 300) console.log(`${what}: ${r.body.message ?? "done"}`);
  if (r.status >= 300) {
    const hint = r.status === 401 ? " (give the API's credentials: --password-file FILE, or HAPG_API_PASSWORD)" : "";
    throw new Error(`${what} refused (HTTP ${r.status}): ${r.body.error ?? JSON.stringify(r.body)}${hint}`);
  }
}

function common(cmd: Command): Command {
  return cmd
    .option("--dir <dir>", "a local cluster's directory (hapg local up --dir)")
    .option("--api <url>", "a member's API, e.g. http://10.0.1.21:8008")
    .option("--user <name>", "API user (with --api)", "hapg")
    .option("--password-file <file>", "file holding the API password (with --api; or set HAPG_API_PASSWORD)")
    .option("--force", "do not ask for confirmation")
    .option("--json", "print the API's answer as JSON");
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
    if (o.cancel) return report("cancel", await callApi(t.api, "DELETE", "/switchover", undefined, t.auth), o);
    const leader = o.leader ?? (await currentLeader(t.api));
    if (!leader) throw new Error("the cluster has no leader now: use hapg failover --candidate MEMBER");
    const to = o.candidate ?? "the most advanced eligible replica";
    await confirm(`Switch over from ${leader} to ${to}${o.scheduled ? ` at ${o.scheduled}` : " now"}?`, o);
    const body = { leader, ...(o.candidate ? { candidate: o.candidate } : {}), ...(o.scheduled ? { scheduled_at: o.scheduled } : {}) };
    report("switchover", await callApi(t.api, "POST", "/switchover", body, t.auth), o);
  });
  common(
    program
      .command("failover")
      .description("manual failover: promote the named member (also when there is no healthy leader)")
      .requiredOption("--candidate <member>", "the member to promote"),
  ).action(async (o: CommonOpts & { candidate: string }) => {
    const t = await target(o);
    await confirm(`Fail over to ${o.candidate}?`, o);
    report("failover", await callApi(t.api, "POST", "/failover", { candidate: o.candidate }, t.auth), o);
  });
}
