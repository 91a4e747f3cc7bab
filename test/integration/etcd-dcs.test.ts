/**
 * EtcdDcs against real etcd processes (startEtcdCluster) on 127.0.0.1: every Dcs method, lease
 * expiry seen through the watch, races, member restarts and a frozen (SIGSTOPped) etcd. Every
 * suite starts its own cluster in its own temp dir on its own ports and stops it by pid.
 */
import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { EtcdDcs } from "../../sidecar/dcs/etcd";
import { DcsUnavailableError, LeaseLostError, type MemberData, type WatchEvent } from "../../sidecar/dcs/types";
import { startEtcdCluster, stopProcess, type EtcdMemberInfo } from "../../local/etcd";
import { restartEtcdMember } from "../helpers/etcd";

const member: MemberData = {
  conn_url: "postgres://127.0.0.1:5432/postgres",
  api_url: "http://127.0.0.1:8008/patroni",
  state: "running",
  role: "replica",
  xlog_location: 100,
  timeline: 1,
  tags: { nofailover: false, noloadbalance: false, failover_priority: 1 },
  version: "0.1.0",
};

/** Free ports in 22000-23999 (the range reserved for etcd tests), checked by binding them. */
async function freePorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < count) {
    const port = 22000 + Math.floor(Math.random() * 2000);
    if (ports.includes(port)) continue;
    const free = await new Promise<boolean>((resolve) => {
      const server = net.createServer();
      server.once("error", () => resolve(false));
      server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
    });
    if (free) ports.push(port);
  }
  return ports;
}

/** A running cluster for one suite; stop() ends every process it started, also after failures. */
class TestCluster {
  members: EtcdMemberInfo[] = [];
  readonly clients: EtcdDcs[] = [];
  dir = "";
  private prefixes = 0;

