/**
 * Failsafe mode's rows (FS1–FS7 of docs/ha-states.md), table-driven: the decision with failsafe
 * inputs, the pure rules of sidecar/ha/failsafe.ts, the member's side of POST /failsafe
 * (FailsafeKeeper) and the API route.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { postFailsafe } from "../../sidecar/ha/peers";
import { decide } from "../../sidecar/ha/decide";
import type { ClusterSnapshot } from "../../sidecar/dcs/types";
import { failsafeRound, failsafeVerdict, leaseCounts, membersToAsk, type RoundInput } from "../../sidecar/ha/failsafe";
import { FailsafeKeeper } from "../../sidecar/ha/failsafe-keeper";
import { fileStopMarker, stopMarkerFile, type StopMarker } from "../../sidecar/ha/failsafe-stop-marker";
import { LeaseKeeper } from "../../sidecar/ha/lease";
import { PostgresOwner } from "../../sidecar/postgres/owner";
import { MemoryDcs, MemoryEtcd } from "../helpers/memory-dcs";
import { FakePgWorld } from "../helpers/fake-postgres";
import { testExecutor } from "../helpers/executor";
import { Mutations } from "../../sidecar/api/mutations";
import { watchdogOff } from "../../sidecar/watchdog/watchdog";
import { NOW, selfOf, threeMembers as cluster } from "../helpers/ha-fixtures";
import { silentLogger } from "../helpers/silent-logger";
import { FakeClock } from "../helpers/fake-clock";
import type { AgentMemory, HaInput } from "../../sidecar/ha/types";

const KEY = { a: "http://127.0.0.1:6432/patroni", b: "http://127.0.0.1:6433/patroni", c: "http://127.0.0.1:6434/patroni" };

function input(me: string, role: "primary" | "replica", c: ClusterSnapshot | undefined, over: Partial<HaInput> = {}): HaInput {
  return {
    now: NOW,
    self: { ...selfOf(me), failsafeMode: true },
    cluster: c,
    local: {
      dataDir: { initialized: true, systemId: "7000", clusterState: "in production", standbySignal: role === "replica", timeline: 1 },
      pg: {
        running: true,
        inRecovery: role === "replica",
        lsn: 1000,
        timeline: 1,
        streaming: true,
        upstream: { host: "127.0.0.1", port: 5432 },
      },
      process: "running",
    },
    memory: { leaseId: `lease-${me}`, leaseRenewSentAt: NOW - 500 },
    peers: [],
    ...over,
  };
}

const noLeader = (over: Partial<ClusterSnapshot> = {}) => cluster({ leader: undefined, failsafe: KEY, ...over });
const types = (i: HaInput) => decide(i).actions.map((a) => a.type);

describe("failsafe mode: the decision's rows", () => {
  const rows: [string, HaInput, string[], RegExp][] = [
    ["FS1 leader, no failsafe key yet: write it with every member", input("a", "primary", cluster()), ["writeFailsafe"], /lease renewed/],
    ["FS1 leader, key up to date: nothing to write", input("a", "primary", cluster({ failsafe: KEY })), [], /lease renewed/],
    [
      "FS1 leader with failsafe mode off and a key left over: delete it",
      input("a", "primary", cluster({ failsafe: KEY }), { self: selfOf("a") }),
      ["writeFailsafe"],
      /lease renewed/,
    ],
    [
      "FS2 etcd unreachable, lease stale, a round confirmed 500 ms ago: keep serving",
      input("a", "primary", undefined, {
        memory: { leaseId: "lease-a", leaseRenewSentAt: NOW - 3500, failsafe: { confirmedSentAt: NOW - 500, keyLeaseId: "lease-a" } },
      }),
      [],
      /writable for 2500 ms more \(lease or failsafe confirmations\)/,
    ],
    [
      "FS2 etcd unreachable, lease and last confirmed round both stale: fence",
      input("a", "primary", undefined, {
        memory: { leaseId: "lease-a", leaseRenewSentAt: NOW - 3500, failsafe: { confirmedSentAt: NOW - 3200, keyLeaseId: "lease-a" } },
      }),
      ["fence"],
      /stopping PostgreSQL/,
    ],
    [
      "FS4 a fresh renewal of a new lease (the key's expired behind a partition) does not count: fence",
      input("a", "primary", noLeader(), {
        memory: { leaseId: "lease-new", leaseRenewSentAt: NOW - 100, failsafe: { confirmedSentAt: NOW - 3100, keyLeaseId: "lease-a" } },
      }),
      ["fence"],
      /stopping PostgreSQL/,
    ],
    [
      "FS4 the same, with a round confirmed 1 s ago: retake the key (P3)",
      input("a", "primary", noLeader(), {
        memory: { leaseId: "lease-new", leaseRenewSentAt: NOW - 100, failsafe: { confirmedSentAt: NOW - 1000, keyLeaseId: "lease-a" } },
      }),
      ["acquireLeader"],
      /without the leader key/,
    ],
    [
      "FS4 renewals of the lease the key was bound to count (quorum back, same lease)",
      input("a", "primary", undefined, {
        memory: { leaseId: "lease-a", leaseRenewSentAt: NOW - 500, failsafe: { confirmedSentAt: NOW - 3500, keyLeaseId: "lease-a" } },
      }),
      [],
      /writable for 2500 ms more/,
    ],
    [
      "FS5 replica, no leader key, confirmed failsafe leader a 1 s ago: no race",
      input("b", "replica", noLeader(), { failsafeHeard: { leader: "a", at: NOW - 1000 } }),
      [],
      /a confirmed it leads in failsafe mode 1000 ms ago: not racing/,
    ],
    [
      "FS5 this agent started less than ttl ago (its previous run may have confirmed someone): no race",
      input("b", "replica", noLeader(), { failsafeHeard: { leader: "", at: NOW - 1500 } }),
      [],
      /started 1500 ms ago/,
    ],
    // The exception (issue 17's chaos runs: a switchover right after an etcd outage or an agent
    // restart waited up to ttl): the leader a confirmation went to released the key to us.
    [
      "FS5 a released the key to us for a switchover after we confirmed it: take it at once",
      input("b", "replica", noLeader({ failover: { leader: "a", member: "b" }, handover: { from: "a", to: "b" } }), {
        failsafeHeard: { leader: "a", at: NOW - 1000 },
      }),
      ["acquireLeader", "promote", "clearFailover"],
      /a released the leader key for a switchover to us/,
    ],
    [
      "FS5 started less than ttl ago, and the key was released to us for a switchover: take it at once",
      input("b", "replica", noLeader({ failover: { leader: "a", member: "b" }, handover: { from: "a", to: "b" } }), {
        failsafeHeard: { leader: "", at: NOW - 1500 },
      }),
      ["acquireLeader", "promote", "clearFailover"],
      /a released the leader key for a switchover to us/,
    ],
    [
      "FS5 a hand-over to us does not free us from a confirmation given to another member: no race",
      input("b", "replica", noLeader({ failover: { leader: "a", member: "b" }, handover: { from: "a", to: "b" } }), {
        failsafeHeard: { leader: "c", at: NOW - 1000 },
      }),
      [],
      /c confirmed it leads in failsafe mode/,
    ],
    [
      "FS5 a hand-over to another member frees nobody else: no race",
      input("c", "replica", noLeader({ failover: { leader: "a", member: "b" }, handover: { from: "a", to: "b" } }), {
        failsafeHeard: { leader: "", at: NOW - 1500 },
      }),
      [],
      /started 1500 ms ago/,
    ],
    [
      "FS5 the confirmation is older than ttl: the usual election",
      input("b", "replica", noLeader(), { failsafeHeard: { leader: "a", at: NOW - 4000 } }),
      ["acquireLeader", "promote"],
      /taking the leader key/,
    ],
    [
      "FS6 the failsafe key does not list this member: no race",
      input("b", "replica", noLeader({ failsafe: { a: KEY.a, c: KEY.c } })),
      [],
      /does not list this member/,
    ],
    [
      "FS6 listed (or no key): the usual election",
      input("b", "replica", noLeader()),
      ["acquireLeader", "promote"],
      /taking the leader key/,
    ],
    [
      "FS5 does not hold a replica that follows a leader in etcd",
      input("b", "replica", cluster({ failsafe: KEY }), { failsafeHeard: { leader: "a", at: NOW - 1000 } }),
      [],
      /streaming from leader a/,
    ],
  ];
  for (const [name, i, actions, reason] of rows) {
    it(name, () => {
      const d = decide(i);
      assert.deepEqual(
        d.actions.map((a) => a.type).filter((t) => t === "writeFailsafe" || !["publishOptime", "syncSlots"].includes(t)),
        actions,
      );
      assert.match(d.reason, reason);
    });
  }

  it("FS1 writes every member's API URL, and deletes the key when the mode is off", () => {
    const write = decide(input("a", "primary", cluster())).actions.find((a) => a.type === "writeFailsafe");
    assert.deepEqual(write, {
      type: "writeFailsafe",
      members: Object.fromEntries(cluster().members.map((m) => [m.name, m.data.api_url])),
    });
    const del = decide(input("a", "primary", cluster({ failsafe: KEY }), { self: selfOf("a") })).actions.find(
      (a) => a.type === "writeFailsafe",
    );
    assert.deepEqual(del, { type: "writeFailsafe", members: undefined });
    assert.deepEqual(types(input("a", "primary", cluster(), { self: selfOf("a") })), ["publishOptime", "syncSlots"]);
  });
});

describe("failsafe mode: the pure rules", () => {
  const round = (over: Partial<RoundInput> & { fs?: AgentMemory["failsafe"]; renewedAgo?: number }): ReturnType<typeof failsafeRound> =>
    failsafeRound({
      now: NOW,
      self: { name: "a", failsafeMode: true },
      memory: { leaseId: "l1", leaseRenewSentAt: NOW - (over.renewedAgo ?? 1600), failsafe: over.fs ?? { members: KEY } },
      primary: true,
      staleAfterMs: 1500,
      fenceAt: NOW + 1000,
      ...over,
    });
  const rounds: [string, ReturnType<typeof failsafeRound>, string[] | undefined][] = [
    ["FS2 a renewal was missed: ask every listed member but ourselves", round({}), ["b", "c"]],
    ["renewals on time: no round", round({ renewedAgo: 900 }), undefined],
    [
      "renewals on time but of a lease that lost the key: round",
      round({ renewedAgo: 900, fs: { members: KEY, keyLeaseId: "l0" } }),
      ["b", "c"],
    ],
    ["not a primary: no round", round({ primary: false }), undefined],
    ["no failsafe key written: no round", round({ fs: {} }), undefined],
    ["failsafe mode off: no round", round({ self: { name: "a", failsafeMode: false } }), undefined],
    ["past the fence deadline: no round (it fences)", round({ fenceAt: NOW }), undefined],
    ["a key listing only us: a round that asks nobody", round({ fs: { members: { a: KEY.a } } }), []],
  ];
  for (const [name, r, members] of rounds) it(name, () => assert.deepEqual(r && Object.keys(r.members), members));

  const verdicts: [string, Parameters<typeof failsafeVerdict>[0], number][] = [
    ["FS3 a replica that sees leader a", { self: "b", leader: "a", viewLeader: "a", primary: false, racing: false }, 200],
    ["FS3 a replica that sees no leader key", { self: "b", leader: "a", primary: false, racing: false }, 200],
    ["FS3 refused: it sees another leader", { self: "b", leader: "a", viewLeader: "c", primary: false, racing: false }, 409],
    ["FS3 refused: it holds the key itself", { self: "b", leader: "a", viewLeader: "b", primary: false, racing: false }, 409],
    ["FS3 refused: it runs as a primary", { self: "b", leader: "a", primary: true, racing: false }, 409],
    ["FS3 refused: it is racing for the key", { self: "b", leader: "a", primary: false, racing: true }, 409],
    ["FS3 refused: no leader named", { self: "b", leader: undefined, primary: false, racing: false }, 400],
    ["FS3 refused: asked to confirm itself", { self: "b", leader: "b", primary: false, racing: false }, 409],
  ];
  for (const [name, v, status] of verdicts) {
    it(name, () => {
      const r = failsafeVerdict(v);
      assert.equal(r.ok ? 200 : r.status, status);
    });
  }

  it("FS4 renewals count unless a round made the key's lease the reference and the lease changed", () => {
    assert.equal(leaseCounts({ leaseId: "l1" }), true);
    assert.equal(leaseCounts({ leaseId: "l1", failsafe: { keyLeaseId: "l1" } }), true);
    assert.equal(leaseCounts({ leaseId: "l2", failsafe: { keyLeaseId: "l1" } }), false);
    assert.equal(leaseCounts({ leaseId: "l1", failsafe: { keyLeaseId: "" } }), false, "no key seen before the round");
  });

  it("FS7 whoever the key may list is asked: the key as read plus a write whose outcome is unknown", () => {
    assert.equal(membersToAsk(undefined, undefined), undefined);
    assert.deepEqual(Object.keys(membersToAsk({ a: KEY.a, b: KEY.b }, { a: KEY.a, c: KEY.c })!).sort(), ["a", "b", "c"]);
  });
});

describe("failsafe mode: the member's side (POST /failsafe)", () => {
  function keeper(o: { primary?: boolean; viewLeader?: string; clock?: FakeClock; stopMarker?: StopMarker } = {}) {
    const clock = o.clock ?? new FakeClock();
    const k = new FailsafeKeeper({
      self: { ...selfOf("b"), failsafeMode: true },
      clock,
      log: silentLogger(),
      memory: {},
      lease: { leaseId: "l-b", renewSentAt: 0 },
      watchdog: watchdogOff(),
      intervalMs: 1000,
      timeoutMs: 1000,
      isPrimary: () => o.primary ?? false,
      fenceAt: () => 0,
      viewLeader: () => o.viewLeader,
      onConfirmed: () => undefined,
      stopMarker: o.stopMarker,
      wallNow: () => WALL + clock.now(),
    });
    return { k, clock };
  }
  const WALL = 1_800_000_000_000;

  describe("the start guard and the clean stop's marker (row FS5)", () => {
    let dir: string;
    let marker: StopMarker;
    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "hapg-stop-marker-"));
      marker = fileStopMarker(stopMarkerFile(path.join(dir, "data")));
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("a killed agent left no marker: its next run does not race for ttl after its start", async () => {
      const clock = new FakeClock();
      const { k } = keeper({ clock, stopMarker: marker });
      assert.deepEqual(k.heardForDecision(), { leader: "", at: 0 });
      await clock.advance(3999);
      assert.ok(k.heardForDecision());
      await clock.advance(1);
      assert.equal(k.heardForDecision(), undefined);
    });

    it("a cleanly stopped agent that confirmed nobody for ttl: its next run may race at once", async () => {
      const clock = new FakeClock();
      const first = keeper({ clock, stopMarker: marker, viewLeader: "a" }).k;
      await clock.advance(10_000);
      first.closeAndLeaveMarker();
      assert.equal(first.confirm({ name: "a" }).status, 503, "a stopping agent confirms nothing");
      await clock.advance(500);
      assert.equal(keeper({ clock, stopMarker: marker }).k.heardForDecision(), undefined);
      assert.equal(marker.take(), undefined, "the marker is used once");
    });

    it("a cleanly stopped agent that confirmed a leader 1 s before: its next run is bound for the rest of that ttl", async () => {
      const clock = new FakeClock();
      const first = keeper({ clock, stopMarker: marker, viewLeader: "a" }).k;
      await clock.advance(10_000);
      assert.equal(first.confirm({ name: "a" }).status, 200);
      await clock.advance(1000);
      first.closeAndLeaveMarker();
      await clock.advance(500);
      const next = keeper({ clock, stopMarker: marker }).k;
      assert.ok(next.heardForDecision(), "bound 2.5 s more");
      await clock.advance(2499);
      assert.ok(next.heardForDecision());
      await clock.advance(1);
      assert.equal(next.heardForDecision(), undefined, "free 4 s after the confirmation, not 4 s after the start");
    });

    it("a torn marker counts as none (the guard lasts ttl)", async () => {
      fs.writeFileSync(stopMarkerFile(path.join(dir, "data")), "{not json");
      const { k } = keeper({ stopMarker: marker });
      assert.deepEqual(k.heardForDecision(), { leader: "", at: 0 });
      assert.equal(fs.existsSync(stopMarkerFile(path.join(dir, "data"))), false, "removed all the same");
    });
  });

  it("a confirmation forbids racing for ttl; a race in flight refuses confirmations", async () => {
    const { k, clock } = keeper({ viewLeader: "a" });
    assert.equal(k.confirm({ name: "a" }).status, 200);
    assert.deepEqual(k.heard, { leader: "a", at: 0 });
    assert.equal(k.beginRace(), false, "bound for ttl");
    await clock.advance(4000);
    assert.equal(k.beginRace(), true, "free after ttl");
    assert.equal(k.confirm({ name: "a" }).status, 409, "racing: refused");
    k.endRace(false);
    assert.equal(k.confirm({ name: "a" }).status, 200, "lost the race: confirms again");
  });

  it("a confirmation binds no race for the key its leader released to us (the hand-over's acquire)", () => {
    const { k } = keeper({ viewLeader: "a" });
    assert.equal(k.confirm({ name: "a" }).status, 200);
    assert.equal(k.beginRace("c"), false, "c's hand-over: a's confirmation still binds");
    assert.equal(k.beginRace("a"), true, "a released the key to us");
  });

  it("a won (or unknown) race refuses confirmations for ttl", async () => {
    const { k, clock } = keeper();
    assert.equal(k.beginRace(), true);
    k.endRace(true);
    assert.equal(k.confirm({ name: "a" }).status, 409);
    await clock.advance(4000);
    assert.equal(k.confirm({ name: "a" }).status, 200);
  });

  it("a race is settled by a read begun after it that finds another holder: confirmations resume", async () => {
    const { k, clock } = keeper({ viewLeader: "a" });
    assert.equal(k.beginRace(), true);
    await clock.advance(100);
    k.endRace(true); // unknown outcome (a timeout): counted as won
    const heldByA = cluster({ failsafe: KEY });
    k.observe(heldByA, 50); // begun before the race ended: it may predate our transaction
    assert.equal(k.confirm({ name: "a" }).status, 409);
    await clock.advance(500);
    k.observe(heldByA, clock.now());
    assert.equal(k.confirm({ name: "a" }).status, 200);
  });

  it("an acquire etcd answers with 'lease not found' lost the race: the member confirms at once", async () => {
    const clock = new FakeClock();
    const etcd = new MemoryEtcd(() => clock.now());
    const dcs = new MemoryDcs(etcd, "/service/t/");
    const log = silentLogger();
    const lease = new LeaseKeeper(dcs, clock, 4, 1000, log, () => undefined);
    const leaseId = await lease.ensure();
    etcd.revoke(leaseId); // expired in etcd; the keeper has not renewed since
    const memory: AgentMemory = {};
    const self = { ...selfOf("b"), failsafeMode: true };
    const failsafe = new FailsafeKeeper({
      self,
      clock,
      log,
      memory,
      lease,
      watchdog: watchdogOff(),
      intervalMs: 1000,
      timeoutMs: 1000,
      isPrimary: () => false,
      fenceAt: () => 0,
      viewLeader: () => "a",
      onConfirmed: () => undefined,
    });
    const pg = new PostgresOwner(new FakePgWorld().add("b", { host: "10.0.0.2", port: 5432 }));
    const executor = testExecutor({ self, dcs, pg, clock, lease, memory, failsafe });
    assert.equal(await executor.run([{ type: "acquireLeader" }]), false);
    assert.equal(failsafe.confirm({ name: "a" }).status, 200);
  });

  it("the API route answers 200 when confirmed, 409 with the reason otherwise, and needs the API's credentials", async () => {
    const { k } = keeper({ viewLeader: "c" });
    const auth = { username: "u", password: "p" };
    const m = new Mutations({
      dcs: {} as never,
      rules: { synchronousMode: "off", maximumLagOnFailover: 0 },
      auth,
      wallNow: () => 0,
      waitMs: 0,
      log: silentLogger(),
      failsafe: k,
    });
    const req = (body: string, authorized: boolean) =>
      Object.assign(Readable.from([Buffer.from(body)]), {
        headers: authorized ? { authorization: `Basic ${Buffer.from("u:p").toString("base64")}` } : {},
        socket: { remoteAddress: "127.0.0.1" },
      }) as unknown as http.IncomingMessage;
    assert.equal((await m.handle(req('{"name":"a"}', false), "POST", "/failsafe")).status, 401);
    const refused = await m.handle(req('{"name":"a"}', true), "POST", "/failsafe");
    assert.equal(refused.status, 409);
    assert.match(JSON.stringify(refused.body), /sees c as the leader/);
    const ok = await m.handle(req('{"name":"c"}', true), "POST", "/failsafe");
    assert.equal(ok.status, 200);
  });
});

describe("failsafe mode: the leader's request (postFailsafe)", () => {
  it("POSTs the leader's name with basic auth to the member's API origin; true only on 200", async () => {
    const seen: { path?: string; auth?: string; body?: string }[] = [];
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks).toString();
        seen.push({ path: req.url, auth: req.headers.authorization, body });
        res.writeHead(JSON.parse(body).name === "a" ? 200 : 409).end("{}");
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/patroni`;
      assert.equal(await postFailsafe(url, { name: "a" }, { username: "u", password: "p" }, 1000), true);
      assert.equal(await postFailsafe(url, { name: "x" }, undefined, 1000), false);
      assert.deepEqual(seen[0], { path: "/failsafe", auth: `Basic ${Buffer.from("u:p").toString("base64")}`, body: '{"name":"a"}' });
      assert.equal(seen[1].auth, undefined);
      assert.equal(await postFailsafe("http://127.0.0.1:1/patroni", { name: "a" }, undefined, 500), false, "nobody listening");
    } finally {
      server.close();
    }
  });
});
