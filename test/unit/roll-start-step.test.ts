/**
 * Starting a roll step (sidecar/topology/keeper.ts startRollStep): the step is recorded, then the host's
 * replacement asked for. Found by the boot rehearsal's day-2 part: when the request fails (there, the
 * AWS CLI found no region), the step used to stay recorded with nothing replaced, so the roll waited out
 * the step's time limit (15 minutes) and then stalled for good. A failed request now withdraws the step
 * it wrote, and only that one, so a later decision starts it again.
 */
import assert from "node:assert/strict";
import { startRollStep } from "../../sidecar/topology/keeper";
import type { RollState } from "../../sidecar/dcs/roll-state";

/** The roll key with etcd's compare-and-swap, in memory (the semantics of EtcdDcs.attemptWriteRoll). */
function rollKey(initial?: string) {
  const kv = { value: initial };
  return {
    kv,
    async attemptWriteRoll(expectedRaw: string | undefined, state: RollState | undefined): Promise<boolean> {
      if (kv.value !== expectedRaw) return false;
      kv.value = state === undefined ? undefined : JSON.stringify(state);
      return true;
    },
  };
}

const step: RollState = { host: "etcd-0", revision: "a292845d87ef74cb", fromInstance: "i-1", since: "2026-12-08T03:26:45Z", by: "pg-0" };
const errors: string[] = [];
const log = { error: (_o: unknown, m: string) => void errors.push(m) } as never;

describe("roll: starting a step", () => {
  it("records the step and asks for the replacement", async () => {
    const dcs = rollKey();
    const asked: string[] = [];
    assert.equal(await startRollStep(dcs, { kind: "test", replace: async (h) => void asked.push(h) }, step, log), true);
    assert.deepEqual(asked, ["etcd-0"]);
    assert.deepEqual(JSON.parse(dcs.kv.value!), step);
  });

  it("withdraws the step when the replacement request fails, so the roll does not wait out its time limit", async () => {
    const dcs = rollKey();
    const failing = {
      kind: "test",
      replace: async () => {
        throw new Error("aws ec2 describe-instances: You must specify a region.");
      },
    };
    assert.equal(await startRollStep(dcs, failing, step, log), false);
    assert.equal(dcs.kv.value, undefined, "no step is left recorded");
    assert.match(errors.join("\n"), /withdrawn/);
  });

  it("starts nothing while another step is recorded, and never withdraws someone else's", async () => {
    const other = JSON.stringify({ ...step, host: "pg-1" });
    const dcs = rollKey(other);
    let asked = 0;
    assert.equal(await startRollStep(dcs, { kind: "test", replace: async () => void asked++ }, step, log), false);
    assert.equal(asked, 0);
    assert.equal(dcs.kv.value, other);
  });
});
