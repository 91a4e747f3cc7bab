/**
 * Quorum commit (pure), row by row: the leader's plan (the order of etcd and PostgreSQL changes)
 * and the election rule under a quorum key. docs/ha-states.md "Quorum commit".
 */
import assert from "node:assert/strict";
import type { ClusterSnapshot, Member } from "../../sidecar/dcs/types";
import { electionVerdict } from "../../sidecar/ha/election";
import { parseQuorumWait, planQuorum } from "../../sidecar/ha/quorum";
import { NO_SYNC_STANDBY, planSync } from "../../sidecar/ha/sync";
import type { Action, HaInput, PeerView } from "../../sidecar/ha/types";
import { renderSynchronousStandbyNames } from "../../sidecar/postgres/conf";
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

interface LeaderCase {
  /** The sync key: voters and quorum; `by` another leader, or written before our leader key (`stale`). */
  key?: { voters: string[]; quorum?: number; by?: string; stale?: boolean };
  /** PostgreSQL's wait in effect: ANY count (names). */
  wait?: { count: number; names: string[] };
  /** Standbys streaming from us, with their replay positions. */
  streaming?: Record<string, number>;
  k?: number;
  switchLsn?: number;
  nofailover?: string[];
}

const LEADER_REV = 10;

function leaderInput(c: LeaderCase): HaInput {
  const cluster: ClusterSnapshot = {
    revision: 20,
    leader: { name: "a", leaseId: "1", modRevision: LEADER_REV },
    members: ["a", "b", "c", "d"].map((n) => m(n, c.nofailover?.includes(n))),
    corrupt: [],
    sync: c.key && {
      leader: c.key.by ?? "a",
      standbys: c.key.voters,
      quorum: c.key.quorum,
      modRevision: c.key.stale ? LEADER_REV - 1 : LEADER_REV + 1,
    },
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
      synchronousMode: "quorum",
      synchronousQuorum: c.k ?? 1,
      usePgRewind: true,
    },
    cluster,
    local: primaryLocal(
      c.wait ? renderSynchronousStandbyNames(c.wait.names, c.wait.count) : "",
      Object.entries(c.streaming ?? {}).map(([name, lsn]) => ({ name, lsn })),
      "quorum",
    ),
    memory: { syncSwitchLsn: c.switchLsn },
    peers: [],
  };
}

const key = (standbys: string[], quorum: number): Action => ({ type: "writeSync", standbys, quorum });
const wait = (names: string[], count?: number): Action =>
  count === undefined ? { type: "setSyncStandbys", names } : { type: "setSyncStandbys", names, count };

