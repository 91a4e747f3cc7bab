/** How a host is replaced: the AWS replacer finds exactly the host's instance by tags; the local one writes a request. */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { instanceFilters, requestDirReplacer } from "../../sidecar/roll/replacer";

describe("host replacers", () => {
  it("AWS: the instance is found by the cluster's tags, the host's tag and a live state", () => {
    assert.deepEqual(instanceFilters({ clusterTags: { "ha-postgres:cluster": "main" }, hostTagKey: "ha-postgres:host" }, "pg-1"), [
      "Name=tag:ha-postgres:cluster,Values=main",
      "Name=tag:ha-postgres:host,Values=pg-1",
      "Name=instance-state-name,Values=pending,running",
    ]);
  });

  it("local: a request file named after the host, written whole (temp file, then rename)", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hapg-asg-"));
    try {
      await requestDirReplacer(dir).replace("node2");
      assert.deepEqual(fs.readdirSync(dir), ["node2"]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
