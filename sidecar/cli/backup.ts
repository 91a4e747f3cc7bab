/**
 * `hapg backup [--type full|diff|incr]`: take a backup now, on the member that should take it (the
 * API of any member names it), and show its progress; `hapg backup list [--json]`: the backups in
 * the repository (type, start and stop, size, WAL range).
 */
import type { Command } from "commander";
import { callTarget } from "../api/client";
import type { StanzaInfo } from "../backup/pgbackrest";
import type { BackupOperation, BackupView } from "../backup/service";
import { apiSource, target, type CommonOpts } from "./switchover";

const TYPES = ["full", "diff", "incr"];
const POLL_MS = 2000;

const source = (cmd: Command) => apiSource(cmd, "print JSON instead of text");

const base = (apiUrl: string) => apiUrl.replace(/\/patroni\/?$/, "").replace(/\/+$/, "");

async function takeBackup(o: CommonOpts & { type: string; wait?: boolean }): Promise<void> {
  if (!TYPES.includes(o.type)) throw new Error(`--type: "${o.type}" must be one of ${TYPES.join(", ")}`);
  let t = await target(o);
  let r = await callTarget(t, "POST", "/backup", { type: o.type });
  // Another member should take it (the leader, or a replica for backup-from-standby): ask it.
  if (r.status === 409 && typeof r.body.api_url === "string") {
    t = { ...t, api: base(r.body.api_url) };
    r = await callTarget(t, "POST", "/backup", { type: o.type });
  }
  if (r.status !== 202) {
    const hint = r.status === 401 ? " (give the API's credentials: --password-file FILE, or HAPG_API_PASSWORD)" : "";
    throw new Error(`backup refused (HTTP ${r.status}): ${r.body.error ?? JSON.stringify(r.body)}${hint}`);
  }
  const slot = String(r.body.slot);
  if (!o.json) console.log(`${r.body.message} (slot ${slot})`);
  if (o.wait === false) return;
  const { progressText } = await import("./backup-render");
  let lastLine = "";
  for (;;) {
    await new Promise((res) => setTimeout(res, POLL_MS));
    const v = (await callTarget(t, "GET", "/backup")).body as unknown as BackupView;
    if (v.running?.slot === slot) {
      const line = progressText(v.running, Date.now());
      if (!o.json && line !== lastLine) console.log(`  ${line}`);
      lastLine = line;
      continue;
    }
    const done: BackupOperation | undefined = v.last?.slot === slot ? v.last : undefined;
    if (!done) continue;
    if (o.json) console.log(JSON.stringify(done, null, 2));
    if (done.state === "failed") throw new Error(`backup failed: ${done.error ?? "see the agent's log"}`);
    if (!o.json)
      console.log(`backup ${done.label ?? ""} done in ${Math.round((Date.parse(done.finished!) - Date.parse(done.started)) / 1000)} s`);
    return;
  }
}

async function listBackups(o: CommonOpts): Promise<void> {
  const t = await target(o);
  const r = await callTarget(t, "GET", "/backups");
  if (r.status !== 200) throw new Error(`cannot list the backups (HTTP ${r.status}): ${r.body.error ?? JSON.stringify(r.body)}`);
  const info = r.body as unknown as StanzaInfo;
  const { backupListText, backupRows } = await import("./backup-render");
  if (o.json) console.log(JSON.stringify(backupRows(info), null, 2));
  else {
    const v = (await callTarget(t, "GET", "/backup")).body as unknown as BackupView;
    console.log(backupListText(info, v.stanza));
  }
}

export function registerBackupCommands(program: Command): void {
  const backup = source(
    program
      .command("backup")
      .description("take a backup now (pgBackRest), on the member that should take it, and show its progress; `backup list` lists them")
      .option("--type <type>", "full, diff (changes since the last full) or incr (since the last backup)", "full")
      .option("--no-wait", "return once the backup started"),
  ).action((o: CommonOpts & { type: string; wait?: boolean }) => takeBackup(o));
  // `backup list --dir X`: the parent command parses the shared flags too, so read both.
  source(backup.command("list").description("the backups in the repository: type, start and stop, size, WAL range")).action(
    (_o: CommonOpts, cmd: Command) => listBackups(cmd.optsWithGlobals<CommonOpts>()),
  );
}