describe("planQuorum (quorum commit, leader side)", () => {
  it("reads the wait it renders", () => {
    assert.deepEqual(parseQuorumWait(renderSynchronousStandbyNames(["b", "c"], 2), NO_SYNC_STANDBY), { count: 2, names: ["b", "c"] });
    assert.deepEqual(parseQuorumWait(renderSynchronousStandbyNames(["b"]), NO_SYNC_STANDBY), { count: 1, names: ["b"] });
    assert.deepEqual(parseQuorumWait("", NO_SYNC_STANDBY), { count: 0, names: [] });
    assert.equal(renderSynchronousStandbyNames(["b", "c"], 1), 'ANY 1 ("b", "c")');
  });

  it("synchronous mode quorum goes through planQuorum", () => {
    const input = leaderInput({ streaming: { b: 5000 } });
    assert.deepEqual(planSync(input), planQuorum(input, NO_SYNC_STANDBY));
  });

  const rows: [string, LeaderCase, Action[]][] = [
    [
      "Q1 new term (no key of ours): the key names the set with a quorum nobody can reach, then PostgreSQL waits",
      { streaming: { b: 4000, c: 4500 } },
      [key(["b", "c"], 2), wait(["b", "c"], 1)],
    ],
    [
      "Q1 a key another leader wrote is replaced, not extended",
      { key: { voters: ["a", "c"], quorum: 1, by: "b" }, streaming: { c: 4000 }, switchLsn: 4000 },
      [key(["c"], 1), wait(["c"], 1)],
    ],
    [
      "Q1 a key of ours from before our leader key (an earlier term) is replaced too",
      {
        key: { voters: ["b", "c"], quorum: 1, stale: true },
        wait: { count: 1, names: ["b", "c"] },
        streaming: { b: 5000, c: 5000 },
        switchLsn: 100,
      },
      [key(["b", "c"], 2), wait(["b", "c"], 1)],
    ],
    [
      "Q4 once n members replayed past the switch, the quorum drops to N − k",
      { key: { voters: ["b", "c"], quorum: 2 }, wait: { count: 1, names: ["b", "c"] }, streaming: { b: 4000, c: 4200 }, switchLsn: 4100 },
      [key(["b", "c"], 1)],
    ],
    [
      "Q4 not before: nobody replayed past the switch yet",
      { key: { voters: ["b", "c"], quorum: 2 }, wait: { count: 1, names: ["b", "c"] }, streaming: { b: 4000, c: 4050 }, switchLsn: 4100 },
      [],
    ],
    [
      "steady state: nothing to do",
      { key: { voters: ["b", "c"], quorum: 1 }, wait: { count: 1, names: ["b", "c"] }, streaming: { b: 4000, c: 4050 }, switchLsn: 4100 },
      [],
    ],
    [
      "Q2 a standby joins: the key grows (quorum + 1) before PostgreSQL may count its acknowledgement",
      {
        key: { voters: ["b", "c"], quorum: 1 },
        wait: { count: 1, names: ["b", "c"] },
        streaming: { b: 5000, c: 5000, d: 10 },
        switchLsn: 4100,
      },
      [key(["b", "c", "d"], 2), wait(["b", "c", "d"], 1)],
    ],
    [
      "Q2 a standby joins a set not confirmed yet (quorum = N): the quorum still rises with it (both may lack older commits)",
      { key: { voters: ["b"], quorum: 1 }, wait: { count: 1, names: ["b"] }, streaming: { b: 4000, c: 10 }, switchLsn: 4100 },
      [key(["b", "c"], 2), wait(["b", "c"], 1)],
    ],
    [
      "Q3 a standby stops streaming: PostgreSQL stops counting it first; the key keeps it",
      { key: { voters: ["b", "c"], quorum: 1 }, wait: { count: 1, names: ["b", "c"] }, streaming: { b: 5000 }, switchLsn: 4100 },
      [wait(["b"], 1)],
    ],
    [
      "Q4 then it leaves the key, once the remaining standby has every commit from before the switch",
      { key: { voters: ["b", "c"], quorum: 1 }, wait: { count: 1, names: ["b"] }, streaming: { b: 5000 }, switchLsn: 4900 },
      [key(["b"], 0)],
    ],
    [
      "Q4 …and not before: it may hold commits b lacks",
      { key: { voters: ["b", "c"], quorum: 1 }, wait: { count: 1, names: ["b"] }, streaming: { b: 4800 }, switchLsn: 4900 },
      [],
    ],
    [
      "Q2 k raised (1 → 2): PostgreSQL waits for more first; the key is unchanged until they confirm",
      {
        k: 2,
        key: { voters: ["b", "c"], quorum: 1 },
        wait: { count: 1, names: ["b", "c"] },
        streaming: { b: 5000, c: 5000 },
        switchLsn: 4900,
      },
      [wait(["b", "c"], 2)],
    ],
    [
      "Q4 k raised: the quorum drops to 0 once both replayed past the switch",
      {
        k: 2,
        key: { voters: ["b", "c"], quorum: 1 },
        wait: { count: 2, names: ["b", "c"] },
        streaming: { b: 5000, c: 5000 },
        switchLsn: 4900,
      },
      [key(["b", "c"], 0)],
    ],
    [
      "Q2 k lowered (2 → 1): the key's quorum rises first, then PostgreSQL waits for fewer",
      {
        k: 1,
        key: { voters: ["b", "c"], quorum: 0 },
        wait: { count: 2, names: ["b", "c"] },
        streaming: { b: 5000, c: 5000 },
        switchLsn: 4900,
      },
      [key(["b", "c"], 1), wait(["b", "c"], 1)],
    ],
    [
      "Q2 k above the standbys streaming: waits for all of them (min(k, N)), never for more than exist",
      {
        k: 3,
        key: { voters: ["b", "c"], quorum: 1 },
        wait: { count: 1, names: ["b", "c"] },
        streaming: { b: 5000, c: 5000 },
        switchLsn: 4900,
      },
      [wait(["b", "c"], 2)],
    ],
    [
      "Q3 with k = 2 one of two stops: the key's quorum rises, then PostgreSQL waits for the one left",
      { k: 2, key: { voters: ["b", "c"], quorum: 0 }, wait: { count: 2, names: ["b", "c"] }, streaming: { b: 5000 }, switchLsn: 4900 },
      [key(["b", "c"], 1), wait(["b"], 1)],
    ],
    [
      "Q5 nobody streams: the key is emptied first, then commits go asynchronous",
      { key: { voters: ["b", "c"], quorum: 1 }, wait: { count: 1, names: ["b", "c"] }, streaming: {}, switchLsn: 4900 },
      [key([], 0), wait([])],
    ],
    [
      "Q2 after Q5: a standby streams again; the set grows from nobody, with a fresh switch position",
      { key: { voters: [], quorum: 0 }, wait: { count: 0, names: [] }, streaming: { b: 5000 }, switchLsn: 4900 },
      [key(["b"], 1), wait(["b"], 1)],
    ],
    [
      "nofailover standbys are never in the set nor waited for",
      {
        nofailover: ["c"],
        key: { voters: ["b"], quorum: 0 },
        wait: { count: 1, names: ["b"] },
        streaming: { b: 5000, c: 5000 },
        switchLsn: 4900,
      },
      [],
    ],
    [
      "a key of mode on (no quorum field) counts as quorum 0 and grows safely",
      { key: { voters: ["b"] }, wait: { count: 1, names: ["b"] }, streaming: { b: 5000, c: 5000 }, switchLsn: 4900 },
      [key(["b", "c"], 1), wait(["b", "c"], 1)],
    ],
  ];
  for (const [name, c, expected] of rows) {
    it(name, () => assert.deepEqual(planQuorum(leaderInput(c), NO_SYNC_STANDBY).actions, expected));
  }
});

