/**
 * `hapg restart`, `hapg reinit`, `hapg reload`: the operator's commands on members, through their
 * REST API (POST/DELETE /restart, POST /reinitialize, POST /reload). The cluster is found as by
 * `hapg list` (--api, --dir, --config, --etcd); each member is then called on its own API.
 * A restart of several members is a rolling restart (./restart-plan.ts) with a line per step.
 */
import * as fs from "node:fs";
import { createInterface } from "node:readline/promises";
import type { Command } from "commander";
import { callApi, type ApiReply } from "../api/client";
import type { ApiCredentials } from "../api/mutations";
import { withSource } from "./ops";
import type { ClusterSource, ClusterView, SourceFlags } from "./ops-source";
import type { RestartStep, RoleFlag } from "./restart-plan";

interface OpFlags extends SourceFlags {
  json?: boolean;
  force?: boolean;
  user?: string;
  passwordFile?: string;
}

interface RestartFlags extends OpFlags {
  role?: RoleFlag;
  pending?: boolean;
  scheduled?: string;
  cancel?: boolean;
  pgTimeout?: string;
}

/** A member's own answers while a step waits for it (GET /patroni). */
interface PatroniView {
  state?: string;
  role?: string;
  replication_state?: string;
  postmaster_start_time?: string;
  pending_restart?: boolean;
}

/** A restart, reinitialize or reload can take minutes (crash recovery, a base copy). */
const CALL_TIMEOUT_MS = 10 * 60_000;
const WAIT_MS = { restart: 120_000, reinit: 30 * 60_000 };

const ops = () => import("./ops-source");

async function flagError(message: string): Promise<Error> {
  return new (await ops()).FlagError(message);
}

/** The API credentials: --password-file / HAPG_API_PASSWORD, else those of a local cluster (--dir) or a node's agent config (--config). */
async function credentials(f: OpFlags): Promise<ApiCredentials | undefined> {
  const username = f.user ?? "hapg";
  if (f.passwordFile !== undefined) {
    if (!fs.existsSync(f.passwordFile))
      throw await flagError(`--password-file ${f.passwordFile}: no such file: give the API password's file`);
    const password = fs.readFileSync(f.passwordFile, "utf8").trim();
    if (!password) throw await flagError(`--password-file ${f.passwordFile}: the file is empty: give the API password's file`);
    return { username, password };
  }
  if (process.env.HAPG_API_PASSWORD) return { username, password: process.env.HAPG_API_PASSWORD };
  if (f.dir !== undefined) {
    const [{ readClusterFile }, { localApiCredentials }] = await Promise.all([import("./cluster-file"), import("../api/client")]);
    return localApiCredentials(readClusterFile(f.dir));
  }
  if (f.config !== undefined) {
    const { loadAgentConfig, readCredential } = await import("../config/load");
    const auth = loadAgentConfig(f.config).api.authentication;
    return auth && readCredential("api.authentication", auth);
  }
  return undefined;
}

interface Access {
  source: ClusterSource;
  auth?: ApiCredentials;
  /** Calls a member's API at base with the credentials and the source's CA (https:// APIs on AWS nodes). */
  call(base: string, method: string, path: string, body?: unknown, timeoutMs?: number): Promise<ApiReply>;
}

async function withAccess<T>(f: OpFlags, run: (a: Access) => Promise<T>): Promise<T> {
  const source = (await ops()).sourceFromFlags(f);
  try {
    const auth = await credentials(f);
    return await run({
      source,
      auth,
      call: (base, method, p, body, timeoutMs) => callApi(base, method, p, body, auth, timeoutMs, source.ca),
    });
  } finally {
    await source.close();
  }
}

/** A member's API base URL from its member key's api_url (http://host:8008/patroni). */
function apiOf(view: ClusterView, name: string): string {
  const m = view.members.find((x) => x.name === name);
  if (!m?.api_url) throw new Error(`${name}: its member key names no API URL: is its agent running?`);
  return m.api_url.replace(/\/patroni\/?$/, "").replace(/\/+$/, "");
}