  async start(n: number): Promise<void> {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), "hapg-etcd-dcs-"));
    const ports = await freePorts(2 * n);
    const cluster = await startEtcdCluster({
      dir: this.dir,
      members: n,
      clientPorts: ports.slice(0, n),
      peerPorts: ports.slice(n),
      clusterToken: path.basename(this.dir),
    });
    this.members = cluster.members;
  }

  client(opts: { timeoutMs?: number; endpoints?: string[]; prefix?: string } = {}): EtcdDcs {
    const dcs = new EtcdDcs({
      endpoints: opts.endpoints ?? this.members.map((m) => m.clientUrl),
      prefix: opts.prefix ?? this.freshPrefix(),
      timeoutMs: opts.timeoutMs ?? 2000,
    });
    this.clients.push(dcs);
    return dcs;
  }

  /** Each test works under its own key prefix, so tests in one suite cannot see each other. */
  freshPrefix(): string {
    return `/service/t${++this.prefixes}/`;
  }

  async stop(): Promise<void> {
    for (const c of this.clients) await c.close();
    for (const m of this.members) {
      try {
        process.kill(m.pid, "SIGCONT"); // a test that froze it may have failed before thawing it
      } catch {
        // already gone
      }
      await stopProcess(m.pid, 5000);
    }
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<number> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const poll = () => {
      if (cond()) return resolve(Date.now() - t0);
      if (Date.now() - t0 > timeoutMs) return reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      setTimeout(poll, 20);
    };
    poll();
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** POST to the gateway directly (for what the Dcs does not do: compaction). */
function gatewayPost(clientUrl: string, p: string, body: object): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${clientUrl}${p}`, { method: "POST", agent: false }, (res) => {
      res.resume();
      res.on("end", () => (res.statusCode === 200 ? resolve() : reject(new Error(`${p}: HTTP ${res.statusCode}`))));
    });
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

describe("EtcdDcs against real etcd", function () {
  this.timeout(30_000);

  describe("one member", () => {
    const cluster = new TestCluster();
    before(() => cluster.start(1));
    after(() => cluster.stop());

    it("implements every Dcs method with etcd's semantics", async () => {
      const a = cluster.client();
      const b = cluster.client({ prefix: a.prefix });
      assert.deepEqual(await a.load(), { revision: (await a.load()).revision, members: [], corrupt: [] });

      const la = await a.grantLease(3);
      assert.match(la, /^\d+$/);
      assert.equal(await a.keepAlive(la), 3);
      const lb = await b.grantLease(1);
      assert.equal(await b.keepAlive(lb), 2, "etcd raises TTLs to its minimum (1.5 × election timeout)");

      assert.equal(await a.attemptInitialize(""), true);
      assert.equal(await b.attemptInitialize(""), false);
      assert.equal((await b.load()).initialize, "");
      assert.equal(await b.finishInitialize("x", "7300"), false);
      assert.equal(await a.finishInitialize("", "7300"), true);
      assert.equal(await b.cancelInitialize(""), false);

      await a.putMember("a", member, la);
      await b.putMember("b", { ...member, role: "primary" }, lb);
      assert.equal(await a.attemptAcquireLeader("a", la), true);
      assert.equal(await b.attemptAcquireLeader("b", lb), false);
      assert.equal(await a.attemptAcquireLeader("a", la), true, "a retry whose first answer was lost finds its own key");
      assert.equal(await a.attemptAcquireLeader("a", lb), false, "same name, other lease: not ours");
      assert.equal(await b.attemptUpdateLeader("b", lb), false);
      assert.equal(await b.releaseLeader("b"), false);
      await a.putLeaderOptime(123456);
      await a.putFailover({ leader: "a", candidate: "b" });

      let s = await b.load();
      assert.equal(s.initialize, "7300");
      assert.deepEqual(s.leader && { name: s.leader.name, leaseId: s.leader.leaseId }, { name: "a", leaseId: la });
      assert.equal(s.leaderOptime, 123456);
      assert.deepEqual(s.failover, { leader: "a", candidate: "b" });
      assert.deepEqual(
        s.members.map((m) => [m.name, m.data.role, m.leaseId]),
        [
          ["a", "replica", la],
          ["b", "primary", lb],
        ],
      );
      assert.deepEqual(s.corrupt, []);

      const la2 = await a.grantLease(3);
      assert.equal(await a.attemptUpdateLeader("a", la2), true);
      assert.equal((await b.load()).leader?.leaseId, la2);
      await a.revokeLease(la);
      await a.revokeLease(la); // idempotent
      await assert.rejects(a.keepAlive(la), LeaseLostError);
      await assert.rejects(a.putMember("a", member, la), LeaseLostError);
      s = await b.load();
      assert.deepEqual(
        s.members.map((m) => m.name),
        ["b"],
        "revoking deletes the keys bound to the lease",
      );
      assert.equal(s.leader?.name, "a", "the leader key now lives on the new lease");

      assert.equal(await a.releaseLeader("a"), true);
      assert.equal(await a.releaseLeader("a"), false);
      await a.putFailover(undefined);
      assert.equal(await a.cancelInitialize("7300"), true);
      s = await b.load();
      assert.deepEqual([s.leader, s.failover, s.initialize], [undefined, undefined, undefined]);
    });

    it("when a lease expires, etcd deletes leader and member keys and the watch reports it within ~1 s", async () => {
      const dcs = cluster.client();
      const observer = cluster.client({ prefix: dcs.prefix });
      const lease = await dcs.grantLease(2);
      const granted = Date.now();
      await dcs.putMember("a", member, lease);
      assert.equal(await dcs.attemptAcquireLeader("a", lease), true);
      const events: (WatchEvent & { at: number })[] = [];
      const stop = observer.watch((await observer.load()).revision + 1, (e) => events.push({ ...e, at: Date.now() }));
      try {
        await waitFor(() => events.filter((e) => e.type === "delete").length === 2, 5000, "both deletes");
        const deletes = events.filter((e) => e.type === "delete");
        assert.deepEqual(deletes.map((e) => e.key.slice(dcs.prefix.length)).sort(), ["leader", "members/a"]);
        // etcd revokes within 500 ms of expiry; the event reaches us within ~1 s of that.
        for (const e of deletes) assert.ok(e.at - granted >= 2000 && e.at - granted < 2000 + 1500, `delete after ${e.at - granted} ms`);
        const s = await observer.load();
        assert.deepEqual([s.leader, s.members.length], [undefined, 0]);
      } finally {
        stop();
      }
    });

    it("two clients racing attemptAcquireLeader: exactly one wins, every round", async () => {
      for (let round = 0; round < 5; round++) {
        const prefix = cluster.freshPrefix();
        const [a, b] = [cluster.client({ prefix }), cluster.client({ prefix })];
        const [la, lb] = await Promise.all([a.grantLease(5), b.grantLease(5)]);
        const won = await Promise.all([a.attemptAcquireLeader("a", la), b.attemptAcquireLeader("b", lb)]);
        assert.equal(won.filter(Boolean).length, 1, `round ${round}: ${won}`);
        assert.equal((await a.load()).leader?.name, won[0] ? "a" : "b");
      }
    });

    it("after compaction the watch reports it and continues from the current revision", async () => {
      const dcs = cluster.client();
      const r0 = (await dcs.load()).revision;
      await dcs.putLeaderOptime(1);
      await dcs.putLeaderOptime(2);
      const now = (await dcs.load()).revision;
      await gatewayPost(cluster.members[0].clientUrl, "/v3/kv/compaction", { revision: String(now), physical: true });
      const events: WatchEvent[] = [];
      const errors: Error[] = [];
      const stop = dcs.watch(
        r0,
        (e) => events.push(e),
        (err) => errors.push(err),
      );
      try {
        await waitFor(() => errors.length > 0, 3000, "the compaction error");
        assert.match(errors[0].message, /compacted/);
        await sleep(200);
        await dcs.putLeaderOptime(3);
        await waitFor(() => events.length > 0, 3000, "an event after the compaction");
        assert.ok(
          events.every((e) => e.revision > now),
          JSON.stringify(events),
        );
      } finally {
        stop();
      }
    });

    it("fails over from a dead endpoint to a live one; with none alive rejects DcsUnavailableError in time", async () => {
      const [deadPort] = await freePorts(1);
      const live = cluster.client({ endpoints: [`http://127.0.0.1:${deadPort}`, cluster.members[0].clientUrl], timeoutMs: 1000 });
      await live.putLeaderOptime(5);
      assert.equal((await live.load()).leaderOptime, 5);
      assert.equal(live.currentEndpoint, cluster.members[0].clientUrl, "remembers the endpoint that answered");
      const dead = cluster.client({ endpoints: [`http://127.0.0.1:${deadPort}`], timeoutMs: 1000 });
      const t0 = Date.now();
      await assert.rejects(dead.load(), DcsUnavailableError);
      assert.ok(Date.now() - t0 < 1200);
    });

    it("a stopped watch and a closed client leave no socket or timer behind", async () => {
      const count = () => process.getActiveResourcesInfo().filter((r) => r === "TCPSocketWrap" || r === "Timeout").length;
      await sleep(10); // mocha starts its timeout timer after the test's first await
      const before = count();
      const dcs = new EtcdDcs({ endpoints: [cluster.members[0].clientUrl], prefix: cluster.freshPrefix(), timeoutMs: 500 });
      const events: WatchEvent[] = [];
      const stop = dcs.watch(0, (e) => events.push(e));
      await sleep(1200); // long enough for one liveness check of the watch's endpoint
      await dcs.putLeaderOptime(1);
      await waitFor(() => events.length === 1, 2000, "the event");
      stop();
      await dcs.close();
      // Polled outside timer callbacks: a timer counts as active while its own callback runs.
      for (let i = 0; i < 40 && count() > before; i++) await sleep(50);
      assert.ok(count() <= before, `still active after close: ${process.getActiveResourcesInfo().join(",")}`);
    });
  });

  describe("one member, frozen with SIGSTOP", () => {
    const cluster = new TestCluster();
    before(() => cluster.start(1));
    after(() => cluster.stop());

    it("every call rejects DcsUnavailableError within timeoutMs, and works again after SIGCONT", async () => {
      const dcs = cluster.client({ timeoutMs: 500 });
      const lease = await dcs.grantLease(10);
      const pid = cluster.members[0].pid;
      process.kill(pid, "SIGSTOP");
      try {
        const calls: [string, () => Promise<unknown>][] = [
          ["load", () => dcs.load()],
          ["keepAlive", () => dcs.keepAlive(lease)],
          ["attemptAcquireLeader", () => dcs.attemptAcquireLeader("a", lease)],
          ["putMember", () => dcs.putMember("a", member, lease)],
          ["grantLease", () => dcs.grantLease(5)],
        ];
        for (const [name, call] of calls) {
          const t0 = Date.now();
          await assert.rejects(call(), DcsUnavailableError, name);
          const took = Date.now() - t0;
          assert.ok(took >= 450 && took < 1000, `${name} took ${took} ms (timeoutMs 500)`);
        }
      } finally {
        process.kill(pid, "SIGCONT");
      }
      assert.equal(await dcs.keepAlive(lease), 10);
      assert.deepEqual((await dcs.load()).corrupt, []);
    });
  });

  describe("three members", () => {
    const cluster = new TestCluster();
    before(() => cluster.start(3));
    after(() => cluster.stop());

    it("clients on different members race for the leader key: exactly one wins", async () => {
      const prefix = cluster.freshPrefix();
      const clients = cluster.members.map((m) => cluster.client({ prefix, endpoints: [m.clientUrl] }));
      const leases = await Promise.all(clients.map((c) => c.grantLease(5)));
      const won = await Promise.all(clients.map((c, i) => c.attemptAcquireLeader(`n${i}`, leases[i])));
      assert.equal(won.filter(Boolean).length, 1, String(won));
      const winner = won.indexOf(true);
      for (const c of clients) assert.equal((await c.load()).leader?.name, `n${winner}`, "linearizable reads agree on every member");
    });

    it("the watch survives a restart of the member it is connected to, without losing or repeating events", async () => {
      const watcher = cluster.client({ timeoutMs: 1000 });
      const writer = cluster.client({ prefix: watcher.prefix, endpoints: [cluster.members[1].clientUrl, cluster.members[2].clientUrl] });
      const events: WatchEvent[] = [];
      const errors: Error[] = [];
      const stop = watcher.watch(
        (await writer.load()).revision + 1,
        (e) => events.push(e),
        (err) => errors.push(err),
      );
      try {
        await writer.putLeaderOptime(1);
        await waitFor(() => events.length === 1, 3000, "the first event");
        assert.equal(watcher.currentEndpoint, cluster.members[0].clientUrl);

        await stopProcess(cluster.members[0].pid, 5000);
        await writer.putLeaderOptime(2);
        await waitFor(() => events.length === 2, 5000, "an event while member 1 is down");
        assert.ok(errors.length > 0, "onError reported the broken stream");

        cluster.members[0] = await restartEtcdMember(cluster.members[0]);
        await writer.putLeaderOptime(3);
        await waitFor(() => events.length === 3, 5000, "an event after member 1 is back");
        const revisions = events.map((e) => e.revision);
        assert.deepEqual(
          revisions,
          [...new Set(revisions)].sort((x, y) => x - y),
          "in order, no repeats",
        );
      } finally {
        stop();
      }
    });

    it("the watch leaves a frozen (SIGSTOPped) member for a live one", async () => {
      const watcher = cluster.client({ timeoutMs: 500 });
      const writer = cluster.client({ prefix: watcher.prefix, endpoints: [cluster.members[1].clientUrl, cluster.members[2].clientUrl] });
      const events: WatchEvent[] = [];
      const stop = watcher.watch((await writer.load()).revision + 1, (e) => events.push(e));
      await sleep(300);
      const frozen = cluster.members.find((m) => m.clientUrl === watcher.currentEndpoint);
      assert.ok(frozen, `watch endpoint ${watcher.currentEndpoint}`);
      process.kill(frozen.pid, "SIGSTOP");
      try {
        await writer.putLeaderOptime(7);
        // Liveness check every 1 s, 0.5 s to fail, then reconnect (and maybe a new raft leader).
        await waitFor(() => events.length === 1, 6000, "the event through another member");
      } finally {
        process.kill(frozen.pid, "SIGCONT");
        stop();
      }
    });
  });

  describe("one member with authentication", () => {
    const cluster = new TestCluster();
    before(async () => {
      await cluster.start(1);
      const ctl = (...args: string[]) =>
        execFileSync("etcdctl", [`--endpoints=${cluster.members[0].clientUrl}`, ...args], {
          env: { ...process.env, ETCDCTL_API: "3" },
          stdio: "pipe",
        });
      ctl("user", "add", "root:rootpw");
      ctl("role", "add", "root");
      ctl("user", "grant-role", "root", "root");
      ctl("auth", "enable");
    });
    after(() => cluster.stop());

    it("authenticates with username/password and sends the token; a wrong password is refused", async () => {
      const endpoints = [cluster.members[0].clientUrl];
      const dcs = new EtcdDcs({ endpoints, prefix: cluster.freshPrefix(), timeoutMs: 2000, username: "root", password: "rootpw" });
      cluster.clients.push(dcs);
      const events: WatchEvent[] = [];
      const stop = dcs.watch((await dcs.load()).revision + 1, (e) => events.push(e));
      try {
        const lease = await dcs.grantLease(5);
        assert.equal(await dcs.attemptAcquireLeader("a", lease), true);
        assert.equal((await dcs.load()).leader?.name, "a");
        await waitFor(() => events.length === 1, 3000, "a watch event with auth");
      } finally {
        stop();
      }
      const anonymous = cluster.client({ prefix: dcs.prefix });
      await assert.rejects(anonymous.load(), (err: Error) => !(err instanceof DcsUnavailableError));
      const wrong = new EtcdDcs({ endpoints, prefix: dcs.prefix, timeoutMs: 2000, username: "root", password: "nope" });
      cluster.clients.push(wrong);
      await assert.rejects(wrong.load(), /authentication failed/);
    });
  });
});
