/**
 * Which backup is due, and which member takes it: pure functions of the `backup` key, the members
 * and the time. Every member computes the same plan from the same snapshot; only the chosen member
 * claims the slot, with a transaction on the key's previous value, so exactly one member takes each
 * slot. A failover does not skip a slot (the slot is a function of the schedule, not of who leads)
 * and cannot double one (the claim is on the key).
 */
import type { BackupClaim, Member } from "../dcs/types";
import { NEVER, type BackupPolicy } from "../contract/settings/backup";
import { parseCron, previousSlot, slotName } from "../contract/settings/cron";

/** A failed backup is tried again after this long (S3 may be back by then). */
export const BACKUP_RETRY_MS = 120_000;

export interface BackupPlanInput {
  policy: Pick<BackupPolicy, "schedule" | "fromStandby">;
  /** Wall-clock ms since the epoch. */
  now: number;
  claim?: BackupClaim;
  members: readonly Member[];
  leader?: string;
  /** The member planning, and whether it runs a backup now: its own "running" claim without one is left over from before a restart. */
  self?: { name: string; running: boolean };
}

export type BackupPlan = { due: true; claim: BackupClaim; reason: string } | { due: false; reason: string; next?: number };

/** The latest slot at or before `now` across the full and differential schedules; full wins a tie. */
export function latestScheduled(schedule: BackupPolicy["schedule"], now: number): { at: number; type: "full" | "diff" } | undefined {
  const full = schedule.full === NEVER ? undefined : previousSlot(parseCron(schedule.full), now);
  const diff = schedule.diff === NEVER ? undefined : previousSlot(parseCron(schedule.diff), now);
  if (full === undefined && diff === undefined) return undefined;
  if (diff === undefined || (full !== undefined && full >= diff)) return { at: full!, type: "full" };
  return { at: diff, type: "diff" };
}

/**
 * A replica further behind the leader's write position than this is not chosen: backup-from-standby
 * starts the backup on the primary and then waits for the replica to replay up to that point.
 */
export const STANDBY_BACKUP_MAX_LAG_BYTES = 16 * 1024 * 1024;

/**
 * Why the member `m` cannot take a backup from standby now (undefined: it can). Pure: from the member
 * keys alone, so every member reaches the same answer. The replica must stream from a leader whose
 * pgBackRest TLS server runs and which it reached itself (its key says so), be close behind, and carry
 * neither nofailover nor noloadbalance: both keep a member out of the normal duties (a replica kept
 * from reads, or one set aside), and a backup is read load.
 */
export function standbyBackupProblem(m: Member, leader: Member | undefined): string | undefined {
  if (!leader || m.name === leader.name) return "not a replica of a running leader";
  if (m.data.role !== "replica" || m.data.state !== "running") return `is ${m.data.role}, ${m.data.state}`;
  if (m.data.replication_state !== "streaming") return "does not stream";
  if (m.data.tags.nofailover || m.data.tags.noloadbalance) return "is tagged nofailover or noloadbalance";
  if (!leader.data.pgbackrest) return `the leader ${leader.name} runs no pgBackRest TLS server`;
  if (!m.data.pgbackrest) return "runs no pgBackRest TLS server";
  if (m.data.pgbackrest.reaches !== leader.name) return `has not reached ${leader.name}'s pgBackRest TLS server`;
  const lag = (leader.data.xlog_location ?? 0) - (m.data.xlog_location ?? 0);
  if (lag > STANDBY_BACKUP_MAX_LAG_BYTES) return `is ${lag} bytes behind the leader`;
  return undefined;
}

/**
 * Who takes a backup: with `fromStandby`, the replica able to (standbyBackupProblem) that is
 * furthest ahead (then by name), sparing the primary's I/O; otherwise, or without one, the leader.
 */
