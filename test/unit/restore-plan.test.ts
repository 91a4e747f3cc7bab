/** What a restore runs (pure plan) and what it refuses before anything is touched (preflight). */
import assert from "node:assert/strict";
import { formatLsn } from "../../sidecar/contract/lsn";
import {
  cloneRestoreCommand,
  forkSegment,
  historyFileName,
  newestSwitch,
  primaryRestoreRequest,
  recoveryParameters,
  renderHistoryFile,
  replicaBackupSet,
  walSegmentName,
} from "../../sidecar/restore/plan";
import { restoreProblems, type SourceInfo } from "../../sidecar/restore/preflight";
import { targetFromFields } from "../../sidecar/contract/recovery-target";

const T0 = Date.UTC(2026, 10, 27, 12, 0, 0);
const backups = [
  { label: "20261127-120000F", stop: T0, lsnStop: "0/3000050" },
  { label: "20261127-130000F_20261127-130500D", stop: T0 + 3_600_000, lsnStop: "0/9000050" },
];
const ok: SourceInfo = { status: { code: 0, message: "ok" }, backups };
const check = (info: SourceInfo, target = {}, stanzas?: string[]) =>
  restoreProblems({
    info,
    stanza: "src",
    target: targetFromFields(target),
    nowMs: T0 + 7_200_000,
    field: "bootstrap.fromBackup",
    where: "s3://bucket/src",
    stanzas,
  });

describe("restore plan", () => {
  it("asks pgBackRest for the backup before the target and a promotion at it", () => {
    assert.deepEqual(primaryRestoreRequest(targetFromFields({ time: "2026-11-27T12:30:00Z" })), {
      type: "time",
      target: "2026-11-27 12:30:00+00",
      targetAction: "promote",
    });
    assert.deepEqual(primaryRestoreRequest(targetFromFields({})), { type: "default" });
  });

  it("renders the recovery parameters into postgresql.conf: target, promote, the latest timeline", () => {
    assert.deepEqual(recoveryParameters(targetFromFields({ lsn: "0/9000100" }), "get"), {
      restore_command: "get",
      recovery_target_timeline: "latest",
      recovery_target_action: "promote",
      recovery_target_lsn: "0/9000100",
    });
    assert.deepEqual(recoveryParameters(targetFromFields({}), "get"), { restore_command: "get", recovery_target_timeline: "latest" });
  });

  it("fetches WAL from the cluster's own archive first, then from the source's", () => {
    assert.equal(cloneRestoreCommand("own %f", "src %f"), "own %f || src %f");
    assert.equal(cloneRestoreCommand(undefined, "src %f"), "src %f");
  });

  it("restores a replica from the newest backup that ended before the fork", () => {
    const time = targetFromFields({ time: "2026-11-27T13:30:00Z" });
    assert.equal(replicaBackupSet(backups, time, [[1, 0x9500000]]), "20261127-130000F_20261127-130500D");
    assert.equal(replicaBackupSet(backups, targetFromFields({ time: "2026-11-27T12:30:00Z" }), []), "20261127-120000F");
    // Latest point: the fork is where the leader's timeline began; a source backup after it never fits.
    assert.equal(replicaBackupSet(backups, targetFromFields({}), [[1, 0x5000000]]), "20261127-120000F");
    assert.equal(replicaBackupSet(backups, targetFromFields({ lsn: "0/2000000" }), []), undefined);
  });

  it("writes the leader's timeline history file for the replica", () => {
    assert.equal(historyFileName(11), "0000000B.history");
    assert.equal(
      renderHistoryFile([
        [1, 0x3000028],
        [2, 0x5000000],
      ]),
      `1\t${formatLsn(0x3000028)}\tcopied from the leader's timeline history\n2\t0/5000000\tcopied from the leader's timeline history\n`,
    );
  });
});

describe("restore preflight (refused before anything is touched)", () => {
  it("accepts a target between the end of the first backup and now", () => {
    assert.deepEqual(check(ok, { time: "2026-11-27T12:00:01Z" }), []);
    assert.deepEqual(check(ok), []);
    assert.deepEqual(check(ok, { name: "x" }), []);
  });

  it("refuses a target time before the end of the first backup", () => {
    assert.deepEqual(check(ok, { time: "2026-11-27T11:59:59Z" }), [
      'bootstrap.fromBackup.target.time: 2026-11-27 11:59:59+00 is before the end of the first backup of "src" ' +
        "(20261127-120000F, ended 2026-11-27T12:00:00Z): nothing can be restored to it; give a later time",
    ]);
  });

  it("refuses a target time in the future", () => {
    assert.match(
      check(ok, { time: "2026-11-27T14:00:01Z" })[0],
      /^bootstrap\.fromBackup\.target\.time: .* is in the future \(now 2026-11-27T14:00:00Z\)/,
    );
  });

  it("refuses an LSN before the end of the first backup", () => {
    assert.match(
      check(ok, { lsn: "0/2FFFFFF" })[0],
      /^bootstrap\.fromBackup\.target\.lsn: 0\/2FFFFFF is before the end of the first backup/,
    );
  });

  it("refuses a missing stanza, naming the stanzas the repository holds", () => {
    const missing: SourceInfo = { status: { code: 1, message: "missing stanza path" }, backups: [] };
    assert.deepEqual(check(missing, {}, ["main", "src"]), [
      'bootstrap.fromBackup.stanza: no stanza "src" in s3://bucket/src (stanzas there: main): give the stanza of the cluster to restore',
    ]);
    assert.match(check(missing)[0], /the repository holds no stanza/);
  });

  it("refuses a stanza without a backup, and a repository it cannot read", () => {
    assert.match(check({ status: { code: 2, message: "no valid backups" }, backups: [] })[0], /holds no backup yet: take one first/);
    assert.match(
      check({ status: { code: 99, message: "other: S3 says 403 Forbidden" }, backups: [] })[0],
      /^bootstrap\.fromBackup: cannot read stanza "src" .*403 Forbidden: check the repository settings and credentials/,
    );
  });
});

describe("restore plan: the first segment of the leader's timeline", () => {
  it("names segments as PostgreSQL does", () => {
    assert.equal(walSegmentName(1, 0x3000028, 16 * 1024 * 1024), "000000010000000000000003");
    assert.equal(walSegmentName(3, 0x1_0500_0000, 16 * 1024 * 1024), "000000030000000100000005");
  });

  it("is the parent's segment up to the switch, zeros after", () => {
    const parent = Buffer.alloc(16, 7);
    assert.deepEqual([...forkSegment(parent, 0x3000000 + 5)], [7, 7, 7, 7, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual(newestSwitch({ timeline: 3, history: [[1, 0x3000028]] }), { parent: 1, lsn: 0x3000028, timeline: 3 });
    assert.equal(newestSwitch({ timeline: 1, history: [] }), undefined);
  });
});
