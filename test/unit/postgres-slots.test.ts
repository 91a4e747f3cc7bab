/** Which replication slots the primary creates and drops. */
import assert from "node:assert/strict";
import { planSlots } from "../../sidecar/postgres/slots";

describe("planSlots", () => {
  it("creates missing slots, drops unwanted inactive ones, never drops an active one", () => {
    const have = [
      { slot_name: "node2", active: true },
      { slot_name: "gone", active: false },
      { slot_name: "still_streaming", active: true },
    ];
    assert.deepEqual(planSlots(new Set(["node2", "node3"]), have), { create: ["node3"], drop: ["gone"] });
  });
});
