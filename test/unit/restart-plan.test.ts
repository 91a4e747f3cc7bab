/** `hapg restart`'s plan (which members, in which order) and what `POST /reload` applies from a re-read agent config. Pure. */
import assert from "node:assert/strict";
import { describePlan, planRestart, type RestartSelection } from "../../sidecar/cli/restart-plan";
import type { ClusterView } from "../../sidecar/cli/ops-source";
import { reloadPlan } from "../../sidecar/config/reload";
import { validateAgentConfig } from "../../sidecar/contract/agent-config";

const TAGS = { nofailover: false, noloadbalance: false, failover_priority: 1 };
type M = ClusterView["members"][number];
const m = (name: string, role: string, state: string, extra: Partial<M> = {}): M => ({
  name,
  role,
  state,
  host: "h",
  port: 5432,
  tags: TAGS,
  ...extra,
});
const view = (...members: M[]): ClusterView => ({ scope: "t", members });
const three = view(
  m("n1", "leader", "running"),
  m("n3", "replica", "streaming"),
  m("n2", "replica", "streaming", { pending_restart: true }),
);

describe("hapg restart: which members, in which order", () => {
  const cases: [string, ClusterView, RestartSelection, string[] | RegExp, string[]?][] = [
    [
      "the whole cluster: replicas by name, a switchover, then the old leader",
      three,
      {},
      ["restart n2", "restart n3", "switchover n1", "restart n1"],
    ],
    ["--role replica: the replicas only", three, { role: "replica" }, ["restart n2", "restart n3"]],
    ["--role primary: a switchover, then the old leader", three, { role: "primary" }, ["switchover n1", "restart n1"]],
    ["--pending: only members with a pending restart", three, { pending: true }, ["restart n2"]],
    [
      "--pending with the leader pending",
      view(m("n1", "leader", "running", { pending_restart: true }), m("n2", "replica", "streaming")),
      { pending: true },
      ["switchover n1", "restart n1"],
    ],
    ["--pending with nothing pending: no step", view(m("n1", "leader", "running"), m("n2", "replica", "streaming")), { pending: true }, []],
    ["one MEMBER, a replica", three, { member: "n3" }, ["restart n3"]],
    ["one MEMBER, the leader: in place, as patronictl", three, { member: "n1" }, ["restart n1 (leader)"]],
    ["a cluster of one: the leader in place", view(m("n1", "leader", "running")), {}, ["restart n1 (leader)"]],
    [
      "a replica running but not streaming this moment (a lagging member key): still a switchover, after it streams again",
      view(m("n1", "leader", "running"), m("n2", "replica", "running")),
      {},
      ["restart n2", "switchover n1", "restart n1"],
    ],
    [
      "no replica runs: the leader in place",
      view(m("n1", "leader", "running"), m("n2", "replica", "stopped")),
      {},
      ["restart n1 (leader)"],
      ["n2: PostgreSQL is not running (stopped); nothing to restart"],
    ],
    [
      "a stopped member is skipped, saying why",
      view(m("n1", "leader", "running"), m("n2", "replica", "streaming"), m("n3", "replica", "stopped")),
      { role: "replica" },
      ["restart n2"],
      ["n3: PostgreSQL is not running (stopped); nothing to restart"],
    ],
    ["an unknown MEMBER", three, { member: "n9" }, /^MEMBER: no member named "n9" \(members: n1, n3, n2\)$/],
    ["an unknown --role", three, { role: "boss" as never }, /^--role "boss": give replica, primary or any$/],
    ["--scheduled without MEMBER", three, { scheduled: "2030-01-01T00:00:00Z" }, /^--scheduled: name one MEMBER/],
    ["no leader", view(m("n2", "replica", "running")), {}, /^the cluster has no leader now: a rolling restart needs one/],
  ];
  for (const [name, v, sel, want, skipped] of cases) {
    it(name, () => {
      const plan = planRestart(v, sel);
      if (want instanceof RegExp) {
        assert.ok(!plan.ok);
        assert.match(plan.error, want);
        return;
      }
      assert.ok(plan.ok, JSON.stringify(plan));
      assert.deepEqual(
        plan.steps.map((s) =>
          s.kind === "switchover" ? `switchover ${s.from}` : `restart ${s.member}${s.role === "leader" ? " (leader)" : ""}`,
        ),
        want,
      );
      assert.deepEqual(plan.skipped, skipped ?? []);
    });
  }

  it("says what it will do before asking", () => {
    const plan = planRestart(three, {});
    assert.ok(plan.ok);
    assert.equal(describePlan(plan.steps), "restart n2, then restart n3, then switch over from n1, then restart n1");
  });
});

describe("POST /reload: what a re-read agent config changes", () => {
  const base = {
    cluster: "c",
    name: "n1",
    etcd: { endpoints: ["http://127.0.0.1:2379"] },
    api: { listen: { host: "127.0.0.1", port: 8008 } },
    postgres: {
      dataDir: "/d",
      listen: { host: "127.0.0.1", port: 5432 },
      superuser: { passwordEnv: "X" },
      replication: { passwordEnv: "Y" },
      parameters: { work_mem: "4MB" },
    },
  };
  const config = (over: Record<string, unknown> = {}, pg: Record<string, unknown> = {}) =>
    validateAgentConfig({ ...base, ...over, postgres: { ...base.postgres, ...pg } });

  it("changed parameters are applied, named; other sections wait for an agent restart", () => {
    const plan = reloadPlan(config(), config({ timing: { ttl: 6 } }, { parameters: { work_mem: "8MB", max_connections: 150 } }));
    assert.deepEqual(plan.parameters, { work_mem: "8MB", max_connections: 150 });
    assert.deepEqual(plan.applied, ["postgres.parameters.max_connections", "postgres.parameters.work_mem"]);
    assert.deepEqual(plan.needAgentRestart, ["timing"]);
  });

  it("the same file: nothing to apply", () => {
    assert.deepEqual(reloadPlan(config(), config()), { applied: [], needAgentRestart: [] });
  });

  it("a removed parameter is applied too (back to the default)", () => {
    const plan = reloadPlan(config(), config({}, { parameters: {} }));
    assert.deepEqual(plan.parameters, {});
    assert.deepEqual(plan.applied, ["postgres.parameters.work_mem"]);
  });
});
