/**
 * The fault suite's reduced matrix inside `npm test`: one local cluster in synchronous mode (real
 * etcd, PostgreSQL, agents, HAProxy on 127.0.0.1, base port 28000 or 28300), one run per scenario, the
 * checker's verdicts asserted. `npm run test:faults -- --runs N` runs the same scenarios N times and
 * prints the figures; a fault that lasts a fixed time lasts only as long as its property needs here
 * (etcd-quorum-lost: three leases instead of 30 s). Timing is only bounded generously, never asserted tightly.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { localDown } from "../../local/cluster";
import { tempClusterDir } from "../../local/demo";
import { netnsUnavailable } from "../../local/netns";
import { failures, RunReport, runScenario, upOnFreePorts } from "./harness";
import { NETNS_SCENARIOS, QUORUM_SCENARIOS, SCENARIO_NAMES } from "./scenarios";

/** Blocks of 300 ports in the fault suite's range (28000-28999); `npm run test:faults` uses 28600/28700. */
const BASE_PORTS = [28000, 28300];
const HEAL_BOUND_MS = 120_000;

const verdicts = (r: RunReport) => {
  assert.ok(r.acked > 0, "the writer got acknowledgements");
  assert.equal(r.lost, 0, `acknowledged writes lost on the final primary: ${r.lostSample.join(", ")}`);
  assert.deepEqual(r.splitBrain, [], "split-brain moments");
  assert.ok(r.heal.healed, `healed: ${r.heal.problems.join("; ")}`);
  assert.ok(
    r.timeToHealthMs !== null && r.timeToHealthMs < HEAL_BOUND_MS,
    `healthy again within ${HEAL_BOUND_MS} ms (${r.timeToHealthMs})`,
  );
  assert.deepEqual(failures(r), [], "every scenario check");
};

/** One cluster for a group of scenarios, one run each, the checker's verdicts asserted. */
function suite(title: string, netns: boolean): void {
  describe(title, function () {
    this.timeout(180_000);
    let dir: string | undefined;
    const log: string[] = [];
    const say = (l: string) => log.push(`${new Date().toISOString().slice(11, 19)} ${l}`);
    const skip = netns ? netnsUnavailable() : undefined;

    before(async function () {
      if (skip) return this.skip();
      this.timeout(200_000);
      dir = tempClusterDir("hapg-faults-test-");
      await upOnFreePorts(dir, BASE_PORTS, say, { netns });
    });
    after(async function () {
      this.timeout(60_000);
      if (!dir) return;
      await localDown(dir).catch((e) => console.error(`localDown: ${(e as Error).message}`));
      fs.rmSync(path.dirname(dir), { recursive: true, force: true });
    });
    afterEach(function () {
      if (this.currentTest?.state === "failed") console.error(log.join("\n"));
      log.length = 0;
    });

    // Quorum commit's scenarios stop a standby for 30 s: only in `npm run test:faults`.
    for (const s of SCENARIO_NAMES.filter((x) => NETNS_SCENARIOS.includes(x) === netns && !QUORUM_SCENARIOS.includes(x))) {
      it(`${s}: nothing acknowledged lost, no split brain, healed`, async () =>
        verdicts(await runScenario(dir!, s, say, { reduced: true })));
    }
  });
}

describe("fault suite (synchronous mode, one run per scenario)", function () {
  suite("on loopback", false);
  // Skipped, with the reason, where namespaces cannot be made (not root, no iproute2/iptables).
  suite("partitions: every member in a network namespace of its own", true);
});
