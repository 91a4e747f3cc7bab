/**
 * The two windows of synchronous mode "on" (and "strict"), row by row (docs/ha-states.md
 * "Synchronous mode"): switching the synchronous standby, and the moment right after a promotion.
 */
import assert from "node:assert/strict";
import type { ClusterSnapshot } from "../../sidecar/dcs/types";
import { decide } from "../../sidecar/ha/decide";
import { electionVerdict } from "../../sidecar/ha/election";
import { NO_SYNC_STANDBY, planSync } from "../../sidecar/ha/sync";
import type { Action, HaInput, PeerView } from "../../sidecar/ha/types";
import { renderSynchronousStandbyNames } from "../../sidecar/postgres/conf";
import type { SynchronousMode } from "../../sidecar/contract/settings/schema";
import { member, NOW, primaryLocal, selfOf, threeMembers } from "../helpers/ha-fixtures";

const LEADER_REV = 5;

interface LeaderCase {
  /** The sync key: standbys, quorum field, written by `by` (default us), `stale` = before our leader key. */
  key?: { standbys: string[]; quorum?: number; by?: string; stale?: boolean };
  /** synchronous_standby_names in effect (FIRST 1). */
  waits?: string[];
  streaming?: { name: string; lsn: number; sync?: boolean }[];
  switchLsn?: number;
  mode?: SynchronousMode;
}

function leaderInput(c: LeaderCase): HaInput {
  const cluster: ClusterSnapshot = threeMembers({
    sync: c.key && {
      leader: c.key.by ?? "a",
      standbys: c.key.standbys,
      quorum: c.key.quorum,
      modRevision: c.key.stale ? LEADER_REV - 1 : LEADER_REV + 1,
    },
  });
  cluster.members.push(member("d", "replica", 5435));
  return {
    now: NOW,
    self: { ...selfOf("a"), synchronousMode: c.mode ?? "on" },
    cluster,
    local: primaryLocal(renderSynchronousStandbyNames(c.waits ?? []), c.streaming ?? []),
    memory: { syncSwitchLsn: c.switchLsn },
    peers: [],
  };
}

const writeSync = (standbys: string[], quorum: number): Action => ({ type: "writeSync", standbys, quorum });
const waitFor = (...names: string[]): Action => ({ type: "setSyncStandbys", names });

describe('synchronous mode "on": switching the synchronous standby (the key carries the quorum field)', () => {
  const rows: [string, LeaderCase, Action[]][] = [
    [
      "steady state: one standby, recorded with quorum 0 — nothing to do",
      { key: { standbys: ["b"], quorum: 0 }, waits: ["b"], streaming: [{ name: "b", lsn: 5000, sync: true }] },
      [],
    ],
    [
      "X (b) dropped out, Y (c) streams: the key lists both with quorum 1 (Y must see X) before PostgreSQL waits for Y",
      { key: { standbys: ["b"], quorum: 0 }, waits: ["b"], streaming: [{ name: "c", lsn: 4000 }] },
      [writeSync(["b", "c"], 1), waitFor("c")],
    ],
    [
      "…PostgreSQL waits for Y, which has not replayed past the switch: the key stays",
      { key: { standbys: ["b", "c"], quorum: 1 }, waits: ["c"], streaming: [{ name: "c", lsn: 4000, sync: true }], switchLsn: 4500 },
      [],
    ],
    [
      "…Y replayed past the switch: X leaves, quorum 0",
      { key: { standbys: ["b", "c"], quorum: 1 }, waits: ["c"], streaming: [{ name: "c", lsn: 4600, sync: true }], switchLsn: 4500 },
      [writeSync(["c"], 0)],
    ],
    [
      "a switch from b to c in progress, c drops out too and d streams: each member added raises the quorum by one",
      { key: { standbys: ["b", "c"], quorum: 1 }, waits: ["c"], streaming: [{ name: "d", lsn: 4000 }] },
      [writeSync(["b", "c", "d"], 2), waitFor("d")],
    ],
    [
      "commits went asynchronous (empty key), a standby returns: it joins unconfirmed (quorum 1: nobody promotable yet)",
      { key: { standbys: [], quorum: 0 }, streaming: [{ name: "b", lsn: 4000 }] },
      [writeSync(["b"], 1), waitFor("b")],
    ],
    [
      "…once it replayed past the switch: quorum 0",
      { key: { standbys: ["b"], quorum: 1 }, waits: ["b"], streaming: [{ name: "b", lsn: 4600, sync: true }], switchLsn: 4500 },
      [writeSync(["b"], 0)],
    ],
    [
      "no standby left, non-strict: the key empties (quorum 0) before commits go asynchronous",
      { key: { standbys: ["b"], quorum: 0 }, waits: ["b"] },
      [writeSync([], 0), waitFor()],
    ],
  ];
  for (const [name, c, expected] of rows) it(name, () => assert.deepEqual(planSync(leaderInput(c)).actions, expected));
});

