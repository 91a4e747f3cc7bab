/**
 * POST /switchover, DELETE /switchover, POST /failover: the request checks (a table, pure) and the
 * API over an in-memory etcd: status codes as Patroni's, authentication, and that a refused request
 * changes nothing.
 */
import assert from "node:assert/strict";
import pino from "pino";
import { Writable } from "node:stream";
import { checkFailoverRequest, type RequestKind } from "../../sidecar/api/failover-request";
import { basicAuthMatches, Mutations } from "../../sidecar/api/mutations";
import { ApiServer } from "../../sidecar/api/server";
import type { ClusterSnapshot, Member } from "../../sidecar/dcs/types";
import type { CandidateRules } from "../../sidecar/ha/switchover";
import { MemoryDcs, MemoryEtcd } from "../helpers/memory-dcs";

const NOW = Date.parse("2026-11-27T15:00:00Z");
const ASYNC: CandidateRules = { synchronousMode: "off", maximumLagOnFailover: 1_048_576 };

function member(name: string, role: "primary" | "replica", extra: Partial<Member["data"]> = {}, nofailover = false): Member {
  return {
    name,
    leaseId: `l-${name}`,
    modRevision: 1,
    data: {
      conn_url: `postgres://127.0.0.1:5432/postgres`,
      api_url: `http://127.0.0.1:8008/patroni`,
      state: "running",
      role,
      xlog_location: 5000,
      timeline: 1,
      tags: { nofailover, noloadbalance: false, failover_priority: 1 },
      version: "test",
      ...extra,
    },
  };
}

function cluster(over: Partial<ClusterSnapshot> = {}): ClusterSnapshot {
  return {
    revision: 1,
    initialize: "7000",
    leader: { name: "a", leaseId: "l-a", modRevision: 1 },
    leaderOptime: 5000,
    members: [
      member("a", "primary"),
      member("b", "replica"),
      member("c", "replica", {}, true),
      member("d", "replica", { xlog_location: 10 }),
    ],
    corrupt: [],
    ...over,
  };
}

