/** The leader's synchronous-mode plan (pure), row by row: the order of etcd and PostgreSQL changes. */
import assert from "node:assert/strict";
import type { ClusterSnapshot, Member } from "../../sidecar/dcs/types";
import { CONFIRM_LOOP_MS, NO_SYNC_STANDBY, parseSyncNames, planSync } from "../../sidecar/ha/sync";
import { decide } from "../../sidecar/ha/decide";
import type { HaInput } from "../../sidecar/ha/types";
import { parseSynchronousStandbyNames, renderSynchronousStandbyNames } from "../../sidecar/postgres/conf";
import { primaryLocal } from "../helpers/ha-fixtures";

const m = (name: string, nofailover = false): Member => ({
  name,
  leaseId: "1",
  modRevision: 1,
  data: {
    conn_url: "postgres://h:1/postgres",
    api_url: "http://h:2/patroni",
    state: "running",
    role: "replica",
    tags: { nofailover, noloadbalance: false, failover_priority: 1 },
    version: "t",
  },
});

interface Case {
  key?: string[];
  /** The key's quorum field (absent: written without it, read as 0). */
  quorum?: number;
  keyLeader?: string;
  waits?: string[];
  streaming?: { name: string; lsn: number; sync?: boolean }[];
  strict?: boolean;
  switchLsn?: number;
  nofailover?: string[];
}

function input(c: Case): HaInput {
  const cluster: ClusterSnapshot = {
    revision: 1,
    leader: { name: "a", leaseId: "1", modRevision: 1 },
    members: ["a", "b", "c"].map((n) => m(n, c.nofailover?.includes(n))),
    corrupt: [],
    // Written after our leader key (revision 1): ours in this term, unless another leader wrote it.
    sync: c.key ? { leader: c.keyLeader ?? "a", standbys: c.key, quorum: c.quorum, modRevision: 2 } : undefined,
  };
  return {
    now: 0,
    self: {
      name: "a",
      nofailover: false,
      failoverPriority: 1,
      maximumLagOnFailover: 1 << 20,
      ttlMs: 4000,
      fenceMarginMs: 1000,
      synchronousMode: c.strict ? "strict" : "on",
      usePgRewind: true,
    },
    cluster,
    local: primaryLocal(renderSynchronousStandbyNames(c.waits ?? []), c.streaming ?? []),
    memory: { syncSwitchLsn: c.switchLsn },
    peers: [],
  };
}

const plan = (c: Case) => planSync(input(c)).actions;

