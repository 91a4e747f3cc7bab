/**
 * Whatever the component accepts, the agent accepts: a `pulumi up` must never deploy a config that
 * every node then refuses at boot.
 */
import assert from "node:assert/strict";
import { ClusterArgsError } from "../../lib";
import { validateAgentConfig } from "../../sidecar/contract/agent-config";
import { renderedNodeConfig } from "../helpers/node-agent-config";

describe("component args and agent config agree", () => {
  it("timing the agent refuses (ttl 3, loopWait 2.5, retryTimeout 0.25) is refused by the component, naming timing.ttl", () => {
    const args = { timing: { ttl: 3, loopWait: 2.5, retryTimeout: 0.25 } };
    let config: unknown;
    try {
      config = renderedNodeConfig(args);
    } catch (e) {
      assert.ok(e instanceof ClusterArgsError, String(e));
      assert.ok(
        e.problems.some((p) => /^timing\.ttl: .*less than one loopWait/.test(p)),
        e.problems.join("\n"),
      );
      return;
    }
    assert.doesNotThrow(() => validateAgentConfig(config), "the component accepted args whose rendered agent config the agent refuses");
  });
});