describe("switchover and failover requests (checked before anything is written)", () => {
  const cases: [string, RequestKind, unknown, ClusterSnapshot, CandidateRules, number, RegExp?][] = [
    ["a switchover to a healthy replica", "switchover", { leader: "a", candidate: "b" }, cluster(), ASYNC, 0],
    ["a switchover without candidate (the best one is picked)", "switchover", { leader: "a" }, cluster(), ASYNC, 0],
    [
      "a scheduled switchover",
      "switchover",
      { leader: "a", candidate: "b", scheduled_at: "2026-11-27T16:00:00+00:30" },
      cluster(),
      ASYNC,
      0,
    ],
    ["a failover without a leader", "failover", { candidate: "b" }, cluster({ leader: undefined }), ASYNC, 0],
    ["a body that is no object", "switchover", ["a"], cluster(), ASYNC, 400, /^body: must be a JSON object/],
    ["an unknown field", "switchover", { leader: "a", master: "a" }, cluster(), ASYNC, 400, /^master: unknown field/],
    ["a field that is not a string", "switchover", { leader: 1 }, cluster(), ASYNC, 400, /^leader: must be a non-empty string/],
    ["a switchover without leader", "switchover", { candidate: "b" }, cluster(), ASYNC, 400, /^leader: is required/],
    ["a failover without candidate", "failover", {}, cluster(), ASYNC, 400, /^candidate: is required/],
    [
      "a scheduled failover",
      "failover",
      { candidate: "b", scheduled_at: "2026-11-27T16:00:00Z" },
      cluster(),
      ASYNC,
      400,
      /^scheduled_at: a failover/,
    ],
    [
      "a malformed time",
      "switchover",
      { leader: "a", scheduled_at: "tomorrow" },
      cluster(),
      ASYNC,
      400,
      /^scheduled_at: "tomorrow" is not an ISO 8601/,
    ],
    ["a time without a zone", "switchover", { leader: "a", scheduled_at: "2026-11-27T16:00:00" }, cluster(), ASYNC, 400, /time zone/],
    ["a time in the past", "switchover", { leader: "a", scheduled_at: "2026-11-27T14:00:00Z" }, cluster(), ASYNC, 422, /in the past/],
    [
      "the wrong leader",
      "switchover",
      { leader: "b", candidate: "a" },
      cluster(),
      ASYNC,
      412,
      /^leader: "b" is not the leader \(the leader is a\)/,
    ],
    ["no leader for a switchover", "switchover", { leader: "a" }, cluster({ leader: undefined }), ASYNC, 412, /use POST \/failover/],
    [
      "an unknown member",
      "switchover",
      { leader: "a", candidate: "zz" },
      cluster(),
      ASYNC,
      412,
      /^candidate: no member named "zz" \(members: a, b, c, d\)/,
    ],
    ["the leader as candidate", "switchover", { leader: "a", candidate: "a" }, cluster(), ASYNC, 412, /already the leader/],
    ["a nofailover candidate", "switchover", { leader: "a", candidate: "c" }, cluster(), ASYNC, 412, /tagged nofailover/],
    [
      "a lagging candidate",
      "switchover",
      { leader: "a", candidate: "d" },
      cluster(),
      { ...ASYNC, maximumLagOnFailover: 100 },
      412,
      /4990 bytes behind/,
    ],
    [
      "not the synchronous standby in synchronous mode",
      "switchover",
      { leader: "a", candidate: "d" },
      cluster({ sync: { leader: "a", standbys: ["b"], modRevision: 1 } }),
      { ...ASYNC, synchronousMode: "on" },
      412,
      /only the synchronous standby \(b\)/,
    ],
    [
      "another switchover pending",
      "switchover",
      { leader: "a", candidate: "b" },
      cluster({ failover: { leader: "a", member: "d" } }),
      ASYNC,
      412,
      /pending \(from a to d\)/,
    ],
  ];
  for (const [what, kind, body, c, rules, status, error] of cases) {
    it(`${what} → ${status || "accepted"}`, () => {
      const r = checkFailoverRequest(kind, body, c, NOW, rules);
      if (status === 0) return assert.equal(r.ok, true, JSON.stringify(r));
      assert.equal(r.ok, false);
      if (r.ok) return;
      assert.equal(r.status, status);
      assert.match(r.error, error!);
    });
  }

  it("writes Patroni's key: {leader, member, scheduled_at}", () => {
    const r = checkFailoverRequest(
      "switchover",
      { leader: "a", candidate: "b", scheduled_at: "2026-11-27T16:00:00Z" },
      cluster(),
      NOW,
      ASYNC,
    );
    assert.deepEqual(r.ok && r.request, { leader: "a", member: "b", scheduled_at: "2026-11-27T16:00:00Z" });
  });

  it("basic auth matches only the exact user and password", () => {
    const creds = { username: "hapg", password: "s3cret" };
    const header = (s: string) => `Basic ${Buffer.from(s).toString("base64")}`;
    assert.equal(basicAuthMatches(header("hapg:s3cret"), creds), true);
    assert.equal(basicAuthMatches(header("hapg:s3cre"), creds), false);
    assert.equal(basicAuthMatches(header("other:s3cret"), creds), false);
    assert.equal(basicAuthMatches(undefined, creds), false);
    assert.equal(basicAuthMatches("Bearer x", creds), false);
  });
});

