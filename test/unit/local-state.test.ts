import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { lastAgentWords } from "../../local/health";
import { judgeHealth } from "../../local/state";

const m = (name: string, role: string, state: string, timeline = 2) => ({ name, role, state, timeline });
const names = ["node1", "node2", "node3"];

describe("local cluster health verdict", () => {
  it("is healthy with one running leader and every other node streaming on its timeline", () => {
    const v = judgeHealth(
      { members: [m("node1", "leader", "running"), m("node2", "replica", "streaming"), m("node3", "replica", "streaming")] },
      names,
    );
    assert.deepEqual(v, { healthy: true, leader: "node1", waitingFor: [] });
  });

  it("counts a synchronous standby (Patroni's role sync_standby) as a replica", () => {
    const v = judgeHealth(
      { members: [m("node1", "leader", "running"), m("node2", "sync_standby", "streaming"), m("node3", "replica", "streaming")] },
      names,
    );
    assert.deepEqual(v, { healthy: true, leader: "node1", waitingFor: [] });
  });

  it("says what it still waits for", () => {
    const v = judgeHealth(
      { members: [m("node1", "leader", "running"), m("node2", "replica", "running"), m("node3", "replica", "streaming", 1)] },
      names,
    );
    assert.equal(v.healthy, false);
    assert.deepEqual(v.waitingFor, ["node2: replica running", "node3: timeline 1, leader on 2"]);
    assert.deepEqual(judgeHealth(undefined, names).waitingFor, ["no agent API answers yet"]);
    assert.ok(judgeHealth({ members: [m("node2", "replica", "streaming")] }, names).waitingFor.includes("no leader yet"));
    assert.ok(judgeHealth({ members: [m("node1", "leader", "running")] }, names).waitingFor.includes("node2: not registered"));
  });
});

describe("local cluster timeout messages", () => {
  it("quote the agent's latest decision or error from its JSON log", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hapg-words-"));
    try {
      fs.mkdirSync(path.join(dir, "node2"));
      const lines = [
        { level: 30, msg: "starting as a replica of leader node1", actions: ["startReplica"] },
        {
          level: 50,
          msg: "action startReplica failed",
          err: "postgres exited\nFATAL:  requested timeline 4 does not contain minimum recovery point\nLOG:  database system is shut down",
        },
        { level: 30, msg: "lease renewed" },
      ];
      fs.writeFileSync(path.join(dir, "node2", "agent.log"), lines.map((l) => JSON.stringify(l)).join("\n") + "\nnot json\n");
      assert.equal(
        lastAgentWords(dir, "node2"),
        "action startReplica failed: FATAL:  requested timeline 4 does not contain minimum recovery point",
      );
      assert.equal(lastAgentWords(dir, "node3"), undefined);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
