/**
 * softdog in the rendered user-data: loaded with exactly the timeout the agent will look for (else
 * the agent finds it unusable), its device owned by the user the agent runs as, and nothing of it
 * with watchdog "off". The real-tool checks of the same files are in test/component/userdata-tools.
 */
import assert from "node:assert/strict";
import { colocatedPgNode } from "../helpers/host-spec";
import { WatchdogMode } from "../../lib";
import { HA_DEFAULTS } from "../../sidecar/contract/settings/schema";
import { renderFiles, renderNodeInitPlan } from "../../lib/userdata/render";
import { validateAgentConfig } from "../../sidecar/contract/agent-config";
import { watchdogTiming } from "../../sidecar/contract/settings/timing";

function pgNode(watchdog: WatchdogMode, ttl = 4, safetyMargin?: number) {
  return colocatedPgNode(
    {
      ...HA_DEFAULTS,
      timing: { ...HA_DEFAULTS.timing, ttl, loopWait: 1, retryTimeout: Math.min(1.5, (ttl - 1) / 2) },
      watchdog: { ...HA_DEFAULTS.watchdog, mode: watchdog, ...(safetyMargin === undefined ? {} : { safetyMargin }) },
    },
    true,
  );
}

const file = (spec: ReturnType<typeof pgNode>, path: string) => renderFiles(spec).find((f) => f.path === path);
const agentConfig = (spec: ReturnType<typeof pgNode>) => validateAgentConfig(renderNodeInitPlan(spec).agentConfig!.config);

describe("user-data: softdog for the agent's watchdog", () => {
  for (const ttl of [2, 4, 6, 10]) {
    it(`ttl ${ttl}: soft_margin is the timeout the agent plans with the rendered config`, () => {
      const spec = pgNode("automatic", ttl);
      const options = file(spec, "/etc/modprobe.d/hapg-softdog.conf")?.content ?? "";
      const margin = /^options softdog soft_margin=(\d+) nowayout=0$/m.exec(options);
      assert.ok(margin, options);
      const c = agentConfig(spec);
      const planned = watchdogTiming({ ttl: c.timing.ttl, safetyMargin: c.watchdog.safetyMargin }).timing!.timeoutS;
      assert.equal(Number(margin[1]), planned);
    });
  }

  it("a watchdog.safetyMargin reaches both softdog's timeout and the agent", () => {
    const spec = pgNode("automatic", 6, 0.7);
    const c = agentConfig(spec);
    assert.equal(c.watchdog.safetyMargin, 0.7);
    // The agent file's ttl (the default: timing comes with the dynamic config, not the user-data).
    assert.match(file(spec, "/etc/modprobe.d/hapg-softdog.conf")!.content, /soft_margin=3 nowayout=0/, "floor(4 − 0.7 − 0.25) = 3");
  });

  it("the user-data does not depend on the timing (a new ttl replaces no node)", () => {
    const render = (ttl: number) => JSON.stringify(renderFiles(pgNode("automatic", ttl)));
    assert.equal(render(6), render(10));
  });

  it("gives the device to the user the agent's unit runs as, and loads softdog before every agent start", () => {
    const spec = pgNode("required");
    const unit = file(spec, "/etc/systemd/system/hapg-agent.service")!.content;
    const user = /^User=(\S+)$/m.exec(unit)![1];
    assert.match(
      file(spec, "/etc/udev/rules.d/60-hapg-watchdog.rules")!.content,
      new RegExp(`^KERNEL=="watchdog\\*", OWNER="${user}", GROUP="${user}", MODE="0600"$`, "m"),
    );
    const pre = [...unit.matchAll(/^ExecStartPre=(.*)$/gm)].map((m) => m[1]);
    assert.deepEqual(pre, ["-+/usr/sbin/modprobe softdog", "-+/usr/bin/udevadm settle --timeout=10"]);
    assert.ok(unit.indexOf("ExecStartPre=") < unit.indexOf("ExecStart="));
    assert.equal(agentConfig(spec).watchdog.mode, "required");
  });

  it('writes nothing of it with watchdog "off", and tells the agent', () => {
    const spec = pgNode("off");
    assert.equal(renderFiles(spec).filter((f) => /softdog|watchdog/.test(f.path)).length, 0);
    assert.doesNotMatch(file(spec, "/etc/systemd/system/hapg-agent.service")!.content, /softdog|udevadm/);
    assert.equal(agentConfig(spec).watchdog.mode, "off");
  });
});