interface ElectionCase {
  key: { voters: string[]; quorum?: number; leader?: string };
  me?: string;
  myLsn: number;
  peers: Record<string, number | "down">;
}

function replicaInput(c: ElectionCase): HaInput {
  const me = c.me ?? "b";
  const peers: PeerView[] = Object.entries(c.peers).map(([name, lsn]) =>
    lsn === "down" ? { name, reachable: false } : { name, reachable: true, isPrimary: false, lsn, failoverPriority: 1 },
  );
  return {
    now: 0,
    self: {
      name: me,
      nofailover: false,
      failoverPriority: 1,
      maximumLagOnFailover: 1 << 20,
      ttlMs: 4000,
      fenceMarginMs: 1000,
      synchronousMode: "quorum",
      usePgRewind: true,
    },
    cluster: {
      revision: 20,
      members: ["a", "b", "c", "d"].map((n) => m(n)),
      corrupt: [],
      sync: { leader: c.key.leader ?? "a", standbys: c.key.voters, quorum: c.key.quorum, modRevision: 5 },
    },
    local: {
      dataDir: { initialized: true, standbySignal: true },
      pg: { running: true, inRecovery: true, lsn: c.myLsn, streaming: false },
      process: "running",
    },
    memory: {},
    peers,
  };
}

describe("election under a quorum key (row E-Q)", () => {
  const rows: [string, ElectionCase, boolean][] = [
    [
      "N = 2, k = 1: b needs to see c (quorum 1), and c is not ahead",
      { key: { voters: ["b", "c"], quorum: 1 }, myLsn: 100, peers: { c: 90 } },
      true,
    ],
    ["…c is down: b cannot know it has every commit", { key: { voters: ["b", "c"], quorum: 1 }, myLsn: 100, peers: { c: "down" } }, false],
    ["…c is ahead: c promotes, not b", { key: { voters: ["b", "c"], quorum: 1 }, myLsn: 100, peers: { c: 110 } }, false],
    ["quorum 0 (the set shrank to b): b alone", { key: { voters: ["b"], quorum: 0 }, myLsn: 100, peers: { c: "down" } }, true],
    [
      "N = 3, k = 2: quorum 1, one of the others is enough",
      { key: { voters: ["b", "c", "d"], quorum: 1 }, myLsn: 100, peers: { c: "down", d: 100 } },
      true,
    ],
    [
      "N = 3, k = 1: quorum 2, one other is not enough",
      { key: { voters: ["b", "c", "d"], quorum: 2 }, myLsn: 100, peers: { c: "down", d: 80 } },
      false,
    ],
    [
      "a quorum as large as the set (while it grows): no standby may promote",
      { key: { voters: ["b", "c"], quorum: 2 }, myLsn: 100, peers: { c: 10 } },
      false,
    ],
    ["not in the set: never", { key: { voters: ["c"], quorum: 0 }, myLsn: 100, peers: { c: "down" } }, false],
    [
      "the leader that wrote the key (restarted as a replica) holds every commit it acknowledged",
      { key: { voters: ["c", "d"], quorum: 1, leader: "b" }, myLsn: 100, peers: { c: "down", d: "down" } },
      true,
    ],
    [
      "the key's leader, restarted, ties with a member of the set that waits for a wiped one: the key's leader goes first",
      { key: { voters: ["a", "c"], quorum: 1, leader: "b" }, myLsn: 100, peers: { a: 100, c: "down" } },
      true,
    ],
    [
      "…and a member of the set that could promote leaves it to the key's leader at the same position",
      { key: { voters: ["a", "d"], quorum: 1, leader: "b" }, me: "a", myLsn: 100, peers: { b: 100, d: 100 } },
      false,
    ],
    ["a key without the quorum field: the rule of mode on", { key: { voters: ["b", "c"] }, myLsn: 100, peers: { c: "down" } }, true],
  ];
  for (const [name, c, ok] of rows) {
    it(name, () => {
      const v = electionVerdict(replicaInput(c));
      assert.equal(v.ok, ok, v.reason);
    });
  }
});