export function chooseBackupMember(members: readonly Member[], leader: string | undefined, fromStandby: boolean): string | undefined {
  const l = members.find((m) => m.name === leader && m.data.role === "primary" && m.data.state === "running");
  if (fromStandby && l) {
    const replicas = members
      .filter((m) => standbyBackupProblem(m, l) === undefined)
      .sort((a, b) => (b.data.xlog_location ?? 0) - (a.data.xlog_location ?? 0) || a.name.localeCompare(b.name));
    if (replicas.length) return replicas[0].name;
  }
  return l?.name;
}

const iso = (ms: number) => new Date(ms).toISOString();

export function planBackup(i: BackupPlanInput): BackupPlan {
  const { claim, now } = i;
  const alive = (name: string) => i.members.some((m) => m.name === name) && !(i.self?.name === name && !i.self.running);
  if (claim?.state === "running" && alive(claim.member)) {
    return { due: false, reason: `${claim.member} is taking the ${claim.type} backup of slot ${claim.slot}` };
  }
  const latest = latestScheduled(i.policy.schedule, now);
  const lastSlot = latest ? slotName(latest.at) : claim?.lastSlot;
  const pick = (initial: boolean) => chooseBackupMember(i.members, i.leader, !initial && i.policy.fromStandby);
  const make = (slot: string, type: BackupClaim["type"], member: string, keepLast?: string): BackupClaim => ({
    slot,
    type,
    member,
    state: "running",
    started: iso(now),
    ...((keepLast ?? lastSlot) ? { lastSlot: keepLast ?? lastSlot } : {}),
  });

  // The first full backup, right after bootstrap, on the leader: no replica streams yet, and a
  // point-in-time restore needs a backup from the first minute on. Slots before it are not owed.
  if (!claim) {
    const m = pick(true);
    if (!m) return { due: false, reason: "no running leader to take the first full backup yet" };
    return { due: true, claim: make("initial", "full", m), reason: "no backup yet: the first full backup" };
  }
  if (claim.state === "running") {
    const m = pick(claim.slot === "initial");
    if (!m) return { due: false, reason: `${claim.member} left during slot ${claim.slot}; no member can take it over yet` };
    return {
      due: true,
      claim: make(claim.slot, claim.type, m, claim.lastSlot),
      reason: `${claim.member} left during slot ${claim.slot}: taking it over`,
    };
  }
  // A failed initial or scheduled backup is tried again (unless a newer slot is due); a failed
  // manual one is not: its caller saw the error.
  const newer = latest !== undefined && slotName(latest.at) !== claim.lastSlot;
  if (claim.state === "failed" && !claim.slot.startsWith("manual:") && (claim.slot === "initial" || !newer)) {
    // Failed on a replica (backup-from-standby: the primary's TLS server unreachable, say): the
    // leader takes the slot over at once, so the standby path's trouble skips no backup.
    if (claim.member !== i.leader) {
      const m = pick(true);
      if (m && m !== claim.member) {
        const reason = `slot ${claim.slot} failed on ${claim.member} (${claim.error ?? "?"}): the leader takes it`;
        return { due: true, claim: make(claim.slot, claim.type, m, claim.lastSlot), reason };
      }
    }
    const since = now - Date.parse(claim.finished ?? claim.started);
    const m = pick(claim.slot === "initial");
    if (since < BACKUP_RETRY_MS || !m)
      return { due: false, reason: `slot ${claim.slot} failed (${claim.error ?? "?"}); trying again soon` };
    const reason = `slot ${claim.slot} failed (${claim.error ?? "?"}): trying again`;
    return { due: true, claim: make(claim.slot, claim.type, m, claim.lastSlot), reason };
  }
  if (!latest) return { due: false, reason: 'no backup schedule (both schedules are "never")' };
  const last = claim.lastSlot ? Date.parse(claim.lastSlot) : -Infinity;
  if (latest.at > last) {
    const m = pick(false);
    if (!m) return { due: false, reason: `slot ${slotName(latest.at)} is due but no member can take it yet` };
    return {
      due: true,
      claim: make(slotName(latest.at), latest.type, m),
      reason: `scheduled ${latest.type} backup of slot ${slotName(latest.at)}`,
    };
  }
  return { due: false, reason: `slot ${claim.lastSlot} taken; the next follows the schedule` };
}