async function confirm(question: string, f: OpFlags): Promise<void> {
  if (f.force || f.json) return;
  if (!process.stdin.isTTY) throw new Error("not asking for confirmation without a terminal: add --force");
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  const answer = await rl.question(`${question} [y/N] `);
  rl.close();
  if (!/^y(es)?$/i.test(answer.trim())) throw new Error("aborted: nothing was changed");
}

function refused(what: string, r: ApiReply): Error {
  const hint = r.status === 401 ? " (give the API's credentials: --password-file FILE, or HAPG_API_PASSWORD)" : "";
  return new Error(`${what} refused (HTTP ${r.status}): ${r.body.error ?? JSON.stringify(r.body)}${hint}`);
}

async function patroni(a: Access, api: string): Promise<PatroniView | undefined> {
  return a.call(api, "GET", "/patroni", undefined, 2000).then(
    (r) => r.body as unknown as PatroniView,
    () => undefined,
  );
}

async function primaryOk(a: Access, api: string): Promise<boolean> {
  return a.call(api, "GET", "/primary", undefined, 2000).then(
    (r) => r.status === 200,
    () => false,
  );
}

/** Polls until ok(view) or the time is up (then throws saying what it waited for). */
async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    if (await check()) return Date.now() - t0;
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what} not seen within ${Math.round(timeoutMs / 1000)} s: check hapg list`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Streaming from the leader again, in a postmaster started after `before`. */
function streamsAgain(a: Access, api: string, before: string | undefined): () => Promise<boolean> {
  return async () => {
    const p = await patroni(a, api);
    return p?.role === "replica" && p.replication_state === "streaming" && (before === undefined || p.postmaster_start_time !== before);
  };
}

interface StepResult {
  step: string;
  member: string;
  status: number | "skipped";
  /** When the step started (ms since the epoch) and how long it took. */
  at: number;
  ms: number;
  message: string;
}

async function runSteps(steps: RestartStep[], f: RestartFlags, a: Access, say: (line: string) => void): Promise<StepResult[]> {
  const results: StepResult[] = [];
  const body = {
    ...(f.pending ? { restart_pending: true } : {}),
    ...(f.pgTimeout !== undefined ? { timeout: Number(f.pgTimeout) } : {}),
  };
  for (const [i, s] of steps.entries()) {
    const n = `[${i + 1}/${steps.length}]`;
    const view = await a.source.cluster();
    const t0 = Date.now();
    if (s.kind === "switchover") {
      say(`${n} switchover from ${s.from}: the leader hands over to a streaming replica...`);
      // The leader picks its candidate from the member keys: wait until one says it streams.
      await waitFor(`a replica of ${s.from} streaming (hapg list)`, WAIT_MS.restart, async () =>
        (await a.source.cluster()).members.some((m) => m.name !== s.from && m.state === "streaming"),
      );
      const r = await a.call(apiOf(view, s.from), "POST", "/switchover", { leader: s.from }, CALL_TIMEOUT_MS);
      if (r.status !== 200) throw refused(`switchover from ${s.from}`, r);
      const to = /to "(.+)"/.exec(r.body.message ?? "")?.[1] ?? "?";
      const after = await a.source.cluster();
      await waitFor(`${to} writable`, WAIT_MS.restart, () => primaryOk(a, apiOf(after, to)));
      await waitFor(`${s.from} streaming from ${to}`, WAIT_MS.restart, streamsAgain(a, apiOf(after, s.from), undefined));
      say(`${n} switchover: ${to} leads, ${s.from} streams from it (${Date.now() - t0} ms)`);
      results.push({ step: "switchover", member: s.from, status: 200, at: t0, ms: Date.now() - t0, message: r.body.message ?? "" });
      continue;
    }
    const api = apiOf(view, s.member);
    const before = (await patroni(a, api))?.postmaster_start_time;
    say(`${n} restart ${s.member} (${s.role})...`);
    const rb = { ...body, ...(f.role && f.role !== "any" ? { role: f.role } : {}) };
    const r = await a.call(api, "POST", "/restart", rb, CALL_TIMEOUT_MS);
    if (r.status === 503 && /restart conditions are not satisfied/.test(r.body.error ?? "")) {
      // The hand-over stops the old leader and starts it as a replica: a pending change is applied by then.
      const handedOver = steps[i - 1]?.kind === "switchover" && f.pending;
      const why = handedOver ? "the switchover restarted it already: no restart pending any more" : r.body.error;
      say(`${n} ${s.member}: skipped: ${why}`);
      results.push({ step: "restart", member: s.member, status: "skipped", at: t0, ms: Date.now() - t0, message: why ?? "" });
      continue;
    }
    if (r.status !== 200) throw refused(`restart of ${s.member}`, r);
    if (s.role === "replica") await waitFor(`${s.member} streaming again`, WAIT_MS.restart, streamsAgain(a, api, before));
    else await waitFor(`${s.member} writable again`, WAIT_MS.restart, () => primaryOk(a, api));
    const again = s.role === "replica" ? "streaming again" : "writable again";
    say(`${n} ${s.member}: ${r.body.message}; ${again} (${Date.now() - t0} ms)`);
    results.push({ step: "restart", member: s.member, status: 200, at: t0, ms: Date.now() - t0, message: r.body.message ?? "" });
  }
  return results;
}

function checkRestartFlags(member: string | undefined, f: RestartFlags): string | undefined {
  if (f.cancel && member === undefined) return "--cancel: name the MEMBER whose scheduled restart to cancel";
  if (f.cancel && (f.scheduled || f.pending || f.role)) return "--cancel: give it alone with MEMBER (no --scheduled, --pending, --role)";
  if (f.scheduled !== undefined && member === undefined)
    return "--scheduled: name one MEMBER; a restart of several members runs now, in a safe order";
  if (f.pgTimeout !== undefined && !(Number(f.pgTimeout) > 0)) return `--pg-timeout "${f.pgTimeout}": give seconds, a number above 0`;
  return undefined;
}

async function restartCommand(member: string | undefined, f: RestartFlags): Promise<void> {
  const problem = checkRestartFlags(member, f);
  if (problem) throw await flagError(problem);
  const say = (line: string) => (f.json ? undefined : console.log(line));
  await withAccess(f, async (a) => {
    const view = await a.source.cluster();
    const { describePlan, planRestart } = await import("./restart-plan");
    const plan = planRestart(view, { member, role: f.role, pending: f.pending, scheduled: f.scheduled });
    if (!plan.ok) throw await flagError(plan.error);
    if (f.cancel) {
      const r = await a.call(apiOf(view, member!), "DELETE", "/restart", undefined);
      if (r.status !== 200) throw refused(`cancel of ${member}'s scheduled restart`, r);
      return f.json ? console.log(JSON.stringify({ status: r.status, ...r.body })) : say(`${member}: ${r.body.message}`);
    }
    if (f.scheduled !== undefined) {
      await confirm(`Restart ${member} at ${f.scheduled}?`, f);
      const body = {
        schedule: f.scheduled,
        ...(f.pending ? { restart_pending: true } : {}),
        ...(f.role && f.role !== "any" ? { role: f.role } : {}),
      };
      const r = await a.call(apiOf(view, member!), "POST", "/restart", body);
      if (r.status !== 202) throw refused(`scheduled restart of ${member}`, r);
      return f.json ? console.log(JSON.stringify({ status: r.status, ...r.body })) : say(`${member}: ${r.body.message}`);
    }
    for (const s of plan.skipped) say(`skipped ${s}`);
    if (plan.steps.length === 0) {
      if (f.json) console.log(JSON.stringify({ ok: true, steps: [], skipped: plan.skipped }));
      else say(f.pending ? "nothing to restart: no member reports a pending restart" : "nothing to restart");
      return;
    }
    await confirm(`${describePlan(plan.steps)}?`, f);
    const t0 = Date.now();
    try {
      const steps = await runSteps(plan.steps, f, a, say);
      if (f.json) console.log(JSON.stringify({ ok: true, ms: Date.now() - t0, steps, skipped: plan.skipped }));
      else if (plan.steps.length > 1) say(`rolling restart done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    } catch (e) {
      throw new Error(`${(e as Error).message}; the steps after it were not run`, { cause: e });
    }
  });
}

async function reinitCommand(member: string, f: OpFlags): Promise<void> {
  const say = (line: string) => (f.json ? undefined : console.log(line));
  await withAccess(f, async (a) => {
    const view = await a.source.cluster();
    if (!view.members.some((m) => m.name === member)) {
      throw await flagError(`MEMBER: no member named "${member}" (members: ${view.members.map((m) => m.name).join(", ") || "none"})`);
    }
    await confirm(`Reinitialize ${member}: wipe its data directory and copy it again from the leader?`, f);
    const api = apiOf(view, member);
    const t0 = Date.now();
    const before = (await patroni(a, api))?.postmaster_start_time;
    const r = await a.call(api, "POST", "/reinitialize", { force: f.force === true }, CALL_TIMEOUT_MS);
    if (r.status !== 200) throw refused(`reinitialize of ${member}`, r);
    say(`${member}: ${r.body.message}`);
    // The copy may be quick: a replica streaming from a postmaster other than the one before is the rebuilt one.
    await waitFor(`${member} streaming again`, WAIT_MS.reinit, streamsAgain(a, api, before));
    if (f.json) console.log(JSON.stringify({ status: r.status, ...r.body, ms: Date.now() - t0 }));
    else say(`${member}: reinitialized, streaming again (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  });
}

