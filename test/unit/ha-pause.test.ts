/** Table-driven tests of maintenance mode, rows PA1–PA3 of docs/ha-states.md (the pure decision). */
import assert from "node:assert/strict";
import { decide } from "../../sidecar/ha/decide";
import type { ClusterSnapshot } from "../../sidecar/dcs/types";
import type { HaInput } from "../../sidecar/ha/types";
import { member, NOW, selfOf, threeMembers } from "../helpers/ha-fixtures";

type Local = "primary" | "replica" | "stopped-primary" | "stopped-replica" | "former-primary-replica";

function input(me: string, local: Local, c: ClusterSnapshot, over: Partial<HaInput> = {}): HaInput {
  const running = !local.startsWith("stopped");
  const primary = local === "primary" || local === "stopped-primary";
  return {
    now: NOW,
    wallNow: Date.parse("2026-11-27T15:00:00Z"),
    self: selfOf(me),
    cluster: c,
    local: {
      dataDir: {
        initialized: true,
        systemId: "7000",
        clusterState: primary ? (running ? "in production" : "shut down") : "in archive recovery",
        standbySignal: !primary,
        formerPrimary: local === "former-primary-replica",
        timeline: 1,
        checkpointLsn: 1000,
      },
      pg: running
        ? { running: true, inRecovery: !primary, lsn: 1000, timeline: 1, streaming: true, upstream: { host: "127.0.0.1", port: 5432 } }
        : { running: false },
      process: running ? "running" : "stopped",
    },
    memory: { leaseId: `lease-${me}`, leaseRenewSentAt: NOW - 500, lastLeaderOptime: 1000 },
    peers: [],
    ...over,
  };
}

const paused = (over: Partial<ClusterSnapshot> = {}) => threeMembers({ config: { pause: true }, ...over });
const noLeader = (over: Partial<ClusterSnapshot> = {}) => paused({ leader: undefined, ...over });
const types = (i: HaInput) => decide(i).actions.map((a) => a.type);

describe("HA decision: maintenance mode rows", () => {
  const rows: [string, HaInput, string[], RegExp][] = [
    [
      "P1 paused leader with PostgreSQL running keeps its key and its routine",
      input("a", "primary", paused()),
      ["publishOptime", "syncSlots"],
      /leader/,
    ],
    [
      "PA1 paused leader whose PostgreSQL was stopped by hand gives its key up, does not start it",
      input("a", "stopped-primary", paused()),
      ["releaseLeader"],
      /maintenance mode: PostgreSQL is not running/,
    ],
    ["PA2 paused replica stopped by hand is not started", input("b", "stopped-replica", paused()), [], /not started/],
    [
      "PA2 paused stopped former primary under another leader: no rewind",
      input("a", "stopped-primary", paused({ leader: { name: "b", leaseId: "lease-b", modRevision: 9 } })),
      [],
      /would: rewind/,
    ],
    [
      "PA3 paused replica, no leader, healthiest: no failover",
      input("b", "replica", noLeader(), { peers: [{ name: "c", reachable: true, isPrimary: false, lsn: 900 }] }),
      [],
      /maintenance mode: not acting by itself \(would: acquireLeader, promote/,
    ],
    [
      "PA3 paused replica holding the key: not promoted",
      input("b", "replica", paused({ leader: { name: "b", leaseId: "lease-b", modRevision: 9 } })),
      [],
      /would: promote/,
    ],
    [
      "PA3 paused primary while another member holds the key: not demoted",
      input("a", "primary", paused({ leader: { name: "b", leaseId: "lease-b", modRevision: 9 } })),
      [],
      /would: demote/,
    ],
    [
      "PA3 paused former primary running read-only under a leader: not stopped to rewind",
      input("c", "former-primary-replica", paused()),
      [],
      /would: demote/,
    ],
    [
      "R2 paused replica still follows the leader (a reload, not a restart)",
      input("b", "replica", paused(), {}),
      [],
      /streaming from leader a/,
    ],
    [
      "P3 paused primary without the key retakes it (no promotion involved)",
      input("a", "primary", noLeader()),
      ["acquireLeader"],
      /without the leader key/,
    ],
    [
      "F1 the fence holds in maintenance mode too (safety property 3)",
      input("a", "primary", paused(), { memory: { leaseId: "lease-a", leaseRenewSentAt: NOW - 3500 } }),
      ["fence"],
      /lease last renewed/,
    ],
    [
      "an operator's switchover request is acted on while paused",
      input("a", "primary", paused({ failover: { leader: "a", member: "b" } })),
      ["stopForHandOver", "awaitCandidate", "releaseLeader"],
      /switchover to b/,
    ],
    [
      "resumed (pause removed): a stopped leader is restarted in place (S1)",
      input("a", "stopped-primary", threeMembers({ config: {} })),
      ["startPrimary"],
      /restarting it in place/,
    ],
    [
      "pause: false is not paused (S2 starts a stopped replica)",
      input("b", "stopped-replica", threeMembers({ config: { pause: false } })),
      ["startReplica"],
      /starting as a replica/,
    ],
  ];
  for (const [name, i, actions, reason] of rows) {
    it(name, () => {
      const d = decide(i);
      assert.deepEqual(
        d.actions.map((a) => a.type),
        actions,
        d.reason,
      );
      assert.match(d.reason, reason);
    });
  }

  it("with a replica following another upstream, following the new leader is still allowed", () => {
    const i = input("b", "replica", paused());
    i.local.pg.upstream = { host: "127.0.0.1", port: 9999 };
    assert.deepEqual(types(i), ["followLeader"]);
  });

  it("a member without a data directory still copies the leader (maintenance concerns running members)", () => {
    const i = input("c", "stopped-replica", paused());
    i.local.dataDir = { initialized: false, standbySignal: false };
    assert.deepEqual(types(i), ["baseBackup", "startReplica"]);
  });

  it("the member rows of a running member are unchanged by a config key without pause", () => {
    const c = threeMembers({ config: { loop_wait: 2 }, members: [member("a", "primary", 5432), member("b", "replica", 5433)] });
    assert.deepEqual(types(input("a", "primary", c)), ["publishOptime", "syncSlots"]);
  });
});