describe("REST API: switchover and failover calls", () => {
  const PASSWORD = "api-password-xyz";
  let api: ApiServer;
  let base: string;
  let dcs: MemoryDcs;
  let logged: string[];

  beforeEach(async () => {
    const etcd = new MemoryEtcd(() => Date.now());
    dcs = new MemoryDcs(etcd, "/service/t/");
    const lease = await dcs.grantLease(30);
    for (const m of cluster().members) await dcs.putMember(m.name, m.data, lease);
    await dcs.attemptAcquireLeader("a", lease);
    await dcs.putLeaderOptime(5000);
    logged = [];
    const sink = new Writable({ write: (chunk: Buffer, _e, cb) => (logged.push(chunk.toString()), cb()) });
    const log = pino({ level: "info" }, sink);
    api = new ApiServer({
      scope: "t",
      name: "a",
      ttlMs: 4000,
      noloadbalance: false,
      driver: { view: () => ({ holdsLeader: true, leaseValid: true }) as never },
      pg: { status: async () => ({ running: true, inRecovery: false, lsn: 5000 }) },
      now: () => 0,
      log,
      mutations: new Mutations({ dcs, rules: ASYNC, auth: { username: "hapg", password: PASSWORD }, wallNow: () => NOW, waitMs: 300, log }),
    });
    const addr = await api.listen("127.0.0.1", 0);
    base = `http://127.0.0.1:${addr.port}`;
  });
  afterEach(() => api.close());

  const auth = (password = PASSWORD) => ({ Authorization: `Basic ${Buffer.from(`hapg:${password}`).toString("base64")}` });
  async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = auth()) {
    const res = await fetch(base + path, {
      method,
      headers,
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as { error?: string; message?: string } };
  }
  const failoverKey = async () => (await dcs.load()).failover;

  it("without credentials: 401, nothing written, one log line without the secret", async () => {
    const r = await call("POST", "/switchover", { leader: "a", candidate: "b" }, {});
    assert.equal(r.status, 401);
    assert.match(r.body.error!, /no credentials: POST \/switchover needs HTTP basic auth/);
    assert.equal(await failoverKey(), undefined);
    const lines = logged.filter((l) => l.includes("refused POST /switchover"));
    assert.equal(lines.length, 1);
  });

  it("with a wrong password: 401, nothing written, the secrets stay out of the log", async () => {
    const r = await call("POST", "/failover", { candidate: "b" }, auth("guess"));
    assert.equal(r.status, 401);
    assert.match(r.body.error!, /wrong credentials/);
    assert.equal(await failoverKey(), undefined);
    assert.ok(!logged.join("").includes(PASSWORD) && !logged.join("").includes("guess"));
  });

  it("health endpoints stay open", async () => {
    const res = await fetch(`${base}/primary`);
    assert.equal(res.status, 200);
  });

  it("a malformed body: 400 naming the problem, nothing written", async () => {
    const r = await call("POST", "/switchover", "{leader:");
    assert.equal(r.status, 400);
    assert.match(r.body.error!, /^body: not valid JSON/);
    assert.equal(await failoverKey(), undefined);
  });

  it("an unknown member: 412, nothing written", async () => {
    const r = await call("POST", "/switchover", { leader: "a", candidate: "zz" });
    assert.equal(r.status, 412);
    assert.match(r.body.error!, /candidate: no member named "zz"/);
    assert.equal(await failoverKey(), undefined);
  });

  it("a scheduled switchover: 202 and the key; a second request: 412; DELETE cancels it", async () => {
    const r = await call("POST", "/switchover", { leader: "a", candidate: "b", scheduled_at: "2026-11-27T16:00:00Z" });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.deepEqual(await failoverKey(), { leader: "a", member: "b", scheduled_at: "2026-11-27T16:00:00Z" });
    const second = await call("POST", "/switchover", { leader: "a", candidate: "b" });
    assert.equal(second.status, 412);
    assert.match(second.body.error!, /another switchover is pending/);
    const cancel = await call("DELETE", "/switchover");
    assert.equal(cancel.status, 200);
    assert.equal(await failoverKey(), undefined);
    assert.equal((await call("DELETE", "/switchover")).status, 404);
  });

  it("concurrent requests: exactly one wins", async () => {
    const at = "2026-11-27T16:00:00Z";
    const rs = await Promise.all(["b", "d"].map((c) => call("POST", "/switchover", { leader: "a", candidate: c, scheduled_at: at })));
    assert.deepEqual(rs.map((r) => r.status).sort(), [202, 412]);
  });

  it("a switchover nobody carries out: 503 after the wait, saying so", async () => {
    const r = await call("POST", "/switchover", { leader: "a", candidate: "b" });
    assert.equal(r.status, 503);
    assert.match(r.body.error!, /not finished within 300 ms/);
  });

  it("a wrong method on a mutating path: 405 naming the allowed ones", async () => {
    const r = await call("PATCH", "/switchover", {});
    assert.equal(r.status, 405);
    assert.match(r.body.error!, /use POST or DELETE/);
  });
});
