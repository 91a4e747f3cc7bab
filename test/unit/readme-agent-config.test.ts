/** The agent config example of docs/agent.md is one the agent accepts, with the settings' current names. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { validateAgentConfig } from "../../sidecar/contract/agent-config";
import { DEFAULT_SYNCHRONOUS_MODE } from "../../sidecar/contract/settings/schema";

const README = resolve(__dirname, "../../../docs/agent.md");

describe("docs/agent.md", () => {
  it("its agent config example passes validateAgentConfig", () => {
    const text = readFileSync(README, "utf8");
    const section = text.slice(text.indexOf("## The agent"));
    const block = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
    assert.ok(block, "no yaml block under '## The agent'");
    const c = validateAgentConfig(parseYaml(block));
    assert.equal(c.synchronousMode, DEFAULT_SYNCHRONOUS_MODE, "the example shows the default");
    assert.deepEqual([c.timing.ttl, c.timing.loopWait, c.timing.retryTimeout], [4, 1, 1.5]);
  });
});
