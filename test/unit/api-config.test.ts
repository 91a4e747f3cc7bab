/**
 * GET/PATCH/PUT /config over an in-memory etcd: Patroni's merge semantics (null deletes), the
 * settings schema's refusals naming the field (nothing written), authentication, and the
 * compare-and-swap that keeps two concurrent edits from losing one.
 */
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import pino from "pino";
import { changeConfig } from "../../sidecar/api/config-routes";
import { Mutations } from "../../sidecar/api/mutations";
import { ApiServer } from "../../sidecar/api/server";
import { HA_DEFAULTS } from "../../sidecar/contract/settings/schema";
import { MemoryDcs, MemoryEtcd } from "../helpers/memory-dcs";

const PASSWORD = "api-password-xyz";

describe("REST API: GET, PATCH and PUT /config", () => {
  let api: ApiServer;
  let base: string;
  let dcs: MemoryDcs;
  let logged: string[];

  beforeEach(async () => {
    dcs = new MemoryDcs(new MemoryEtcd(() => Date.now()), "/service/t/");
    logged = [];
    const log = pino({ level: "info" }, new Writable({ write: (chunk: Buffer, _e, cb) => (logged.push(chunk.toString()), cb()) }));
    api = new ApiServer({
      scope: "t",
      name: "a",
      ttlMs: 4000,
      noloadbalance: false,
      // GET /config answers from the agent's last etcd read: here, a fresh one.
      driver: { view: () => ({ holdsLeader: true, leaseValid: true, cluster: lastRead }) as never },
      pg: { status: async () => ({ running: true, inRecovery: false, lsn: 5000 }) },
      now: () => 0,
      log,
      mutations: new Mutations({
        dcs,
        rules: { synchronousMode: "off", maximumLagOnFailover: 1 },
        auth: { username: "hapg", password: PASSWORD },
        wallNow: () => 0,
        waitMs: 300,
        log,
        config: { dcs, base: HA_DEFAULTS, log },
      }),
    });
    base = `http://127.0.0.1:${(await api.listen("127.0.0.1", 0)).port}`;
  });
  afterEach(() => api.close());
  let lastRead: unknown;

  const auth = (password = PASSWORD) => ({ Authorization: `Basic ${Buffer.from(`hapg:${password}`).toString("base64")}` });
  async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = auth()) {
    const res = await fetch(base + path, {
      method,
      headers,
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> & { error?: string } };
  }
  const stored = async () => (await dcs.load()).config;

  it("PATCH merges into the key and answers the new config; GET shows it", async () => {
    assert.equal((await call("PATCH", "/config", { loop_wait: 0.5, postgresql: { parameters: { work_mem: "8MB" } } })).status, 200);
    const r = await call("PATCH", "/config", { postgresql: { parameters: { maintenance_work_mem: "64MB" } }, pause: true });
    assert.equal(r.status, 200);
    const want = { loop_wait: 0.5, postgresql: { parameters: { work_mem: "8MB", maintenance_work_mem: "64MB" } }, pause: true };
    assert.deepEqual(r.body, want);
    assert.deepEqual(await stored(), want);
    lastRead = await dcs.load();
    assert.deepEqual((await call("GET", "/config", undefined, {})).body, want, "GET needs no credentials");
  });

  it("PATCH with null deletes a key (patronictl resume sends {pause: null}), also a nested parameter", async () => {
    await call("PATCH", "/config", { pause: true, postgresql: { parameters: { work_mem: "8MB", temp_buffers: "16MB" } } });
    const r = await call("PATCH", "/config", { pause: null, postgresql: { parameters: { work_mem: null } } });
    assert.deepEqual(r.body, { postgresql: { parameters: { temp_buffers: "16MB" } } });
  });

  it("PUT replaces the whole key", async () => {
    assert.equal((await call("PATCH", "/config", { loop_wait: 0.5, pause: true })).status, 200);
    const r = await call("PUT", "/config", { ttl: 6 });
    assert.equal(r.status, 200);
    assert.deepEqual(await stored(), { ttl: 6 });
  });

  const refused: [string, unknown, RegExp][] = [
    ["a parameter the agent controls", { postgresql: { parameters: { port: 6000 } } }, /postgresql\.parameters\.port: set by the agent/],
    [
      "a parameter derived from a setting",
      { postgresql: { parameters: { synchronous_standby_names: "*" } } },
      /derived from the setting synchronousMode/,
    ],
    ["a ttl below etcd's smallest lease", { ttl: 1 }, /ttl \(timing\.ttl\): etcd's smallest useful lease/],
    ["a ttl too short for loop_wait and retry_timeout", { ttl: 3, loop_wait: 2 }, /ttl \(timing\.ttl\): 3 s must be at least/],
    ["a loop_wait that is not a number", { loop_wait: "fast" }, /loop_wait \(timing\.loopWait\): must be a number of seconds/],
    ["a negative lag limit", { maximum_lag_on_failover: -1 }, /maximum_lag_on_failover \(maximumLagOnFailover\): must be ≥ 0 bytes/],
    [
      "an unknown synchronous mode",
      { synchronous_mode: "sometimes" },
      /synchronous_mode \(synchronousMode\): must be "off", "on", "strict" or "quorum" \(default\)/,
    ],
    [
      "synchronous_commit off in synchronous mode",
      { synchronous_mode: "on", postgresql: { parameters: { synchronous_commit: "off" } } },
      /postgresql\.parameters\.synchronous_commit/,
    ],
    ["pause that is not a boolean", { pause: "yes" }, /pause: must be true or false/],
    ["an unknown key", { loopwait: 2 }, /loopwait: unknown key/],
    [
      "an unknown postgresql key",
      { postgresql: { use_slots: false } },
      /postgresql\.use_slots: unknown key: only postgresql\.parameters is dynamic/,
    ],
    ["parameters that are not an object", { postgresql: { parameters: ["work_mem=8MB"] } }, /postgresql\.parameters: must be an object/],
    [
      "a parameter value that is an object",
      { postgresql: { parameters: { work_mem: { mb: 8 } } } },
      /postgresql\.parameters\.work_mem: must be a string, number or boolean/,
    ],
    ["a body that is not an object", [1, 2], /body: must be a JSON object/],
  ];
  for (const [what, body, message] of refused) {
    it(`refuses ${what}: 400 naming the field, nothing written`, async () => {
      await call("PATCH", "/config", { loop_wait: 1 });
      const before = (await dcs.load()).configModRevision;
      const r = await call("PATCH", "/config", body);
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.match(r.body.error!, message);
      assert.equal((await dcs.load()).configModRevision, before, "the key was not written");
      assert.deepEqual(await stored(), { loop_wait: 1 });
    });
  }

  it("a body that is not JSON: 400 saying so, nothing written", async () => {
    const r = await call("PATCH", "/config", "{pause:");
    assert.equal(r.status, 400);
    assert.match(r.body.error!, /body: not valid JSON/);
    assert.equal(await stored(), undefined);
  });

  it("without or with wrong credentials: 401, nothing written, the password never logged", async () => {
    assert.equal((await call("PATCH", "/config", { pause: true }, {})).status, 401);
    assert.equal((await call("PUT", "/config", { pause: true }, auth("guess"))).status, 401);
    assert.equal(await stored(), undefined);
    assert.ok(!logged.join("").includes("guess") && !logged.join("").includes(PASSWORD));
  });

  it("a method the path does not take: 405 naming PATCH and PUT", async () => {
    const r = await call("POST", "/config", { pause: true });
    assert.equal(r.status, 405);
    assert.match(r.body.error!, /use PATCH or PUT/);
  });

  it("concurrent PATCHes of different keys: both land (compare-and-swap, re-merged on a conflict)", async () => {
    const patches = Array.from({ length: 8 }, (_, i) => ({ postgresql: { parameters: { [`app.k${i}`]: i } } }));
    const rs = await Promise.all(patches.map((p) => call("PATCH", "/config", p)));
    assert.ok(rs.every((r) => r.status === 200));
    assert.equal(Object.keys(((await stored())!.postgresql as { parameters: object }).parameters).length, 8);
  });

  it("an edit racing another (the key changes between read and write) is merged on top of it", async () => {
    await dcs.attemptWriteConfig({ loop_wait: 1 }, undefined);
    let raced = false;
    const racing = {
      load: () => dcs.load(),
      attemptWriteConfig: async (c: Record<string, unknown>, rev: number | undefined) => {
        if (!raced) {
          raced = true; // another editor writes between our read and our write
          await dcs.attemptWriteConfig({ loop_wait: 1, pause: true }, (await dcs.load()).configModRevision);
        }
        return dcs.attemptWriteConfig(c, rev);
      },
    };
    const log = pino({ level: "silent" });
    const r = await changeConfig("PATCH", { ttl: 6 }, { dcs: racing, base: HA_DEFAULTS, log });
    assert.equal(r.status, 200);
    assert.deepEqual(await stored(), { loop_wait: 1, pause: true, ttl: 6 });
  });
});