describe("planSync (synchronous mode, leader side)", () => {
  it("parses what it renders", () => {
    assert.deepEqual(parseSyncNames(renderSynchronousStandbyNames(["b", 'we"ird'])), ["b", 'we"ird']);
    assert.deepEqual(parseSyncNames(""), []);
    for (const [names, count] of [
      [["b", 'we"ird'], undefined],
      [["b", "c"], 1],
      [[], undefined],
    ] as const) {
      const w = parseSynchronousStandbyNames(renderSynchronousStandbyNames(names, count));
      assert.deepEqual(w, count === undefined ? { names } : { names, count });
    }
  });

  it("a new leader with a streaming standby records it, then makes PostgreSQL wait for it (in that order)", () => {
    // Not confirmed yet (quorum 1 = the whole set: nobody but us may be promoted) until it replayed past the switch.
    assert.deepEqual(plan({ key: ["a"], keyLeader: "old", streaming: [{ name: "b", lsn: 4000 }] }), [
      { type: "writeSync", standbys: ["b"], quorum: 1 },
      { type: "setSyncStandbys", names: ["b"] },
    ]);
    assert.deepEqual(plan({ key: ["b"], quorum: 1, waits: ["b"], streaming: [{ name: "b", lsn: 5000, sync: true }], switchLsn: 4900 }), [
      { type: "writeSync", standbys: ["b"], quorum: 0 },
    ]);
  });

  it("right after a promotion (commits wait on a name no standby has), a standby with all our WAL is recorded alone at once", () => {
    assert.deepEqual(plan({ key: ["a"], keyLeader: "old", waits: [NO_SYNC_STANDBY], streaming: [{ name: "b", lsn: 5000 }] }), [
      { type: "writeSync", standbys: ["b"], quorum: 0 },
      { type: "setSyncStandbys", names: ["b"] },
    ]);
  });

  it("prefers the standby PostgreSQL already waits for, then the most advanced", () => {
    assert.deepEqual(
      plan({
        key: ["c"],
        waits: ["c"],
        streaming: [
          { name: "b", lsn: 4900 },
          { name: "c", lsn: 4000, sync: true },
        ],
      }),
      [],
    );
    assert.deepEqual(
      plan({
        key: [],
        streaming: [
          { name: "b", lsn: 4000 },
          { name: "c", lsn: 4900 },
        ],
      })[0],
      { type: "writeSync", standbys: ["c"], quorum: 1 },
    );
  });

  it("never makes a nofailover member synchronous", () => {
    assert.deepEqual(plan({ key: [], streaming: [{ name: "b", lsn: 4000 }], nofailover: ["b"] }), []);
  });

  it("switching from a lost standby: both stay recorded until the new one has everything", () => {
    // b is gone; c streams: record c next to b, then wait for c.
    assert.deepEqual(plan({ key: ["b"], waits: ["b"], streaming: [{ name: "c", lsn: 4000 }] }), [
      { type: "writeSync", standbys: ["b", "c"], quorum: 1 },
      { type: "setSyncStandbys", names: ["c"] },
    ]);
    // PostgreSQL waits for c, but c has not replayed up to the switch: b stays recorded.
    assert.deepEqual(
      plan({ key: ["b", "c"], quorum: 1, waits: ["c"], streaming: [{ name: "c", lsn: 4000, sync: true }], switchLsn: 4500 }),
      [],
    );
    // c caught up past the switch: b leaves the key.
    assert.deepEqual(
      plan({ key: ["b", "c"], quorum: 1, waits: ["c"], streaming: [{ name: "c", lsn: 4600, sync: true }], switchLsn: 4500 }),
      [{ type: "writeSync", standbys: ["c"], quorum: 0 }],
    );
    assert.deepEqual(plan({ key: ["b", "c"], waits: ["c"], streaming: [{ name: "c", lsn: 4600, sync: true }], switchLsn: 4500 }), [
      { type: "writeSync", standbys: ["c"], quorum: 0 },
    ]);
  });

  it("a leader that took its key again while PostgreSQL already waits for its standby records where the wait counts from (it settles once the standby replays past that, not past the live position)", () => {
    // The term's first key trusts nobody (q = |V|); PostgreSQL already waits for b, so no
    // setSyncStandbys was needed for the wait itself, but without it no switch position is recorded.
    assert.deepEqual(plan({ waits: ["b"], streaming: [{ name: "b", lsn: 4000, sync: true }] }), [
      { type: "writeSync", standbys: ["b"], quorum: 1 },
      { type: "setSyncStandbys", names: ["b"] },
    ]);
    // The state a leader was left in before: key [b] q = 1, no position recorded, b a few commits
    // behind the live position (as it always is under a steady writer). It must record one...
    assert.deepEqual(plan({ key: ["b"], quorum: 1, waits: ["b"], streaming: [{ name: "b", lsn: 4990, sync: true }] }), [
      { type: "setSyncStandbys", names: ["b"] },
    ]);
    // ...and settles once b has replayed past it, although the live position moved on.
    assert.deepEqual(plan({ key: ["b"], quorum: 1, waits: ["b"], streaming: [{ name: "b", lsn: 4990, sync: true }], switchLsn: 4900 }), [
      { type: "writeSync", standbys: ["b"], quorum: 0 },
    ]);
    // A settled key needs no position.
    assert.deepEqual(plan({ key: ["b"], quorum: 0, waits: ["b"], streaming: [{ name: "b", lsn: 4990, sync: true }] }), []);
  });

  it("asks for a short loop (CONFIRM_LOOP_MS) while a recorded standby awaits confirmation, loopWait once it is confirmed", () => {
    const unconfirmed = (c: Case) => planSync(input(c)).unconfirmed === true;
    // The whole decision of a leader whose lease was just renewed (row P1).
    const leaderDecision = (c: Case) => {
      const i = input(c);
      return decide({ ...i, memory: { ...i.memory, leaseId: "1", leaseRenewSentAt: 0 } });
    };
    assert.ok(unconfirmed({ waits: ["b"], streaming: [{ name: "b", lsn: 4000, sync: true }] }), "a new term's key");
    assert.ok(
      unconfirmed({ key: ["b", "c"], quorum: 1, waits: ["c"], streaming: [{ name: "c", lsn: 4000, sync: true }], switchLsn: 4500 }),
    );
    assert.ok(!unconfirmed({ key: ["b"], quorum: 0, waits: ["b"], streaming: [{ name: "b", lsn: 4990, sync: true }] }), "settled");
    assert.ok(
      !unconfirmed({ key: ["b"], quorum: 1, waits: ["b"], streaming: [{ name: "b", lsn: 4990, sync: true }], switchLsn: 4900 }),
      "settles now",
    );
    assert.equal(
      leaderDecision({ key: ["b", "c"], quorum: 1, waits: ["c"], streaming: [{ name: "c", lsn: 4000, sync: true }], switchLsn: 4500 })
        .nextLoopMs,
      CONFIRM_LOOP_MS,
    );
    assert.equal(
      leaderDecision({ key: ["b"], quorum: 0, waits: ["b"], streaming: [{ name: "b", lsn: 4990, sync: true }] }).nextLoopMs,
      undefined,
    );
  });

  it("non-strict without any standby: empties the key first, then stops waiting", () => {
    assert.deepEqual(plan({ key: ["b"], waits: ["b"] }), [
      { type: "writeSync", standbys: [], quorum: 0 },
      { type: "setSyncStandbys", names: [] },
    ]);
    assert.deepEqual(plan({ key: [], waits: [] }), []);
  });

  it("strict without any standby: keeps waiting (for a name no standby has, if none yet)", () => {
    assert.deepEqual(plan({ key: ["b"], waits: ["b"], strict: true }), []);
    assert.deepEqual(plan({ key: ["a"], keyLeader: "old", strict: true }), [
      { type: "writeSync", standbys: [], quorum: 0 },
      { type: "setSyncStandbys", names: [NO_SYNC_STANDBY] },
    ]);
  });

  it("synchronous mode off: stops waiting if PostgreSQL still does", () => {
    const i = input({ waits: ["b"] });
    i.self.synchronousMode = "off";
    assert.deepEqual(planSync(i).actions, [{ type: "setSyncStandbys", names: [] }]);
  });
});
