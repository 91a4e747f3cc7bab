/** The agent config's `bootstrap.fromBackup`: defaults, and refusals naming the field and the fix. */
import assert from "node:assert/strict";
import { ConfigError, validateAgentConfig } from "../../sidecar/contract/agent-config";
import { resolvedSource } from "../../sidecar/contract/restore-config";

const repo = {
  bucket: "hapg-local",
  endpoint: "localhost",
  port: 33323,
  uriStyle: "path",
  credentials: { source: "keyFile", file: "/x/s3.json" },
};
const base = {
  cluster: "restored",
  name: "node1",
  etcd: { endpoints: ["http://127.0.0.1:2379"] },
  postgres: {
    dataDir: "/var/lib/hapg/data",
    listen: { host: "127.0.0.1", port: 5432 },
    superuser: { passwordFile: "/etc/hapg/superuser" },
    replication: { passwordFile: "/etc/hapg/replication" },
  },
  api: { listen: { host: "127.0.0.1" } },
};

function problems(raw: unknown): string[] {
  try {
    validateAgentConfig(raw);
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    return e.problems;
  }
  return [];
}

describe("agent config: bootstrap.fromBackup", () => {
  it("is absent by default (initdb)", () => {
    assert.deepEqual(validateAgentConfig(base).bootstrap, {});
  });

  it("takes the source repository, its stanza and a target; the prefix follows the stanza", () => {
    const c = validateAgentConfig({
      ...base,
      bootstrap: { fromBackup: { repo, stanza: "local", target: { time: "2026-11-27T16:05:00Z" } } },
    });
    const s = resolvedSource(c.bootstrap.fromBackup!);
    assert.equal(s.repoPath, "/local");
    assert.deepEqual(s.target, { type: "time", at: "2026-11-27 16:05:00+00", epochMs: Date.UTC(2026, 10, 27, 16, 5) });
    assert.deepEqual(
      resolvedSource(validateAgentConfig({ ...base, bootstrap: { fromBackup: { repo, stanza: "local" } } }).bootstrap.fromBackup!).target,
      {
        type: "latest",
      },
    );
  });

  it("refuses a bad target, naming the field", () => {
    assert.deepEqual(problems({ ...base, bootstrap: { fromBackup: { repo, stanza: "local", target: { time: "16:05" } } } }), [
      'bootstrap.fromBackup.target.time: "16:05" is not a timestamp with a time zone: write it as 2026-11-27T16:05:00Z or "2026-11-27 16:05:00.250+01:00"',
    ]);
    assert.match(problems({ ...base, bootstrap: { fromBackup: { repo, target: {} } } })[0], /^bootstrap\.fromBackup\.stanza: is required/);
  });

  it("refuses archiving into the stanza it restores from", () => {
    const same = {
      ...base,
      backup: { stanza: "local", repo: { ...repo, path: "/local" } },
      bootstrap: { fromBackup: { repo, stanza: "local" } },
    };
    assert.match(
      problems(same)[0],
      /^backup\.stanza: "local" is also bootstrap\.fromBackup\.stanza in the same repository: .*set backup\.stanza/,
    );
    // Its own stanza in the same bucket is fine (the default: the cluster's name and prefix).
    assert.deepEqual(problems({ ...same, backup: { repo } }), []);
  });
});
