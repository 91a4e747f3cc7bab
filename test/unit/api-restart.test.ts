/**
 * POST/DELETE /restart, POST /reload, POST /reinitialize: the request checks and the rules (tables,
 * pure), then the API over a modelled PostgreSQL: Patroni's status codes, authentication, and that
 * a refused request changes nothing.
 */
import assert from "node:assert/strict";
import { MemberOperations } from "../../sidecar/api/member-ops";
import { Mutations } from "../../sidecar/api/mutations";
import {
  type MemberNow,
  parseReinitRequest,
  parseRestartRequest,
  parseSeconds,
  reinitProblem,
  type RestartRequest,
  restartProblem,
} from "../../sidecar/api/restart-request";
import { ApiServer } from "../../sidecar/api/server";
import type { ClusterSnapshot } from "../../sidecar/dcs/types";
import { PostgresOwner } from "../../sidecar/postgres/owner";
import { FakePgWorld } from "../helpers/fake-postgres";
import { member, threeMembers } from "../helpers/ha-fixtures";
import { MemoryDcs, MemoryEtcd } from "../helpers/memory-dcs";
import { silentLogger } from "../helpers/silent-logger";

const NOW = Date.parse("2026-11-27T15:00:00Z");

describe("restart requests (checked before anything is done)", () => {
  const cases: [string, unknown, number, RegExp | RestartRequest][] = [
    ["an empty body: restart now", {}, 0, {}],
    [
      "Patroni's filters",
      { restart_pending: true, role: "replica", timeout: "2min" },
      0,
      { restartPending: true, role: "replica", timeoutS: 120 },
    ],
    ["role master is the primary (Patroni 2)", { role: "master" }, 0, { role: "primary" }],
    ["a schedule", { schedule: "2026-11-27T16:00:00+01:00" }, 0, { schedule: "2026-11-27T16:00:00+01:00", scheduleAt: NOW }],
    ["a body that is no object", [1], 400, /^body: must be a JSON object, e\.g\. \{"restart_pending":true/],
    [
      "an unknown field",
      { when: "now" },
      400,
      /^when: unknown field\(s\) for a restart; send only restart_pending, role, schedule, timeout$/,
    ],
    ["postgres_version", { postgres_version: "16" }, 400, /^postgres_version: restarting by PostgreSQL version is not supported/],
    ["restart_pending not a boolean", { restart_pending: "true" }, 400, /^restart_pending: must be true or false$/],
    ["an unknown role", { role: "leader" }, 400, /^role: "leader" is not a role: give "primary" or "replica"/],
    ["a zero timeout", { timeout: 0 }, 400, /^timeout: "0" is not a positive number of seconds/],
    ["a timeout that is no duration", { timeout: "soon" }, 400, /^timeout: "soon" is not a positive number of seconds, e\.g\. 60/],
    [
      "a schedule without a time zone",
      { schedule: "2026-11-27T16:00:00" },
      400,
      /^schedule: "2026-11-27T16:00:00" is not an ISO 8601 time with a time zone/,
    ],
    ["a schedule that is no string", { schedule: 5 }, 400, /^schedule: "5" is not an ISO 8601 time/],
    [
      "a schedule in the past",
      { schedule: "2026-11-27T14:00:00Z" },
      422,
      /^schedule: 2026-11-27T14:00:00Z is in the past: give a future time/,
    ],
  ];
  for (const [name, body, status, want] of cases) {
    it(`${name}: ${status || "accepted"}`, () => {
      const r = parseRestartRequest(body, NOW - 3600_000);
      if (status === 0) {
        assert.ok(r.ok, JSON.stringify(r));
        assert.deepEqual(r.request, want);
      } else {
        assert.ok(!r.ok);
        assert.equal(r.status, status);
        assert.match(r.error, want as RegExp);
      }
    });
  }

  it("durations: seconds, minutes, hours; nothing else", () => {
    assert.deepEqual([30, "30", "30s", "1.5min", "1h", 0, -1, "1d", "", null].map(parseSeconds), [
      30,
      30,
      30,
      90,
      3600,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
  });
});

describe("restart conditions (Patroni's 503 when not met)", () => {
  const replica: MemberNow = { running: true, role: "replica", pendingRestart: false };
  const cases: [string, RestartRequest, MemberNow, RegExp | undefined][] = [
    ["a running replica, no filter", {}, replica, undefined],
    ["role replica on a replica", { role: "replica" }, replica, undefined],
    [
      "role primary on a replica",
      { role: "primary" },
      replica,
      /^restart conditions are not satisfied: role: this member runs as replica, the request restarts only a primary$/,
    ],
    ["role replica on the primary", { role: "replica" }, { ...replica, role: "primary" }, /role: this member runs as primary/],
    [
      "restart_pending without a pending restart",
      { restartPending: true },
      replica,
      /restart_pending: PostgreSQL reports no change waiting/,
    ],
    ["restart_pending with one", { restartPending: true }, { ...replica, pendingRestart: true }, undefined],
    ["PostgreSQL not running", {}, { running: false }, /^PostgreSQL is not running on this member: nothing to restart/],
    ["a restart in progress", {}, { ...replica, operation: "restart" }, /^restart already in progress: wait for it/],
    ["a reinitialize in progress", {}, { ...replica, operation: "reinitialize" }, /^reinitialize already in progress/],
  ];
  for (const [name, request, now, want] of cases) {
    it(`${name}: ${want ? "refused" : "restarts"}`, () => {
      const problem = restartProblem(request, now);
      if (!want) assert.equal(problem, undefined);
      else assert.match(problem ?? "", want);
    });
  }
});

describe("reinitialize requests and rules", () => {
  it("body: {} or {force: bool}; anything else refused naming the field", () => {
    assert.deepEqual(parseReinitRequest({}), { ok: true, force: false });
    assert.deepEqual(parseReinitRequest({ force: true }), { ok: true, force: true });
    assert.match((parseReinitRequest({ force: "yes" }) as { error: string }).error, /^force: must be true or false$/);
    assert.match((parseReinitRequest({ wipe: true }) as { error: string }).error, /^wipe: unknown field\(s\); send only force$/);
    assert.match((parseReinitRequest("x") as { error: string }).error, /^body: must be a JSON object/);
  });

  const replica: MemberNow = { running: true, role: "replica" };
  const cases: [string, ClusterSnapshot | undefined, string, MemberNow, boolean, RegExp | undefined][] = [
    ["a replica while the leader runs", threeMembers(), "b", replica, false, undefined],
    ["a stopped replica", threeMembers(), "b", { running: false }, false, undefined],
    [
      "the leader",
      threeMembers(),
      "a",
      { running: true, role: "primary" },
      false,
      /^a is the leader: only a replica is reinitialized; switch over first/,
    ],
    ["no leader", threeMembers({ leader: undefined }), "b", replica, false, /^the cluster has no leader: nothing to copy from/],
    ["etcd unreadable", undefined, "b", replica, false, /^etcd cannot be read now/],
    [
      "a primary without the key",
      threeMembers(),
      "b",
      { running: true, role: "primary" },
      false,
      /^b runs as a primary without the leader key/,
    ],
    [
      "a leader that does not run",
      threeMembers({ members: [member("a", "primary", 5432, { state: "stopped" }), member("b", "replica", 5433)] }),
      "b",
      replica,
      false,
      /^leader a is not running as the primary now/,
    ],
    [
      "a restart in progress",
      threeMembers(),
      "b",
      { ...replica, operation: "restart" },
      false,
      /^restart already in progress: wait for it, or send \{"force": true\}/,
    ],
    ["a restart in progress, force", threeMembers(), "b", { ...replica, operation: "restart" }, true, undefined],
  ];
  for (const [name, cluster, self, now, force, want] of cases) {
    it(`${name}: ${want ? "refused" : "rebuilt"}`, () => {
      const problem = reinitProblem(cluster, self, now, force);
      if (!want) assert.equal(problem, undefined);
      else assert.match(problem ?? "", want);
    });
  }
});

describe("REST API: restart, reload, reinitialize on a modelled member", () => {
  const PASSWORD = "restart-secret";
  let api: ApiServer;
  let base: string;
  let ops: MemberOperations;
  let world: FakePgWorld;
  const loops: string[] = [];

  async function setUp(self: "a" | "b"): Promise<void> {
    world = new FakePgWorld();
    const leaderPg = world.add("a", { host: "127.0.0.1", port: 5432 });
    await leaderPg.bootstrap();
    const pg = self === "a" ? leaderPg : world.add("b", { host: "127.0.0.1", port: 5433 });
    if (self === "b") {
      await pg.baseBackup(leaderPg.address);
      await pg.startReplica(leaderPg.address);
    }
    const owner = new PostgresOwner(pg);
    const dcs = new MemoryDcs(new MemoryEtcd(() => Date.now()), "/service/t/");
    const lease = await dcs.grantLease(30);
    for (const m of threeMembers().members) await dcs.putMember(m.name, m.data, lease);
    await dcs.attemptAcquireLeader("a", lease);
    const log = silentLogger();
    const driver = {
      view: () => ({ holdsLeader: self === "a", leaseValid: true }) as never,
      requestLoop: (why: string) => void loops.push(why),
      mayRestartAsPrimary: () => self === "a",
      restarted: async () => void loops.push("restarted"),
    };
    ops = new MemberOperations({ name: self, pg: owner, driver, dcs, wallNow: () => NOW, log });
    api = new ApiServer({
      scope: "t",
      name: self,
      ttlMs: 4000,
      noloadbalance: false,
      driver,
      pg: owner,
      now: () => 0,
      log,
      scheduledRestart: () => ops.scheduledRestart(),
      mutations: new Mutations({
        dcs,
        rules: { synchronousMode: "off", maximumLagOnFailover: 1 << 20 },
        auth: { username: "hapg", password: PASSWORD },
        wallNow: () => NOW,
        waitMs: 300,
        log,
        operations: ops,
      }),
    });
    base = `http://127.0.0.1:${(await api.listen("127.0.0.1", 0)).port}`;
  }
  afterEach(async () => {
    ops?.close();
    await api?.close();
  });

  const auth = (password = PASSWORD) => ({ Authorization: `Basic ${Buffer.from(`hapg:${password}`).toString("base64")}` });
  async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = auth()) {
    const text = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
    const res = await fetch(base + path, { method, headers, body: text });
    return { status: res.status, body: (await res.json()) as { error?: string; message?: string; pending_restart?: boolean } };
  }
  const pgOf = (name: string) => [...world.servers.values()].find((s) => s.name === name)!;

  it("without or with wrong credentials: 401 on every route, nothing restarted", async () => {
    await setUp("b");
    for (const [method, path] of [
      ["POST", "/restart"],
      ["DELETE", "/restart"],
      ["POST", "/reload"],
      ["POST", "/reinitialize"],
    ]) {
      assert.equal((await call(method, path, {}, {})).status, 401, `${method} ${path}`);
      assert.equal((await call(method, path, {}, auth("guess"))).status, 401, `${method} ${path}`);
    }
    assert.deepEqual(
      pgOf("b").commands.filter((c) => c === "stop" || c === "reload"),
      [],
    );
  });

  it("POST /restart on a replica: 200 once it runs again; a malformed body 400 naming the body; wrong role 503", async () => {
    await setUp("b");
    const bad = await call("POST", "/restart", "{nope");
    assert.equal(bad.status, 400);
    assert.match(bad.body.error!, /^body: not valid JSON .*; send e\.g\. \{"restart_pending":true,"role":"replica"\}$/);
    const role = await call("POST", "/restart", { role: "primary" });
    assert.equal(role.status, 503);
    assert.match(role.body.error!, /restart conditions are not satisfied: role/);
    assert.ok(!pgOf("b").commands.includes("restart"), "nothing restarted");
    const ok = await call("POST", "/restart", { role: "replica" });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.match(ok.body.message!, /^restarted successfully/);
    assert.ok(pgOf("b").commands.includes("restart"));
    assert.ok(pgOf("b").running && pgOf("b").standby);
  });

  it("POST /restart with a schedule: 202, shown in /patroni; a second one 409; DELETE cancels (200), then 404", async () => {
    await setUp("b");
    const r = await call("POST", "/restart", { schedule: "2026-11-28T03:00:00Z", restart_pending: true });
    assert.equal(r.status, 202);
    assert.equal(r.body.message, "Restart scheduled at 2026-11-28T03:00:00Z");
    const p = (await (await fetch(`${base}/patroni`)).json()) as { scheduled_restart?: unknown };
    assert.deepEqual(p.scheduled_restart, { schedule: "2026-11-28T03:00:00Z", restart_pending: true });
    assert.equal((await call("POST", "/restart", { schedule: "2026-11-29T03:00:00Z" })).status, 409);
    assert.equal((await call("DELETE", "/restart")).status, 200);
    const none = await call("DELETE", "/restart");
    assert.equal(none.status, 404);
    assert.equal(none.body.error, "no restarts are scheduled");
    assert.ok(!pgOf("b").commands.includes("restart"));
  });

  it("POST /reload: 202 saying whether a restart is pending, shown in /patroni", async () => {
    await setUp("b");
    pgOf("b").pendingRestart = true;
    const r = await call("POST", "/reload");
    assert.equal(r.status, 202);
    assert.equal(r.body.message, "reloaded: a restart is pending");
    assert.equal(r.body.pending_restart, true);
    const p = (await (await fetch(`${base}/patroni`)).json()) as { pending_restart?: boolean };
    assert.equal(p.pending_restart, true);
  });

  it("POST /reinitialize on the leader: 503 with the reason, nothing changed", async () => {
    await setUp("a");
    const r = await call("POST", "/reinitialize", { force: true });
    assert.equal(r.status, 503);
    assert.match(r.body.error!, /^a is the leader: only a replica is reinitialized/);
    assert.ok(!pgOf("a").commands.includes("wipe"));
    assert.ok(pgOf("a").running && !pgOf("a").standby);
  });

  it("POST /reinitialize on a replica: 200 started, then it runs again as the leader's replica from a fresh copy", async () => {
    await setUp("b");
    const r = await call("POST", "/reinitialize", {});
    assert.equal(r.status, 200);
    assert.equal(r.body.message, "reinitialize started: copying from leader a");
    const deadline = Date.now() + 2000;
    while (!pgOf("b").commands.includes("wipe") || !pgOf("b").running) {
      assert.ok(Date.now() < deadline, pgOf("b").commands.join(", "));
      await new Promise((res) => setTimeout(res, 10));
    }
    assert.deepEqual(pgOf("b").commands.slice(-4), ["stop", "wipe", "baseBackup 5432", "startReplica 5432"]);
  });

  it("without member operations (a read-only wiring) the paths are unknown: 404", async () => {
    const log = silentLogger();
    const dcs = new MemoryDcs(new MemoryEtcd(() => Date.now()), "/service/t/");
    const m = new Mutations({ dcs, rules: { synchronousMode: "off", maximumLagOnFailover: 1 }, wallNow: () => NOW, waitMs: 1, log });
    const reply = await m.handle({ headers: {}, socket: {} } as never, "POST", "/restart");
    assert.equal(reply.status, 404);
  });
});
