/** Table-driven tests of the switchover rows SW1–SW6 of docs/ha-states.md (the pure decision). */
import assert from "node:assert/strict";
import { decide } from "../../sidecar/ha/decide";
import type { ClusterSnapshot, FailoverRequest } from "../../sidecar/dcs/types";
import { member, NOW, selfOf, threeMembers } from "../helpers/ha-fixtures";
import type { HaInput } from "../../sidecar/ha/types";

const WALL = Date.parse("2026-11-27T15:00:00Z");

function cluster(failover: FailoverRequest | undefined, over: Partial<ClusterSnapshot> = {}): ClusterSnapshot {
  return threeMembers({ failover, ...over });
}

type Local = "primary" | "replica" | "handed-over";

function input(me: string, local: Local, c: ClusterSnapshot, over: Partial<HaInput> = {}): HaInput {
  const running = local !== "handed-over";
  return {
    now: NOW,
    wallNow: WALL,
    self: selfOf(me),
    cluster: c,
    local: {
      dataDir: {
        initialized: true,
        systemId: "7000",
        clusterState: local === "handed-over" ? "shut down" : local === "primary" ? "in production" : "in archive recovery",
        standbySignal: local === "replica",
        timeline: 1,
        checkpointLsn: 1000,
      },
      pg: running
        ? {
            running: true,
            inRecovery: local === "replica",
            lsn: 1000,
            timeline: 1,
            streaming: true,
            upstream: { host: "127.0.0.1", port: 5432 },
          }
        : { running: false },
      process: running ? "running" : "stopped",
    },
    memory: {
      leaseId: `lease-${me}`,
      leaseRenewSentAt: NOW - 500,
      ...(local === "handed-over" ? { handOver: { candidate: "b", checkpointLsn: 1000 } } : {}),
    },
    peers: [],
    ...over,
  };
}

const types = (i: HaInput) => decide(i).actions.map((a) => a.type);
const noLeader = (f: FailoverRequest | undefined, over: Partial<ClusterSnapshot> = {}) => cluster(f, { leader: undefined, ...over });
const withNewLeader = (forkLsn = 1100) =>
  cluster(undefined, {
    leader: { name: "b", leaseId: "lease-b", modRevision: 9 },
    members: [member("a", "replica", 5432), member("b", "primary", 5433, { timeline: 2, history: [[1, forkLsn]] })],
  });
const syncMode = (i: HaInput): HaInput => ({ ...i, self: { ...i.self, synchronousMode: "on" } });

describe("HA decision: switchover rows", () => {
  const rows: [string, HaInput, string[], RegExp][] = [
    [
      "SW1 leader, request to b now: stop cleanly, wait for b, release",
      input("a", "primary", cluster({ leader: "a", member: "b" })),
      ["stopForHandOver", "awaitCandidate", "releaseLeader"],
      /switchover to b/,
    ],
    [
      "SW1 leader, request without candidate: the best replica is picked",
      input(
        "a",
        "primary",
        cluster(
          { leader: "a" },
          { members: [member("a", "primary", 5432), member("b", "replica", 5433, { xlog_location: 900 }), member("c", "replica", 5434)] },
        ),
      ),
      ["stopForHandOver", "awaitCandidate", "releaseLeader"],
      /switchover to c/,
    ],
    [
      "SW1 leader, scheduled in the future: business as usual",
      input("a", "primary", cluster({ leader: "a", member: "b", scheduled_at: "2026-11-27T16:00:00Z" })),
      ["publishOptime", "syncSlots"],
      /leader: lease renewed/,
    ],
    [
      "SW1 leader, scheduled time reached: hands over",
      input("a", "primary", cluster({ leader: "a", member: "b", scheduled_at: "2026-11-27T14:59:00Z" })),
      ["stopForHandOver", "awaitCandidate", "releaseLeader"],
      /switchover to b/,
    ],
    [
      "SW2 leader, the candidate went away: the request is dropped, the leader stays",
      input("a", "primary", cluster({ leader: "a", member: "zz" })),
      ["clearFailover"],
      /refused when it was due: no member named "zz"/,
    ],
    [
      "SW2 leader, the candidate is tagged nofailover now",
      input(
        "a",
        "primary",
        cluster(
          { leader: "a", member: "b" },
          {
            members: [
              member("a", "primary", 5432),
              member("b", "replica", 5433, { tags: { nofailover: true, noloadbalance: false, failover_priority: 1 } }),
            ],
          },
        ),
      ),
      ["clearFailover"],
      /nofailover/,
    ],
    [
      "SW2 leader in synchronous mode, the candidate is not the synchronous standby",
      syncMode(input("a", "primary", cluster({ leader: "a", member: "c" }, { sync: { leader: "a", standbys: ["b"], modRevision: 3 } }))),
      ["clearFailover"],
      /synchronous standby \(b\)/,
    ],
    [
      "SW3 leader, a request from another (stale) leader: dropped",
      input("a", "primary", cluster({ leader: "x", member: "b" })),
      ["clearFailover"],
      /stale request/,
    ],
    [
      "SW4 candidate, the leader released the key: take it and promote",
      input("b", "replica", noLeader({ leader: "a", member: "b" })),
      ["acquireLeader", "promote", "clearFailover"],
      /released the leader key for a switchover to us/,
    ],
    [
      "SW4 candidate of a manual failover",
      input("b", "replica", noLeader({ member: "b" })),
      ["acquireLeader", "promote", "clearFailover"],
      /manual failover to us/,
    ],
    [
      "SW4 candidate lagging past maximumLagOnFailover: does not take it",
      input("b", "replica", noLeader({ member: "b" }, { leaderOptime: 5_000_000 })),
      [],
      /bytes behind/,
    ],
    [
      "SW5 another replica: leaves the key to the candidate, even when further ahead",
      input("c", "replica", noLeader({ leader: "a", member: "b" }), { peers: [] }),
      [],
      /switchover to b is in progress/,
    ],
    [
      "SW5 another replica, the candidate is gone: the usual election",
      input("c", "replica", noLeader({ member: "b" }, { members: [member("a", "primary", 5432), member("c", "replica", 5434)] })),
      ["acquireLeader", "promote"],
      /healthiest/,
    ],
    [
      "SW6 old leader, no leader yet: waits for the candidate",
      input("a", "handed-over", noLeader({ leader: "a", member: "b" })),
      [],
      /waiting for it to take the leader key/,
    ],
    [
      "SW6 old leader, the candidate leads: follows without a rewind",
      input("a", "handed-over", withNewLeader()),
      ["startReplica"],
      /without a rewind/,
    ],
    [
      "SW6 old leader, the new timeline forked before our shutdown checkpoint: the usual rewind (row S3)",
      input("a", "handed-over", withNewLeader(900)),
      ["rewind", "startReplica"],
      /rewinding/,
    ],
  ];
  for (const [what, i, actions, reason] of rows) {
    it(what, () => {
      const d = decide(i);
      assert.deepEqual(types(i), actions, d.reason);
      assert.match(d.reason, reason);
    });
  }
});
