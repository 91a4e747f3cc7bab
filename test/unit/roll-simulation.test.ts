/**
 * The roll coordinator in a simulated cluster on the fake clock: 3 PostgreSQL nodes and 3 dedicated
 * etcd members all get a new revision. The leader's coordinator decides every 2 s (sidecar/roll/decide.ts)
 * and a model executes: a replaced host is down for 30 s, then reports the new revision from a new
 * instance and streams again 5 s later; a switchover moves the leader after 1 s, and the new leader's
 * coordinator goes on. Checked at every instant: never two PostgreSQL hosts or two etcd members
 * down, the leader's host never replaced while it leads; at the end every host runs r2, the first
 * leader's host last. A host that never comes back stalls the roll and nothing else is touched.
 */
import assert from "node:assert/strict";
import type { ClusterSnapshot, Member } from "../../sidecar/dcs/types";
import { decideRoll, type RollAction } from "../../sidecar/roll/decide";
import type { RollState } from "../../sidecar/dcs/roll-state";
import type { Topology } from "../../sidecar/contract/topology";
import { FakeClock } from "../helpers/fake-clock";
import { member } from "../helpers/ha-fixtures";

const PG = ["a", "b", "c"];
const ETCD = ["e1", "e2", "e3"];

class Model {
  leader = "b";
  roll?: RollState;
  readonly rev = new Map<string, string>([...PG, ...ETCD].map((h) => [h, "r1"]));
  readonly instance = new Map<string, string>([...PG, ...ETCD].map((h) => [h, `i-${h}-0`]));
  readonly down = new Set<string>();
  readonly catchingUp = new Set<string>();
  readonly replaced: string[] = [];
  readonly log: string[] = [];
  private seq = 1;

  constructor(
    readonly clock: FakeClock,
    readonly neverBack?: string,
  ) {}

  topology(): Topology {
    const h = (name: string) => ({ name, ip: "10.0.0.1", revision: "r2" });
    return { version: 1, nodes: PG.map(h), etcd: ETCD.map(h), etcdInitialMembers: ETCD };
  }

  snapshot(): ClusterSnapshot {
    const members: Member[] = PG.filter((n) => !this.down.has(n)).map((n, i) =>
      member(
        n,
        n === this.leader ? "primary" : "replica",
        5432 + i,
        n === this.leader || this.catchingUp.has(n) ? {} : { replication_state: "streaming" },
      ),
    );
    const hosts = Object.fromEntries([...this.rev].map(([h, r]) => [h, { revision: r, instanceId: this.instance.get(h)!, bootedAt: "t" }]));
    return {
      revision: 1,
      leader: { name: this.leader, leaseId: "l", modRevision: 1 },
      leaderOptime: 1000,
      members,
      corrupt: [],
      hosts,
      ...(this.roll ? { roll: { state: this.roll, raw: JSON.stringify(this.roll) } } : {}),
    };
  }

  etcd() {
    const members = ETCD.map((n, i) => ({ id: `${i}`, name: n, peerUrls: [], clientUrls: [] }));
    return { members, health: Object.fromEntries(members.map((m) => [m.id, !this.down.has(m.name)])) };
  }

  decide(): RollAction {
    return decideRoll({
      now: this.clock.now(),
      self: this.leader,
      topology: this.topology(),
      cluster: this.snapshot(),
      etcd: this.etcd(),
      rules: { synchronousMode: "off", maximumLagOnFailover: 1 << 20 },
      stepLimitMs: 300_000,
      healthyLagBytes: 1 << 20,
      rollEnabled: true,
    });
  }

  apply(a: RollAction): void {
    if (a.type !== "none") this.log.push(`${this.clock.now()}: ${a.type} ${a.reason}`);
    switch (a.type) {
      case "startStep":
        this.roll = a.step;
        this.replace(a.step.host);
        break;
      case "endStep":
        this.roll = undefined;
        break;
      case "stall":
        this.roll = { ...this.roll!, stalled: a.reason };
        break;
      case "switchover":
        this.clock.setTimeout(() => (this.leader = a.candidate), 1000);
        break;
      default:
        break;
    }
  }

  private replace(host: string): void {
    assert.notEqual(host, this.leader, "the leader's host is never replaced while it leads");
    this.replaced.push(host);
    this.down.add(host);
    if (host === this.neverBack) return;
    this.clock.setTimeout(() => {
      this.down.delete(host);
      this.rev.set(host, "r2");
      this.instance.set(host, `i-${host}-${this.seq++}`);
      if (PG.includes(host)) {
        this.catchingUp.add(host);
        this.clock.setTimeout(() => this.catchingUp.delete(host), 5000);
      }
    }, 30_000);
  }

  checkInvariants(): void {
    assert.ok(PG.filter((h) => this.down.has(h)).length <= 1, `two PostgreSQL hosts down at ${this.clock.now()}`);
    assert.ok(ETCD.filter((h) => this.down.has(h)).length <= 1, `two etcd members down at ${this.clock.now()}`);
    assert.ok(!this.down.has(this.leader), "the leader is down");
  }
}

async function run(model: Model, ms: number): Promise<void> {
  const tick = () => {
    model.apply(model.decide());
    model.clock.setTimeout(tick, 2000);
  };
  model.clock.setTimeout(tick, 2000);
  await model.clock.advance(ms, () => model.checkInvariants());
}

describe("roll simulation (fake clock)", () => {
  it("rolls 3 etcd members and 3 nodes one at a time, the leader last after a switchover", async () => {
    const m = new Model(new FakeClock());
    await run(m, 30 * 60_000);
    assert.deepEqual([...m.rev.values()], Array(6).fill("r2"), m.log.join("\n"));
    assert.deepEqual(m.replaced.slice(0, 3), ETCD, "etcd members first");
    assert.equal(m.replaced[m.replaced.length - 1], "b", "the first leader's host last");
    assert.equal(m.replaced.length, 6, "each host once");
    assert.notEqual(m.leader, "b");
    assert.equal(m.roll, undefined);
  });

  it("a host that never comes back stalls the roll: no other host is touched", async () => {
    const m = new Model(new FakeClock(), "e2");
    await run(m, 30 * 60_000);
    assert.deepEqual(m.replaced, ["e1", "e2"]);
    assert.match(m.roll?.stalled ?? "", /e2 not replaced within 300 s/);
  });
});
