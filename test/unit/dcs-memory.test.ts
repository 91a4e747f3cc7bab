import * as assert from "node:assert/strict";
import { MemoryDcs, MemoryEtcd } from "../helpers/memory-dcs";
import { DcsUnavailableError, LeaseLostError, type MemberData, type WatchEvent } from "../../sidecar/dcs/types";
import { sampleMemberData } from "../helpers/member-fixture";

const P = "/service/main/";
const member: MemberData = sampleMemberData();

describe("dcs MemoryEtcd / MemoryDcs", () => {
  let now: number;
  let store: MemoryEtcd;
  let a: MemoryDcs;
  let b: MemoryDcs;
  beforeEach(() => {
    now = 0;
    store = new MemoryEtcd(() => now);
    a = new MemoryDcs(store, P);
    b = new MemoryDcs(store, P);
  });

  describe("leases on the fake clock", () => {
    it("a lease expires ttl after its last renewal; its keys vanish at the next 500 ms check", async () => {
      now = 100;
      const lease = await a.grantLease(4);
      await a.putMember("a", member, lease);
      assert.equal(await a.attemptAcquireLeader("a", lease), true);
      now = 3100;
      assert.equal(await a.keepAlive(lease), 4); // now expires at 7100
      now = 7099;
      assert.equal((await b.load()).leader?.name, "a");
      now = 7100; // expired: cannot be renewed any more ...
      await assert.rejects(a.keepAlive(lease), LeaseLostError);
      assert.equal((await b.load()).leader?.name, "a", "... but not revoked before the next check point (7500)");
      now = 7500;
      const s = await b.load();
      assert.equal(s.leader, undefined);
      assert.deepEqual(s.members, []);
    });

    it("revokes at the first check point at or after expiry, deleting leader and member in one revision", async () => {
      now = 1;
      const lease = await a.grantLease(2); // expires at 2001, revoked at check point 2500
      await a.putMember("a", member, lease);
      await a.attemptAcquireLeader("a", lease);
      const events: WatchEvent[] = [];
      b.watch(0, (e) => events.push(e));
      now = 2001;
      await assert.rejects(a.keepAlive(lease), LeaseLostError);
      assert.equal((await b.load()).leader?.name, "a");
      now = 2500;
      store.tick();
      assert.deepEqual(
        events.map((e) => [e.type, e.key]),
        [
          ["delete", P + "leader"],
          ["delete", P + "members/a"],
        ],
      );
      assert.equal(events[0].revision, events[1].revision);
      const s = await b.load();
      assert.equal(s.leader, undefined);
      assert.deepEqual(s.members, []);
    });

    it("with leaseCheckIntervalMs 0 keys vanish exactly at expiry; TTLs are raised to the minimum", async () => {
      store = new MemoryEtcd(() => now, { leaseCheckIntervalMs: 0 });
      a = new MemoryDcs(store, P);
      const lease = await a.grantLease(1);
      assert.equal(await a.keepAlive(lease), 2);
      await a.attemptAcquireLeader("a", lease);
      now = 1999;
      assert.equal(store.peek(P + "leader"), "a");
      now = 2000;
      assert.equal(store.peek(P + "leader"), undefined);
    });

    it("revoke is idempotent and deletes the lease's keys; a put to a dead lease rejects LeaseLostError", async () => {
      const lease = await a.grantLease(4);
      await a.putMember("a", member, lease);
      await a.revokeLease(lease);
      await a.revokeLease(lease);
      assert.deepEqual((await a.load()).members, []);
      await assert.rejects(a.putMember("a", member, lease), LeaseLostError);
      await assert.rejects(a.attemptAcquireLeader("a", lease), LeaseLostError);
      await assert.rejects(a.keepAlive(lease), LeaseLostError);
    });
  });

  describe("transactions", () => {
    it("create-if-absent: of two racing clients exactly one gets the leader key", async () => {
      const [la, lb] = [await a.grantLease(4), await b.grantLease(4)];
      const results = await Promise.all([a.attemptAcquireLeader("a", la), b.attemptAcquireLeader("b", lb)]);
      assert.deepEqual(results, [true, false]);
      const leader = (await b.load()).leader;
      assert.deepEqual([leader?.name, leader?.leaseId], ["a", la]);
      assert.equal(await b.attemptAcquireLeader("b", lb), false);
      assert.equal(await a.attemptAcquireLeader("a", la), true, "a retry whose first answer was lost finds its own key");
      assert.equal(await a.attemptAcquireLeader("a", lb), false, "same name, other lease: not ours");
    });

    it("update and release compare the value: only the holder can rebind or delete", async () => {
      const la = await a.grantLease(4);
      await a.attemptAcquireLeader("a", la);
      const lb = await b.grantLease(4);
      assert.equal(await b.attemptUpdateLeader("b", lb), false);
      assert.equal(await b.releaseLeader("b"), false);
      const la2 = await a.grantLease(4);
      assert.equal(await a.attemptUpdateLeader("a", la2), true);
      assert.equal((await a.load()).leader?.leaseId, la2);
      assert.equal(await a.releaseLeader("a"), true);
      assert.equal(await a.releaseLeader("a"), false, "nothing left to delete");
      assert.equal(await a.attemptUpdateLeader("a", la2), false, "a value compare on an absent key fails");
    });

    it("a switchover's release writes the handover key in its transaction; the next acquire deletes it in its own", async () => {
      const la = await a.grantLease(4);
      await a.attemptAcquireLeader("a", la);
      const lb = await b.grantLease(4);
      assert.equal(await b.releaseLeader("b", "c"), false);
      assert.equal((await a.load()).handover, undefined, "a failed release writes nothing");
      assert.equal(await a.releaseLeader("a", "b"), true);
      const after = await b.load();
      assert.equal(after.leader, undefined);
      assert.deepEqual(after.handover, { from: "a", to: "b" });
      assert.equal(await b.attemptAcquireLeader("b", lb), true);
      assert.equal((await b.load()).handover, undefined, "gone once someone holds the key");
      assert.equal(await b.releaseLeader("b"), true);
      assert.equal((await b.load()).handover, undefined, "a plain release names nobody");
    });

    it("initialize: create once, finish and cancel only with the expected value", async () => {
      assert.equal(await a.attemptInitialize(""), true);
      assert.equal(await b.attemptInitialize(""), false);
      assert.equal(await b.cancelInitialize("other"), false);
      assert.equal(await a.finishInitialize("", "7300"), true);
      assert.equal(await a.finishInitialize("", "7301"), false);
      assert.equal((await b.load()).initialize, "7300");
      assert.equal(await a.cancelInitialize("7300"), true);
      assert.equal((await b.load()).initialize, undefined);
    });

    it("status, failover and revisions", async () => {
      const r0 = (await a.load()).revision;
      await a.putLeaderOptime(5000);
      await a.putFailover({ candidate: "b" });
      let s = await b.load();
      assert.equal(s.revision, r0 + 2);
      assert.equal(s.leaderOptime, 5000);
      assert.deepEqual(s.failover, { candidate: "b" });
      await a.putFailover(undefined);
      s = await b.load();
      assert.equal(s.failover, undefined);
      await a.putFailover(undefined);
      assert.equal((await b.load()).revision, r0 + 3, "deleting an absent key is not a change");
    });

    it("rejects invalid member data without writing anything", async () => {
      const lease = await a.grantLease(4);
      const bad = { ...member, role: "master" } as unknown as MemberData;
      await assert.rejects(a.putMember("a", bad, lease), /role/);
      await assert.rejects(a.putMember("a/b", member, lease), /invalid member name/);
      assert.deepEqual((await a.load()).members, []);
    });
  });

  describe("watch", () => {
    it("delivers puts and deletes synchronously after commit, in revision order, from a past revision too", async () => {
      const r0 = (await a.load()).revision;
      const live: WatchEvent[] = [];
      const stop = a.watch(r0 + 1, (e) => live.push(e));
      await b.putLeaderOptime(1);
      assert.equal(live.length, 1, "delivered inside the put");
      const lease = await b.grantLease(4);
      await b.attemptAcquireLeader("b", lease);
      await b.releaseLeader("b");
      assert.deepEqual(
        live.map((e) => [e.type, e.key.slice(P.length), e.revision - r0]),
        [
          ["put", "status", 1],
          ["put", "leader", 2],
          ["delete", "leader", 3],
        ],
      );
      const replayed: WatchEvent[] = [];
      a.watch(r0 + 2, (e) => replayed.push(e));
      assert.deepEqual(replayed, live.slice(1));
      stop();
      await b.putLeaderOptime(2);
      assert.equal(live.length, 3, "no event after stop");
    });

    it("ignores keys outside the prefix and keeps order when a callback writes", async () => {
      const other = new MemoryDcs(store, "/service/other/");
      const seen: number[] = [];
      a.watch(0, (e) => {
        seen.push(e.revision);
        if (seen.length === 1) void a.putLeaderOptime(2); // nested write: delivered after this event
      });
      await other.putLeaderOptime(9);
      await b.putLeaderOptime(1);
      await b.putFailover({ candidate: "x" });
      assert.equal(seen.length, 3);
      assert.deepEqual(
        [...seen].sort((x, y) => x - y),
        seen,
      );
    });

    it("after compaction a watch from an older revision reports an error and continues from now", async () => {
      await b.putLeaderOptime(1);
      await b.putLeaderOptime(2);
      store.compact(store.revision);
      const errors: Error[] = [];
      const events: WatchEvent[] = [];
      a.watch(
        1,
        (e) => events.push(e),
        (err) => errors.push(err),
      );
      assert.match(errors[0]?.message ?? "", /compacted/);
      assert.deepEqual(events, []);
      await b.putLeaderOptime(3);
      assert.equal(events.length, 1);
    });
  });

  describe("unreachable client", () => {
    it("rejects every call with DcsUnavailableError, while others go on; the watch breaks and resumes", async () => {
      const events: WatchEvent[] = [];
      const errors: Error[] = [];
      a.watch(
        0,
        (e) => events.push(e),
        (err) => errors.push(err),
      );
      const lease = await a.grantLease(4);
      a.setReachable(false);
      assert.ok(errors[0] instanceof DcsUnavailableError);
      for (const call of [
        a.load(),
        a.grantLease(4),
        a.keepAlive(lease),
        a.revokeLease(lease),
        a.attemptAcquireLeader("a", lease),
        a.releaseLeader("a"),
        a.putLeaderOptime(1),
        a.putFailover(undefined),
        a.attemptInitialize(""),
      ]) {
        await assert.rejects(call, DcsUnavailableError);
      }
      now = 3000;
      assert.equal(await b.attemptAcquireLeader("b", await b.grantLease(4)), true);
      await b.putLeaderOptime(7);
      assert.equal(events.length, 0, "no events while cut off");
      now = 5000; // a's lease (granted at 0) expires while it cannot renew; b's (at 3000) lives on
      store.tick();
      a.setReachable(true);
      assert.deepEqual(
        events.map((e) => e.key.slice(P.length)),
        ["leader", "status"],
        "missed events replayed on reconnect",
      );
      await assert.rejects(a.keepAlive(lease), LeaseLostError);
      assert.equal((await a.load()).leader?.name, "b");
    });
  });
});
