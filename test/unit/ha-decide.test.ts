/** Table-driven tests of the pure HA decision: one row per state of docs/ha-states.md. */
import assert from "node:assert/strict";
import { decide } from "../../sidecar/ha/decide";
import type { ClusterSnapshot } from "../../sidecar/dcs/types";
import { member, NOW, selfOf, threeMembers as cluster } from "../helpers/ha-fixtures";
import type { HaInput, PeerView, WatchdogView } from "../../sidecar/ha/types";

type Local = "primary" | "replica" | "stopped" | "empty" | "crashed-primary";

function input(me: string, local: Local, c: ClusterSnapshot | undefined, over: Partial<HaInput> = {}): HaInput {
  const dataDir =
    local === "empty"
      ? { initialized: false, standbySignal: false }
      : {
          initialized: true,
          systemId: "7000",
          clusterState: local === "crashed-primary" ? "in production" : "shut down in recovery",
          standbySignal: local !== "crashed-primary" && local !== "primary",
          timeline: 1,
        };
  const running = local === "primary" || local === "replica";
  return {
    now: NOW,
    self: selfOf(me),
    cluster: c,
    local: {
      dataDir,
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
    memory: { leaseId: `lease-${me}`, leaseRenewSentAt: NOW - 500 },
    peers: [],
    ...over,
  };
}

/** b replays timeline 1 up to 1000; the leader a runs timeline 2, forked from timeline 1 at forkLsn. */
function replicaAfterFork(forkLsn: number, usePgRewind = true, replayTimeline = 1): HaInput {
  const i = input(
    "b",
    "replica",
    cluster({ members: [member("a", "primary", 5432, { timeline: 2, history: [[1, forkLsn]] }), member("b", "replica", 5433)] }),
  );
  i.local.pg.replayLsn = 1000;
  i.local.pg.replayTimeline = replayTimeline;
  i.self = { ...i.self, usePgRewind };
  return i;
}

function formerPrimaryReplica(): HaInput {
  const i = input("b", "replica", cluster());
  i.local.dataDir.formerPrimary = true;
  return i;
}

const types = (i: HaInput) => decide(i).actions.map((a) => a.type);
/** A watchdog as its owner reports it; by default mode automatic, usable, not armed. */
const wd = (over: Partial<WatchdogView> = {}): WatchdogView => ({
  mode: "automatic",
  usable: true,
  armed: false,
  safetyMarginMs: 500,
  ...over,
});
const failedWd = wd({ mode: "required", usable: false, problem: "no /dev/watchdog" });
const armedWd = wd({ armed: true, firesAt: NOW + 2900 });
const noLeader = () => cluster({ leader: undefined });
const emptyCluster = () => cluster({ initialize: undefined, leader: undefined, members: [] });
const peer = (name: string, lsn: number, extra: Partial<PeerView> = {}): PeerView => ({
  name,
  reachable: true,
  isPrimary: false,
  lsn,
  ...extra,
});

describe("decide (pure HA decision)", () => {
  const rows: [string, HaInput, string[], RegExp][] = [
    // Uninitialized
    [
      "U1 empty cluster: race to bootstrap",
      input("a", "empty", cluster({ initialize: undefined, leader: undefined, members: [] })),
      ["claimInitialize", "bootstrap", "acquireLeader"],
      /not initialized/,
    ],
    ["U2 another member bootstraps: wait", input("b", "empty", cluster({ initialize: "", leader: undefined })), [], /bootstrapping/],
    ["U3 running leader: base backup from it", input("b", "empty", cluster()), ["baseBackup", "startReplica"], /base backup from leader a/],
    [
      "U4 leader not running yet: wait",
      input("b", "empty", cluster({ members: [member("a", "primary", 5432, { state: "starting" })] })),
      [],
      /waiting/,
    ],
    // Stopped
    ["S1 leader key ours, PostgreSQL down: restart in place", input("a", "stopped", cluster()), ["startPrimary"], /restarting it in place/],
    ["S2 another leader: start as its replica", input("b", "stopped", cluster()), ["startReplica"], /replica of leader a/],
    [
      "S3 former primary: rewind then follow",
      input("a", "crashed-primary", cluster({ leader: { name: "b", leaseId: "lease-b", modRevision: 9 } })),
      ["rewind", "startReplica"],
      /former primary/,
    ],
    [
      "S3b rewind failed before: base backup",
      input("a", "crashed-primary", cluster({ leader: { name: "b", leaseId: "lease-b", modRevision: 9 } }), {
        memory: { leaseRenewSentAt: NOW, rewindFailed: true },
      }),
      ["baseBackup", "startReplica"],
      /pg_rewind failed/,
    ],
    [
      "S3c replica start failed 3 times: base backup",
      input("b", "stopped", cluster(), { memory: { leaseRenewSentAt: NOW, replicaStartFailures: 3 } }),
      ["baseBackup", "startReplica"],
      /failed to start as a replica 3 times/,
    ],
    [
      "S3d usePgRewind off: base backup",
      input("a", "crashed-primary", cluster({ leader: { name: "b", leaseId: "lease-b", modRevision: 9 } }), {
        self: {
          name: "a",
          nofailover: false,
          failoverPriority: 1,
          maximumLagOnFailover: 1_048_576,
          ttlMs: 4000,
          fenceMarginMs: 1000,
          synchronousMode: "off" as const,
          usePgRewind: false,
        },
      }),
      ["baseBackup", "startReplica"],
      /usePgRewind is off/,
    ],
    [
      "S4 no leader: start read-only for the election",
      input("b", "stopped", cluster({ leader: undefined })),
      ["startReplica"],
      /no leader/,
    ],
    ["S5 foreign data directory: refuse", input("b", "stopped", cluster({ initialize: "8000" })), [], /another cluster/],
    // Replica
    ["R1 streaming from the leader: nothing to do", input("b", "replica", cluster()), [], /streaming from leader a/],
    [
      "R2 new leader elsewhere: follow it",
      input("b", "replica", cluster({ leader: { name: "c", leaseId: "lease-c", modRevision: 9 } })),
      ["followLeader"],
      /following leader c/,
    ],
    ["R2b former primary running read-only: stop it to rewind", formerPrimaryReplica(), ["demote"], /may have diverged from leader a/],
    [
      "R2c replica replayed past the leader's fork point: stop, rewind, follow",
      replicaAfterFork(900),
      ["demote", "rewind", "startReplica"],
      /replayed timeline 1 to 0\/3E8, past 0\/384 where the leader's timeline 2 forked/,
    ],
    [
      "R2d same, usePgRewind off: stop, re-copy, follow",
      replicaAfterFork(900, false),
      ["demote", "baseBackup", "startReplica"],
      /usePgRewind is off/,
    ],
    ["R2e replica at or before the fork point follows the new timeline", replicaAfterFork(1000), [], /streaming from leader a/],
    ["R2f replica already replaying the leader's timeline is not diverged", replicaAfterFork(900, true, 2), [], /streaming from leader a/],
    [
      "R3 we hold the key as a replica: promote",
      input("b", "replica", cluster({ leader: { name: "b", leaseId: "lease-b", modRevision: 9 } })),
      ["promote"],
      /promoting/,
    ],
    [
      "R4 no leader, healthiest: race and promote",
      input("b", "replica", cluster({ leader: undefined }), { peers: [peer("c", 900)] }),
      ["acquireLeader", "promote"],
      /healthiest/,
    ],
    [
      "R5 no leader, a peer is ahead: wait",
      input("b", "replica", cluster({ leader: undefined }), { peers: [peer("c", 1100)] }),
      [],
      /further ahead/,
    ],
    [
      "R6 no leader, tie: lower name wins",
      input("c", "replica", cluster({ leader: undefined }), { peers: [peer("b", 1000)] }),
      [],
      /tie by name/,
    ],
    [
      "R7 no leader, tie: higher priority wins",
      input("b", "replica", cluster({ leader: undefined }), { peers: [peer("c", 1000, { failoverPriority: 5 })] }),
      [],
      /higher failoverPriority/,
    ],
    [
      "R8 unreachable peer does not block",
      input("c", "replica", cluster({ leader: undefined }), { peers: [peer("b", 5000, { reachable: false })] }),
      ["acquireLeader", "promote"],
      /healthiest/,
    ],
    [
      "R9 nofailover peer does not block",
      input("c", "replica", cluster({ leader: undefined }), { peers: [peer("b", 5000, { nofailover: true })] }),
      ["acquireLeader", "promote"],
      /healthiest/,
    ],
    [
      "R10 too far behind the leader: never promoted",
      input("b", "replica", cluster({ leader: undefined, leaderOptime: 1000 + 2_000_000 })),
      [],
      /bytes behind/,
    ],
    [
      "R11 remembered optime counts even if the snapshot's is older",
      input("b", "replica", cluster({ leader: undefined, leaderOptime: 0 }), {
        memory: { leaseRenewSentAt: NOW, lastLeaderOptime: 5_000_000 },
      }),
      [],
      /bytes behind/,
    ],
    [
      "R12 a peer still runs as primary: wait",
      input("b", "replica", cluster({ leader: undefined }), { peers: [peer("a", 900, { isPrimary: true })] }),
      [],
      /still runs as primary/,
    ],
    // Primary
    ["P1 leader: publish position and keep slots", input("a", "primary", cluster()), ["publishOptime", "syncSlots"], /leader/],
    [
      "P2 another member holds the key: demote",
      input("a", "primary", cluster({ leader: { name: "b", leaseId: "lease-b", modRevision: 9 } })),
      ["demote"],
      /another member \(b\)/,
    ],
    ["P3 primary without key: take it", input("a", "primary", cluster({ leader: undefined })), ["acquireLeader"], /without the leader key/],
    [
      "P4 key bound to an older lease (agent restarted): rebind",
      input("a", "primary", cluster({ leader: { name: "a", leaseId: "old", modRevision: 3 } })),
      ["updateLeader", "publishOptime", "syncSlots"],
      /rebinding/,
    ],
    // Fencing and etcd outage
    [
      "F1 lease about to expire: fence",
      input("a", "primary", cluster(), { memory: { leaseId: "lease-a", leaseRenewSentAt: NOW - 3000 } }),
      ["fence"],
      /stopping PostgreSQL/,
    ],
    [
      "F2 etcd unreachable, lease valid: keep serving until the deadline",
      input("a", "primary", undefined, { memory: { leaseId: "lease-a", leaseRenewSentAt: NOW - 1000 } }),
      [],
      /valid for 2000 ms/,
    ],
    [
      "F3 etcd unreachable and lease stale: fence",
      input("a", "primary", undefined, { memory: { leaseId: "lease-a", leaseRenewSentAt: NOW - 3500 } }),
      ["fence"],
      /may expire/,
    ],
    ["F4 etcd unreachable replica: never promote", input("b", "replica", undefined), [], /never promotes/],
    [
      "F5 armed watchdog fires before the lease can expire: fence by firesAt + safetyMargin − fenceMargin",
      input("a", "primary", cluster(), { watchdog: wd({ armed: true, firesAt: NOW + 400 }) }),
      ["fence", "disarmWatchdog"],
      /the watchdog resets the machine in 400 ms/,
    ],
    [
      "F5b armed watchdog, fence deadline not reached yet",
      input("a", "primary", cluster(), { watchdog: wd({ armed: true, firesAt: NOW + 600 }) }),
      ["publishOptime", "syncSlots"],
      /^leader: lease renewed$/,
    ],
    // Election
    [
      "R13 a peer further ahead whose required watchdog failed does not block",
      input("b", "replica", noLeader(), { peers: [peer("c", 1100, { watchdogFailed: true })] }),
      ["acquireLeader", "promote"],
      /healthiest/,
    ],
    // Watchdog (rows W1–W3, applied on top of the row that matched)
    [
      "W1 required, cannot be armed: never races",
      input("b", "replica", noLeader(), { peers: [peer("c", 900)], watchdog: failedWd }),
      [],
      /^watchdog\.mode is required but the watchdog cannot be armed \(no \/dev\/watchdog\): not taking the leader key instead of: no leader; we are the healthiest/,
    ],
    [
      "W1 required, cannot be armed: never bootstraps",
      input("a", "empty", emptyCluster(), { watchdog: failedWd }),
      [],
      /not taking the leader key instead of: cluster is not initialized/,
    ],
    [
      "W1 required, cannot be armed, running leader: stop it and hand the key over",
      input("a", "primary", cluster(), { watchdog: failedWd }),
      ["demote", "releaseLeader"],
      /stopping this primary/,
    ],
    [
      "W1 required, cannot be armed, holding the key as a replica: give it back",
      input("b", "replica", cluster({ leader: { name: "b", leaseId: "lease-b", modRevision: 9 } }), { watchdog: failedWd }),
      ["releaseLeader"],
      /giving the leader key back/,
    ],
    [
      "W1 required, cannot be armed, PostgreSQL down under our key: give it back",
      input("a", "stopped", cluster(), { watchdog: failedWd }),
      ["releaseLeader"],
      /giving the leader key back instead of: PostgreSQL is not running/,
    ],
    [
      "W1 required, cannot be armed, replica of another leader: unchanged",
      input("b", "replica", cluster(), { watchdog: failedWd }),
      [],
      /^streaming from leader a$/,
    ],
    [
      "W1b automatic, cannot be armed: races and runs without it",
      input("b", "replica", noLeader(), { peers: [peer("c", 900)], watchdog: wd({ usable: false }) }),
      ["acquireLeader", "promote"],
      /healthiest eligible replica \(LSN 1000\): taking the leader key and promoting$/,
    ],
    [
      "W2 armed after winning the race, before promotion",
      input("b", "replica", noLeader(), { peers: [peer("c", 900)], watchdog: wd() }),
      ["acquireLeader", "armWatchdog", "promote"],
      /promoting; arming the watchdog first$/,
    ],
    [
      "W2 armed before a restart in place",
      input("a", "stopped", cluster(), { watchdog: wd() }),
      ["armWatchdog", "startPrimary"],
      /arming the watchdog first/,
    ],
    [
      "W2 armed before bootstrap",
      input("a", "empty", emptyCluster(), { watchdog: wd() }),
      ["claimInitialize", "armWatchdog", "bootstrap", "acquireLeader"],
      /arming the watchdog first/,
    ],
    [
      "W2 armed before promoting with the key",
      input("b", "replica", cluster({ leader: { name: "b", leaseId: "lease-b", modRevision: 9 } }), { watchdog: wd() }),
      ["armWatchdog", "promote"],
      /arming the watchdog first/,
    ],
    [
      "W2 running leader not armed (agent restarted under it): arm now",
      input("a", "primary", cluster(), { watchdog: wd() }),
      ["armWatchdog", "publishOptime", "syncSlots"],
      /arming the watchdog first/,
    ],
    [
      "W2 armed leader: nothing more",
      input("a", "primary", cluster(), { watchdog: armedWd }),
      ["publishOptime", "syncSlots"],
      /^leader: lease renewed$/,
    ],
    [
      "W3 demoted: disarm once PostgreSQL is stopped",
      input("a", "primary", cluster({ leader: { name: "b", leaseId: "lease-b", modRevision: 9 } }), { watchdog: armedWd }),
      ["demote", "disarmWatchdog"],
      /then disarming the watchdog$/,
    ],
    [
      "W3 fenced: disarm once PostgreSQL is stopped",
      input("a", "primary", cluster(), { memory: { leaseId: "lease-a", leaseRenewSentAt: NOW - 3000 }, watchdog: armedWd }),
      ["fence", "disarmWatchdog"],
      /stopping PostgreSQL/,
    ],
    [
      "W3 stopped under another leader: disarm first",
      input("b", "stopped", cluster(), { watchdog: armedWd }),
      ["disarmWatchdog", "startReplica"],
      /disarming the watchdog \(not leading\)$/,
    ],
    [
      "W mode off: no watchdog action",
      input("b", "replica", noLeader(), { peers: [peer("c", 900)], watchdog: wd({ mode: "off", usable: false }) }),
      ["acquireLeader", "promote"],
      /healthiest/,
    ],
  ];

  for (const [name, i, expected, reason] of rows) {
    it(name, () => {
      const d = decide(i);
      assert.deepEqual(types(i), expected);
      assert.match(d.reason, reason);
    });
  }

  it("nofailover member never races", () => {
    const i = input("b", "replica", cluster({ leader: undefined }));
    i.self.nofailover = true;
    assert.deepEqual(types(i), []);
    assert.match(decide(i).reason, /nofailover/);
  });

  it("is pure: same input, same output, input untouched", () => {
    const i = input("b", "replica", cluster({ leader: undefined }), { peers: [peer("c", 900)] });
    const copy = structuredClone(i);
    assert.deepEqual(decide(i), decide(i));
    assert.deepEqual(i, copy);
  });
});
