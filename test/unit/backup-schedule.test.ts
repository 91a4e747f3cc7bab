/** The backup schedule: cron expressions, which slot is due, and which member takes it. Pure. */
import assert from "node:assert/strict";
import { chooseBackupMember, latestScheduled, planBackup, BACKUP_RETRY_MS } from "../../sidecar/backup/schedule";
import type { BackupClaim, Member } from "../../sidecar/dcs/types";
import { BACKUP_POLICY_DEFAULTS, backupPolicySchema } from "../../sidecar/contract/settings/backup";
import { nextSlot, parseCron, previousSlot, slotName } from "../../sidecar/contract/settings/cron";
import { sampleMemberData } from "../helpers/member-fixture";
import { backupClaim } from "../helpers/backup-claim";

const at = (iso: string) => Date.parse(iso);

function member(name: string, role: "primary" | "replica", extra: Partial<Member["data"]> = {}): Member {
  return { name, leaseId: "1", modRevision: 1, data: sampleMemberData({ role, state: "running", ...extra }) };
}

const members = [
  member("a", "primary"),
  member("b", "replica", { replication_state: "streaming", xlog_location: 100 }),
  member("c", "replica", { replication_state: "streaming", xlog_location: 200 }),
];

describe("cron expressions", () => {
  it("finds the slots before and after a time (UTC), with ranges, lists and steps", () => {
    const sundays = parseCron("0 1 * * 0");
    // 2026-11-27 is a Friday.
    assert.equal(slotName(previousSlot(sundays, at("2026-11-27T12:00:00Z"))!), "2026-11-22T01:00Z");
    assert.equal(slotName(nextSlot(sundays, at("2026-11-27T12:00:00Z"))!), "2026-11-29T01:00Z");
    const weekdays = parseCron("30 1 * * 1-6");
    assert.equal(slotName(previousSlot(weekdays, at("2026-11-27T01:30:00Z"))!), "2026-11-27T01:30Z", "a slot at the time itself is due");
    assert.equal(slotName(previousSlot(parseCron("*/15 * * * *"), at("2026-11-27T12:44:00Z"))!), "2026-11-27T12:30Z");
    assert.equal(slotName(nextSlot(parseCron("0 0 1,15 * *"), at("2026-11-27T00:00:00Z"))!), "2026-12-01T00:00Z");
    assert.equal(slotName(previousSlot(parseCron("0 3 * * 7"), at("2026-11-27T12:00:00Z"))!), "2026-11-22T03:00Z", "7 is Sunday too");
  });

  it("refuses a bad expression naming the field and the fix", () => {
    assert.throws(() => parseCron("0 1 * *"), /4 field\(s\): write 5/);
    assert.throws(() => parseCron("61 1 * * *"), /minute "61": must be within 0-59/);
    assert.throws(() => parseCron("0 1 * * mon"), /day of week "mon": use \*/);
    const r = backupPolicySchema.safeParse({ schedule: { full: "0 25 * * *" } });
    assert.ok(!r.success);
    assert.deepEqual(r.error.issues[0].path, ["schedule", "full"]);
    assert.match(r.error.issues[0].message, /hour "25": must be within 0-23.*"never"/);
  });

  it("has the documented defaults", () => {
    assert.deepEqual(BACKUP_POLICY_DEFAULTS, {
      archiveTimeout: 60,
      schedule: { full: "0 1 * * 0", diff: "0 1 * * 1-6" },
      retention: { full: 2 },
      fromStandby: true,
    });
  });

  it("a full and a differential due at the same minute: the full wins", () => {
    const s = latestScheduled({ full: "0 1 * * *", diff: "0 1 * * *" }, at("2026-11-27T02:00:00Z"));
    assert.deepEqual(s, { at: at("2026-11-27T01:00:00Z"), type: "full" });
    assert.equal(latestScheduled({ full: "never", diff: "never" }, Date.now()), undefined);
  });
});

describe("who takes a backup", () => {
  it("without replicas able to take them (no pgBackRest TLS server in the member keys), the leader", () => {
    assert.equal(chooseBackupMember(members, "a", true), "a", "no member publishes a TLS server: the leader takes them");
    assert.equal(chooseBackupMember(members, "a", false), "a");
    assert.equal(chooseBackupMember(members, undefined, false), undefined, "no leader: nobody");
  });
});

describe("which backup is due (the etcd backup key)", () => {
  const policy = { schedule: BACKUP_POLICY_DEFAULTS.schedule, fromStandby: true };
  const now = at("2026-11-27T12:00:00Z");
  const claim = backupClaim;
  const plan = (c: BackupClaim | undefined, t = now, ms = members) => planBackup({ policy, now: t, claim: c, members: ms, leader: "a" });

  it("no key yet: the first full backup on the leader; the slots before it are not owed", () => {
    const p = plan(undefined);
    assert.ok(p.due);
    assert.deepEqual(
      { slot: p.claim.slot, type: p.claim.type, member: p.claim.member, lastSlot: p.claim.lastSlot },
      { slot: "initial", type: "full", member: "a", lastSlot: "2026-11-27T01:00Z" },
    );
  });

  it("nothing until the next slot; then the differential of that slot, once", () => {
    assert.equal(plan(claim({})).due, false);
    const p = plan(claim({}), at("2026-11-28T01:00:30Z"));
    assert.ok(p.due);
    assert.deepEqual([p.claim.slot, p.claim.type, p.claim.lastSlot], ["2026-11-28T01:00Z", "diff", "2026-11-28T01:00Z"]);
    const taken = { ...p.claim, state: "done" as const };
    assert.equal(plan(taken, at("2026-11-28T01:05:00Z")).due, false, "a slot is taken once");
    const sunday = plan(taken, at("2026-11-29T01:00:00Z"));
    assert.ok(sunday.due && sunday.claim.type === "full");
  });

  it("a slot whose member is alive and busy waits; one whose member left is taken over", () => {
    const running = claim({ slot: "2026-11-28T01:00Z", type: "diff", member: "b", state: "running", lastSlot: "2026-11-28T01:00Z" });
    assert.equal(plan(running, at("2026-11-28T01:10:00Z")).due, false);
    const left = plan(running, at("2026-11-28T01:10:00Z"), [members[0], members[2]]);
    assert.ok(left.due);
    assert.deepEqual([left.claim.slot, left.claim.type, left.claim.member], ["2026-11-28T01:00Z", "diff", "a"]);
    const own = planBackup({
      policy,
      now,
      claim: running,
      members,
      leader: "a",
      self: { name: "b", running: false },
    });
    assert.ok(own.due, "its own claim from before a restart is not waited for");
  });

  it("a failed scheduled slot is tried again after a pause, a failed manual one is not", () => {
    const failed = claim({ slot: "2026-11-27T01:00Z", type: "diff", state: "failed", finished: "2026-11-27T11:59:00.000Z" });
    assert.equal(plan(failed).due, false);
    const later = plan(failed, at("2026-11-27T11:59:00Z") + BACKUP_RETRY_MS);
    assert.ok(later.due && later.claim.slot === "2026-11-27T01:00Z");
    const manual = claim({ slot: "manual:2026-11-27T11:00:00.000Z", state: "failed" });
    assert.equal(plan(manual, now + 10 * BACKUP_RETRY_MS).due, false);
  });
});
