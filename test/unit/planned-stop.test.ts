/** SIGTERM of the leader (sidecar/ha/planned-stop.ts): whom it hands over to, and when it does not. */
import assert from "node:assert/strict";
import { plannedStopStep } from "../../sidecar/ha/planned-stop";
import { member, threeMembers } from "../helpers/ha-fixtures";

const rules = { synchronousMode: "off" as const, maximumLagOnFailover: 1 << 20 };
const streaming = { replication_state: "streaming" };

describe("planned stop of the leader", () => {
  it("hands over to a replica streaming from it", () => {
    const c = threeMembers({ members: [member("a", "primary", 1), member("b", "replica", 2, streaming), member("c", "replica", 3)] });
    assert.deepEqual(plannedStopStep(c, "a", rules), {
      handOver: true,
      candidate: "b",
      reason: "planned stop of the leader: switching over to b first",
    });
  });
  it("waits while the eligible replicas still follow a former leader (not streaming from us)", () => {
    const s = plannedStopStep(threeMembers(), "a", rules);
    assert.equal(s.handOver, false);
    assert.equal(!s.handOver && s.retry, true, s.reason);
  });
  it("a replica or a paused cluster just stops", () => {
    assert.match(plannedStopStep(threeMembers(), "b", rules).reason, /not the leader/);
    assert.match(plannedStopStep(threeMembers({ config: { pause: true } }), "a", rules).reason, /paused/);
  });
});
