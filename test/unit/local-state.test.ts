import * as assert from "node:assert/strict";
import { judgeHealth } from "../../sidecar/local/state";

const m = (name: string, role: string, state: string, timeline = 2) => ({ name, role, state, timeline });
const names = ["node1", "node2", "node3"];

describe("local cluster health verdict", () => {
  it("is healthy with one running leader and every other node streaming on its timeline", () => {
    const v = judgeHealth({ members: [m("node1", "leader", "running"), m("node2", "replica", "streaming"), m("node3", "replica", "streaming")] }, names);
    assert.deepEqual(v, { healthy: true, leader: "node1", waitingFor: [] });
  });

  it("says what it still waits for", () => {
    const v = judgeHealth({ members: [m("node1", "leader", "running"), m("node2", "replica", "running"), m("node3", "replica", "streaming", 1)] }, names);
    assert.equal(v.healthy, false);
    assert.deepEqual(v.waitingFor, ["node2: replica running", "node3: timeline 1, leader on 2"]);
    assert.deepEqual(judgeHealth(undefined, names).waitingFor, ["no agent API answers yet"]);
    assert.ok(judgeHealth({ members: [m("node2", "replica", "streaming")] }, names).waitingFor.includes("no leader yet"));
    assert.ok(judgeHealth({ members: [m("node1", "leader", "running")] }, names).waitingFor.includes("node2: not registered"));
  });
});
