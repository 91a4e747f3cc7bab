/**
 * Property: over many generated combinations of the HA settings, whatever `validateClusterArgs`
 * accepts renders (for every node) an agent config that `validateAgentConfig` accepts and that the
 * agent can run on (resolveTiming); whatever it refuses is refused with messages that each name an
 * argument path of the component (e.g. `timing.ttl: ...`).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { ClusterArgsError, HaPostgresClusterArgs } from "../../lib";
import { validateAgentConfig } from "../../sidecar/contract/agent-config";
import { haSettingsShape } from "../../sidecar/contract/settings/schema";
import { resolveTiming } from "../../sidecar/contract/settings/timing";
import { renderedNodeConfig } from "../helpers/node-agent-config";

const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined, freq: 3 });

/** Seconds: round values near the rules' edges, and arbitrary ones (some invalid). */
const seconds = fc.oneof(
  fc.constantFrom(0, 0.25, 0.5, 1, 1.5, 2, 2.5, 3, 3.25, 4, 5, 6, 10, 30),
  fc.double({ min: -1, max: 12, noNaN: true }),
  fc.integer({ min: 1, max: 48 }).map((q) => q / 4),
);

const timing = fc.record({ ttl: maybe(seconds), loopWait: maybe(seconds), retryTimeout: maybe(seconds) }, { requiredKeys: [] });

const watchdog = fc.oneof(
  fc.constantFrom("off", "automatic", "required", "on"),
  fc.record(
    {
      mode: maybe(fc.constantFrom("off", "automatic", "required")),
      safetyMargin: maybe(fc.oneof(seconds, fc.constantFrom(0.1, 0.3, 0.4, 0.6, 0.75))),
    },
    { requiredKeys: [] },
  ),
);

const parameterValue = fc.oneof(
  fc.constantFrom("on", "off", "local", "remote_write", "replica", "logical", "minimal", "1GB", "x\ny"),
  fc.integer(),
  fc.boolean(),
);
const parameters = fc.dictionary(
  fc.constantFrom(
    "shared_buffers",
    "work_mem",
    "synchronous_commit",
    "wal_level",
    "port",
    "ssl",
    "synchronous_standby_names",
    "hot_standby",
    "Bad Name",
  ),
  parameterValue,
  { maxKeys: 3 },
);

const args: fc.Arbitrary<Record<string, unknown>> = fc.record(
  {
    timing: maybe(timing),
    maximumLagOnFailover: maybe(fc.oneof(fc.integer({ min: -5, max: 1 << 30 }), fc.constantFrom(0.5, 1048576))),
    synchronousMode: maybe(fc.constantFrom("off", "on", "strict", true, false, "quorum")),
    watchdog: maybe(watchdog),
    postgres: maybe(fc.record({ parameters: maybe(parameters), usePgRewind: maybe(fc.boolean()) }, { requiredKeys: [] })),
  },
  { requiredKeys: [] },
);

/** The component's argument names a problem may start with: the HA settings and `postgres`. */
const ARG_ROOTS = new Set([...Object.keys(haSettingsShape), "postgres"]);

describe("HA settings: whatever the component accepts, the agent accepts (property)", () => {
  it("holds for thousands of generated settings", function () {
    this.timeout(300_000);
    let accepted = 0;
    let refused = 0;
    fc.assert(
      fc.property(args, (a) => {
        let config: unknown;
        try {
          config = renderedNodeConfig(a as HaPostgresClusterArgs);
        } catch (e) {
          assert.ok(e instanceof ClusterArgsError, `not a ClusterArgsError: ${String(e)}`);
          assert.ok(e.problems.length > 0);
          for (const p of e.problems) {
            const path = /^([A-Za-z][\w]*(?:\.[^:]+)?): \S/.exec(p)?.[1];
            assert.ok(path, `does not start with an argument path: ${p}`);
            assert.ok(ARG_ROOTS.has(path.split(".")[0]), `names ${path}, which is not an HA argument of the component: ${p}`);
          }
          refused++;
          return;
        }
        const c = validateAgentConfig(config);
        resolveTiming(c);
        accepted++;
      }),
      { numRuns: 3000 },
    );
    // The generator must exercise both sides, or the property says little.
    assert.ok(accepted > 300 && refused > 300, `accepted ${accepted}, refused ${refused}`);
  });
});
