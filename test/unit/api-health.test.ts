/** Patroni-compatible health endpoints: status per role, lag queries, bad queries. */
import assert from "node:assert/strict";
import { HealthState, clusterBody, evaluateHealth, parseLag } from "../../sidecar/api/health";

const leader: HealthState = {
  pg: { running: true, inRecovery: false, lsn: 5000 },
  holdsLeader: true,
  leaseValid: true,
  noloadbalance: false,
  leaderOptime: 5000,
  loopAgeMs: 100,
  ttlMs: 4000,
};
const replica: HealthState = { ...leader, pg: { running: true, inRecovery: true, lsn: 4000, streaming: true }, holdsLeader: false };
const stopped: HealthState = { ...leader, pg: { running: false }, holdsLeader: false };

const status = (path: string, s: HealthState, q = "") => evaluateHealth(path, new URLSearchParams(q), s).status;

describe("REST API health endpoints", () => {
  const table: [string, HealthState, number][] = [
    ["/primary", leader, 200],
    ["/primary", replica, 503],
    ["/primary", stopped, 503],
    ["/primary", { ...leader, leaseValid: false }, 503],
    ["/primary", { ...leader, holdsLeader: false }, 503],
    ["/", leader, 200],
    ["/master", leader, 200],
    ["/read-write", leader, 200],
    ["/leader", replica, 503],
    ["/replica", replica, 200],
    ["/replica", leader, 503],
    ["/replica", { ...replica, noloadbalance: true }, 503],
    ["/replica", { ...replica, formerPrimary: true }, 503],
    ["/read-only", { ...replica, formerPrimary: true }, 503],
    ["/read-only", leader, 200],
    ["/read-only", replica, 200],
    ["/read-only", stopped, 503],
    ["/health", replica, 200],
    ["/health", stopped, 503],
    ["/liveness", stopped, 200],
    ["/liveness", { ...stopped, loopAgeMs: 10_000 }, 503],
    ["/readiness", replica, 200],
    ["/readiness", { ...replica, pg: { ...replica.pg, streaming: false } }, 503],
  ];
  for (const [path, s, code] of table) {
    const who = s === leader ? "leader" : s === replica ? "replica" : s === stopped ? "stopped member" : "variant";
    it(`${path} on a ${who} → ${code}`, () => assert.equal(status(path, s), code));
  }

  it("?lag= compares the replica's position with the leader's", () => {
    assert.equal(status("/replica", replica, "lag=1000"), 200);
    assert.equal(status("/replica", replica, "lag=999"), 503);
    assert.equal(status("/replica", replica, "lag=1kB"), 200);
    assert.equal(status("/replica", replica, "lag=1MB"), 200);
  });

  it("a bad lag is a 400 that says what to send", () => {
    const r = evaluateHealth("/replica", new URLSearchParams("lag=lots"), replica);
    assert.equal(r.status, 400);
    assert.match(r.error!, /lag: use bytes or a size like 16MB/);
    assert.equal(parseLag("16MB"), 16 * 1024 * 1024);
  });

  it("unknown paths are 404", () => assert.equal(status("/nope", leader), 404));

  it("GET /cluster lists members with Patroni's roles, states and lag", () => {
    const body = clusterBody("main", {
      revision: 1,
      leader: { name: "a", leaseId: "1", modRevision: 1 },
      members: [
        {
          name: "b",
          leaseId: "2",
          modRevision: 1,
          data: {
            conn_url: "postgres://127.0.0.1:5433/postgres",
            api_url: "http://127.0.0.1:8009/patroni",
            state: "running",
            role: "replica",
            xlog_location: 900,
            timeline: 2,
            replication_state: "streaming",
            tags: { nofailover: false, noloadbalance: false, failover_priority: 1 },
            version: "x",
          },
        },
        {
          name: "a",
          leaseId: "1",
          modRevision: 1,
          data: {
            conn_url: "postgres://127.0.0.1:5432/postgres",
            api_url: "http://127.0.0.1:8008/patroni",
            state: "running",
            role: "primary",
            xlog_location: 1000,
            timeline: 2,
            tags: { nofailover: false, noloadbalance: false, failover_priority: 1 },
            version: "x",
          },
        },
      ],
      corrupt: [],
    });
    assert.deepEqual(
      body.members.map((m) => [m.name, m.role, m.state, m.port, m.lag]),
      [
        ["a", "leader", "running", 5432, undefined],
        ["b", "replica", "streaming", 5433, 100],
      ],
    );
  });
});
