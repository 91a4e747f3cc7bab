/**
 * `hapg pause [--wait]`, `hapg resume [--wait]` and `hapg edit-config`: change etcd's `config` key
 * through a member's API (PATCH /config, authenticated), as patronictl does. `show-config` is in ./ops.ts.
 */
import { createInterface } from "node:readline/promises";
import type { Command } from "commander";
import { callTarget } from "../api/client";
import { NO_RETRY } from "../http/retry";
import { apiRequest } from "../http/transport";
import type { DynamicConfig } from "../contract/settings/dynamic";
import { common, report, target, type CommonOpts, type Target } from "./switchover";

interface WaitOpts extends CommonOpts {
  wait?: boolean;
}

interface EditOpts extends CommonOpts {
  set: string[];
  pg: string[];
}

const collect = (v: string, prev: string[]) => [...prev, v];

async function currentConfig(t: Target): Promise<DynamicConfig> {
  const r = await callTarget(t, "GET", "/config");
  if (r.status !== 200) throw new Error(`GET /config on ${t.api} answered ${r.status}: ${r.body.error ?? ""}`);
  return r.body as DynamicConfig;
}

/** Waits until every member's /patroni shows (or no longer shows) `pause: true`. */
async function waitForMembers(t: Target, paused: boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await callTarget(t, "GET", "/cluster").catch(() => undefined);
    const members = ((r?.body.members ?? []) as { name: string; api_url?: string }[]).filter((m) => m.api_url);
    const states = await Promise.all(
      members.map((m) =>
        // https:// on AWS: verified with the same CA as the target (the cluster CA).
        apiRequest(m.api_url!, { timeoutMs: 2000, ca: t.ca, retry: NO_RETRY })
          .then((x) => JSON.parse(x.text) as { pause?: boolean })
          .then((b) => b.pause === true)
          .catch(() => undefined),
      ),
    );
    const waiting = members.filter((_, i) => states[i] !== paused).map((m) => m.name);
    if (members.length && waiting.length === 0) return;
    if (Date.now() > deadline)
      throw new Error(`members not ${paused ? "paused" : "resumed"} after ${timeoutMs / 1000} s: ${waiting.join(", ")}`);
    await new Promise((res) => setTimeout(res, 500));
  }
}

async function setPause(o: WaitOpts, paused: boolean): Promise<void> {
  const t = await target(o);
  const what = paused ? "pause" : "resume";
  if (((await currentConfig(t)).pause === true) === paused)
    throw new Error(`the cluster is ${paused ? "already paused" : "not paused"}: nothing to do`);
  const r = await callTarget(t, "PATCH", "/config", { pause: paused ? true : null });
  if (r.status >= 300) return report(what, r, o);
  if (o.wait) {
    if (!o.json) console.log(`Waiting for every member to ${paused ? "enter" : "leave"} maintenance mode...`);
    await waitForMembers(t, paused);
  }
  if (o.json) console.log(JSON.stringify({ status: r.status, paused, config: r.body }));
  else
    console.log(
      paused ? "Success: cluster management is paused (maintenance mode: no automatic failover)" : "Success: cluster management is resumed",
    );
}

async function confirmChange(o: CommonOpts): Promise<void> {
  if (o.force) return;
  if (!process.stdin.isTTY) throw new Error("not asking for confirmation without a terminal: add --force");
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  const answer = await rl.question("Apply these changes? [y/N] ");
  rl.close();
  if (!/^y(es)?$/i.test(answer.trim())) throw new Error("aborted: nothing was changed");
}

async function editConfig(o: EditOpts): Promise<void> {
  const { configDiff, FlagError, patchFromFlags, previewPatch } = await import("./config-edit");
  if (o.set.length === 0 && o.pg.length === 0) {
    throw new FlagError(
      "say what to change: --set KEY=VALUE (e.g. --set loop_wait=2, --set pause=null) or --pg NAME=VALUE (e.g. --pg work_mem=8MB)",
    );
  }
  const patch = patchFromFlags(o.set, o.pg);
  const t = await target(o);
  const before = await currentConfig(t);
  const diff = configDiff(before, previewPatch(before, patch));
  const changed = diff.some((l) => !l.startsWith(" "));
  if (!changed) {
    if (o.json) console.log(JSON.stringify({ changed: false, config: before }));
    else console.log("Not changed");
    return;
  }
  if (!o.json) console.log(diff.join("\n"));
  await confirmChange(o);
  const r = await callTarget(t, "PATCH", "/config", patch);
  if (r.status >= 300) return report("edit-config", r, o);
  if (o.json) console.log(JSON.stringify({ changed: true, diff, config: r.body }));
  else console.log("Configuration changed");
}

export function registerConfigCommands(program: Command): void {
  common(
    program.command("pause").description("maintenance mode: no member fails over, promotes or demotes by itself (like patronictl pause)"),
  )
    .option("--wait", "wait until every member reports maintenance mode")
    .action((o: WaitOpts) => setPause(o, true));
  common(program.command("resume").description("leave maintenance mode: automatic failover again (like patronictl resume)"))
    .option("--wait", "wait until every member has left maintenance mode")
    .action((o: WaitOpts) => setPause(o, false));
  common(
    program
      .command("edit-config")
      .description("change the dynamic configuration (etcd's config key): shows the diff and asks before applying unless --force"),
  )
    .option(
      "--set <KEY=VALUE>",
      "set a key, e.g. loop_wait=2 or postgresql.parameters.work_mem=8MB; VALUE null removes it (repeatable)",
      collect,
      [],
    )
    .option("--pg <NAME=VALUE>", "set a PostgreSQL parameter, e.g. work_mem=8MB; VALUE null removes it (repeatable)", collect, [])
    .action((o: EditOpts) => editConfig(o));
}
