/**
 * "A backup running" (issue 17) on a cluster started with the backup repository (`--backup`): a full
 * backup is started the way `hapg backup` starts it (on the member the cluster picks: a streaming
 * replica, backup from standby, else the leader), and the leader's node is killed while it runs.
 * The outage is judged like crash-node's. Its own checks, after full health: the backup ended (done,
 * or failed because the primary it started on went away) instead of holding the cluster's backup
 * slot, and the next backup, on the new leader's cluster, succeeds.
 */
import { callApi, localApiCredentials } from "../../sidecar/api/client";
import type { BackupView } from "../../sidecar/backup/service";
import { killNode, waitForPrimary } from "../../local/faults";
import { findNode, httpGet, readClusterFile } from "../../local/state";
import { sleep } from "../../sidecar/postgres/process";
import { check, restartWhenGone } from "../faults/context";
import type { ChaosCtx, ChaosInjected } from "./replica-faults";

/** How long the backup runs before the crash: drawn in this range, so the crash lands in different phases (start, copy). */
const CRASH_AFTER_MS = [300, 2500] as const;
/** A backup of the local cluster takes seconds: each must end (done or failed) this long after full health, or after it started. */
const BACKUP_END_MS = 60_000;

async function backupView(dir: string, member: string): Promise<BackupView | undefined> {
  const r = await httpGet(`${findNode(readClusterFile(dir), member).apiUrl}/backup`, 3000).catch(() => undefined);
  return r?.status === 200 ? (r.body as BackupView) : undefined;
}

/** POST /backup as `hapg backup` does it: to the leader, then to the member its 409 names. Throws unless one started it. */
export async function startBackup(dir: string, leader: string, type: "full" | "incr"): Promise<{ member: string; slot: string }> {
  const c = readClusterFile(dir);
  const auth = localApiCredentials(c);
  let r = await callApi(findNode(c, leader).apiUrl, "POST", "/backup", { type }, auth);
  if (r.status === 409 && typeof r.body.member === "string")
    r = await callApi(findNode(c, r.body.member).apiUrl, "POST", "/backup", { type }, auth);
  if (r.status !== 202) throw new Error(`POST /backup: ${r.status} ${JSON.stringify(r.body)}`);
  return { member: String(r.body.member), slot: String(r.body.slot) };
}

/** The cluster's backup claim (etcd's backup key, as any member's GET /backup shows it) once it is no longer "running"; undefined at the deadline. */
async function claimEnded(dir: string, slot: string | undefined, timeoutMs: number): Promise<BackupView["claim"] | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const n of readClusterFile(dir).nodes) {
      const claim = (await backupView(dir, n.name))?.claim;
      if (claim && claim.state !== "running" && (slot === undefined || claim.slot === slot)) return claim;
      if (claim) break;
    }
    if (Date.now() > deadline) return undefined;
    await sleep(500);
  }
}

/** kill -9 of the leader's node while a full backup runs; the node is started again once another member is primary. */
export async function crashDuringBackup(ctx: ChaosCtx): Promise<ChaosInjected> {
  // A backup left running by the previous fault (a scheduled slot taken over) would refuse ours: let it end.
  await claimEnded(ctx.dir, undefined, 60_000);
  const b = await startBackup(ctx.dir, ctx.leader, "full");
  await sleep(CRASH_AFTER_MS[0] + Math.floor(ctx.random() * (CRASH_AFTER_MS[1] - CRASH_AFTER_MS[0])));
  const running = (await backupView(ctx.dir, b.member))?.running?.slot === b.slot;
  const f = killNode(ctx.dir, ctx.leader);
  ctx.say(`  killed ${ctx.leader} with a full backup ${running ? "running" : "already ended (!)"} on ${b.member} (slot ${b.slot})`);
  check(ctx, "the backup was running when the leader crashed", running, `${b.member}'s GET /backup no longer showed slot ${b.slot}`);
  const next = await waitForPrimary(ctx.dir, { exclude: [ctx.leader], timeoutMs: 30_000 }).catch(() => undefined);
  check(ctx, "another member took over during the backup", next !== undefined, next ? `${next} did` : "nobody did within 30 s");
  await restartWhenGone(ctx, ctx.leader);
  return { faultAt: f.at, target: ctx.leader, newPrimary: next ?? (await waitForPrimary(ctx.dir, { timeoutMs: 60_000 })) };
}

/** After full health: the crashed backup's slot is free again, and a new (incremental) backup succeeds. */
export async function backupsWorkAgain(ctx: ChaosCtx): Promise<void> {
  const ended = await claimEnded(ctx.dir, undefined, BACKUP_END_MS);
  check(ctx, "the backup slot is free again", ended !== undefined, `the backup key still says running after ${BACKUP_END_MS / 1000} s`);
  if (!ended) return;
  ctx.say(`  the crashed backup ended: slot ${ended.slot} ${ended.state}${ended.error ? ` (${ended.error.slice(0, 100)})` : ""}`);
  let b: { member: string; slot: string };
  try {
    b = await startBackup(ctx.dir, ctx.leader, "incr");
  } catch (e) {
    check(ctx, "a backup after the fault starts", false, (e as Error).message);
    return;
  }
  const done = await claimEnded(ctx.dir, b.slot, BACKUP_END_MS);
  check(
    ctx,
    "a backup after the fault succeeds",
    done?.state === "done",
    done ? `${b.member}: ${done.state} ${done.error ?? ""}` : `not ended within ${BACKUP_END_MS / 1000} s`,
  );
  if (done) ctx.say(`  a backup after the fault: ${done.state} on ${b.member} (${done.label ?? done.error ?? ""})`);
}