async function reloadCommand(member: string | undefined, f: OpFlags): Promise<void> {
  await withAccess(f, async (a) => {
    const view = await a.source.cluster();
    const names = member === undefined ? view.members.map((m) => m.name) : [member];
    if (member !== undefined && !view.members.some((m) => m.name === member)) {
      throw await flagError(`MEMBER: no member named "${member}" (members: ${view.members.map((m) => m.name).join(", ") || "none"})`);
    }
    await confirm(`Reload ${names.join(", ")}?`, f);
    const out: Record<string, unknown>[] = [];
    for (const name of names) {
      const r = await a.call(apiOf(view, name), "POST", "/reload", {});
      if (r.status >= 300) throw refused(`reload of ${name}`, r);
      out.push({ member: name, status: r.status, ...r.body });
      if (!f.json) console.log(`${name}: ${r.body.message}`);
    }
    if (f.json) console.log(JSON.stringify(out));
  });
}

function withApiAuth(cmd: Command): Command {
  return withSource(cmd)
    .option("--user <name>", "API user (default hapg)")
    .option("--password-file <file>", "file holding the API password (or set HAPG_API_PASSWORD; --dir and --config find it themselves)")
    .option("--force", "do not ask for confirmation");
}

export function registerRestartCommands(program: Command): void {
  withApiAuth(
    program
      .command("restart [member]")
      .description("restart PostgreSQL on one member, or on all in a safe order (replicas, then a switchover, then the old leader)"),
  )
    .option("--role <role>", "only members with this role: replica, primary or any")
    .option("--pending", "only members whose PostgreSQL reports a pending restart (a changed parameter)")
    .option("--scheduled <time>", "with MEMBER: restart at this ISO 8601 time with a time zone, e.g. 2026-11-27T16:00:00Z")
    .option("--cancel", "with MEMBER: cancel its scheduled restart")
    .option("--pg-timeout <seconds>", "seconds the restarted PostgreSQL may take to accept connections")
    .action((member: string | undefined, f: RestartFlags) => restartCommand(member, f));
  withApiAuth(
    program
      .command("reinit <member>")
      .description("rebuild a replica: wipe its data directory, copy it from the leader, stream again (refused on the leader)"),
  ).action((member: string, f: OpFlags) => reinitCommand(member, f));
  withApiAuth(
    program
      .command("reload [member]")
      .description("have every member (or one) re-read its config: agent parameters, postgresql.conf (pg_reload_conf)"),
  ).action((member: string | undefined, f: OpFlags) => reloadCommand(member, f));
}