describe("synchronous modes: the window right after a promotion", () => {
  const rows: [string, LeaderCase, Action[]][] = [
    [
      "mode on, first loop as leader, the old leader's key lists us, PostgreSQL waits for nobody that exists: the key is replaced with the standby unconfirmed",
      { key: { standbys: ["a"], quorum: 0, by: "old" }, waits: [NO_SYNC_STANDBY], streaming: [{ name: "b", lsn: 4000 }] },
      [writeSync(["b"], 1), waitFor("b")],
    ],
    [
      "…the standby has replayed all our WAL (nothing was acknowledged since the promotion): recorded alone at once",
      { key: { standbys: ["a"], quorum: 0, by: "old" }, waits: [NO_SYNC_STANDBY], streaming: [{ name: "b", lsn: 5000 }] },
      [writeSync(["b"], 0), waitFor("b")],
    ],
    [
      "mode on, a key we wrote in an earlier term is not trusted either",
      { key: { standbys: ["b"], quorum: 0, stale: true }, waits: [NO_SYNC_STANDBY], streaming: [{ name: "b", lsn: 4000 }] },
      [writeSync(["b"], 1), waitFor("b")],
    ],
    [
      "mode on, no standby streams yet: the key says nobody first, then commits go asynchronous (the usual rule)",
      { key: { standbys: ["a"], quorum: 0, by: "old" }, waits: [NO_SYNC_STANDBY] },
      [writeSync([], 0), waitFor()],
    ],
    [
      "strict, no standby streams yet: the key says nobody, commits keep waiting",
      { key: { standbys: ["a"], quorum: 0, by: "old" }, waits: [NO_SYNC_STANDBY], mode: "strict" },
      [writeSync([], 0)],
    ],
    [
      "quorum commit, no standby streams yet: the key says nobody first, then the promotion's wait goes (commits asynchronous)",
      { key: { standbys: ["a", "c"], quorum: 1, by: "old" }, waits: [NO_SYNC_STANDBY], mode: "quorum" },
      [writeSync([], 0), waitFor()],
    ],
  ];
  for (const [name, c, expected] of rows) it(name, () => assert.deepEqual(planSync(leaderInput(c)).actions, expected));

  const promoteRows: [string, SynchronousMode, HaInput["cluster"], PeerView[], string[]][] = [
    ["R4 race and promote", "on", threeMembers({ leader: undefined, sync: { leader: "a", standbys: ["b"], modRevision: 9 } }), [], ["b"]],
    ["R3 we hold the key as a replica", "strict", threeMembers({ leader: { name: "b", leaseId: "lease-b", modRevision: 9 } }), [], ["b"]],
    [
      "R4 under a quorum key",
      "quorum",
      threeMembers({ leader: undefined, sync: { leader: "a", standbys: ["b", "c"], quorum: 1, modRevision: 9 } }),
      [{ name: "c", reachable: true, isPrimary: false, lsn: 900, failoverPriority: 1 }],
      ["b"],
    ],
  ];
  for (const [name, mode, cluster, peers] of promoteRows) {
    it(`${name}, mode ${mode}: PostgreSQL is promoted waiting for a standby that does not exist (commits block until the plan chose one)`, () => {
      const i: HaInput = {
        now: NOW,
        self: { ...selfOf("b"), synchronousMode: mode },
        cluster,
        local: {
          dataDir: { initialized: true, systemId: "7000", clusterState: "in archive recovery", standbySignal: true, timeline: 1 },
          pg: { running: true, inRecovery: true, lsn: 1000, timeline: 1, streaming: true, upstream: { host: "127.0.0.1", port: 5432 } },
          process: "running",
        },
        memory: { leaseId: "lease-b", leaseRenewSentAt: NOW - 500 },
        peers,
      };
      const promote = decide(i).actions.find((a) => a.type === "promote");
      assert.deepEqual(promote, { type: "promote", synchronousStandbys: [NO_SYNC_STANDBY] });
      i.self.synchronousMode = "off";
      if (mode !== "quorum")
        assert.deepEqual(
          decide(i).actions.find((a) => a.type === "promote"),
          { type: "promote" },
          "asynchronous: as before",
        );
    });
  }
});

describe("synchronous modes: PostgreSQL restarted in place under our key (row S1)", () => {
  it("starts with the wait on a name nobody has, which the PostgreSQL owner uses only if it forgot the plan's (agent restart)", () => {
    const i: HaInput = {
      now: NOW,
      self: { ...selfOf("a"), synchronousMode: "on" },
      cluster: threeMembers({ sync: { leader: "a", standbys: ["b"], quorum: 0, modRevision: 9 } }),
      local: {
        dataDir: { initialized: true, systemId: "7000", clusterState: "in production", standbySignal: false, timeline: 1 },
        pg: { running: false },
        process: "crashed",
      },
      memory: { leaseId: "lease-a", leaseRenewSentAt: NOW - 500 },
      peers: [],
    };
    assert.deepEqual(decide(i).actions, [{ type: "startPrimary", synchronousStandbys: [NO_SYNC_STANDBY] }]);
    i.self.synchronousMode = "off";
    assert.deepEqual(decide(i).actions, [{ type: "startPrimary" }]);
  });
});

describe('election under a mode "on" key with the quorum field', () => {
  const input = (peer: PeerView, quorum: number): HaInput => ({
    now: NOW,
    self: { ...selfOf("c"), synchronousMode: "on" },
    cluster: threeMembers({ leader: undefined, sync: { leader: "a", standbys: ["b", "c"], quorum, modRevision: 9 } }),
    local: {
      dataDir: { initialized: true, systemId: "7000", standbySignal: true, timeline: 1 },
      pg: { running: true, inRecovery: true, lsn: 1000 },
      process: "running",
    },
    memory: {},
    peers: [peer],
  });
  const rows: [string, PeerView, number, boolean][] = [
    ["while switching from b to c (quorum 1), b unreachable: c may not promote", { name: "b", reachable: false }, 1, false],
    ["…b answers and is not ahead: c promotes", { name: "b", reachable: true, isPrimary: false, lsn: 900, failoverPriority: 1 }, 1, true],
    [
      "…b answers and is ahead: b promotes, not c",
      { name: "b", reachable: true, isPrimary: false, lsn: 1100, failoverPriority: 1 },
      1,
      false,
    ],
  ];
  for (const [name, peer, quorum, ok] of rows) {
    it(name, () => {
      const v = electionVerdict(input(peer, quorum));
      assert.equal(v.ok, ok, v.reason);
    });
  }
});
