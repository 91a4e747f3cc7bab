/** Backups wired into the agent's surroundings: the local cluster's config, etcd's backup key, /metrics. Pure, no processes. */
import assert from "node:assert/strict";
import { backupRows, metricsInput } from "../../sidecar/api/metrics";
import { validateAgentConfig } from "../../sidecar/contract/agent-config";
import { buildSnapshot } from "../../sidecar/dcs/snapshot";
import { agentConfig } from "../../local/agents";
import { DEFAULTS } from "../../local/cluster";
import { computeLayout, portsOf } from "../../local/layout";
import { MemoryDcs, MemoryEtcd } from "../helpers/memory-dcs";

describe("hapg local up --backup", () => {
  const o = { ...DEFAULTS, dir: "/tmp/hapg-bk-x", basePort: 15000 };
  const l = computeLayout(o);
  it("gives every agent the local S3 repository: localhost with the CA file, path-style, s3rver's key file, on P+23", () => {
    for (const n of l.nodes) {
      const c = validateAgentConfig(agentConfig(l, n, { ...o, backup: true }));
      assert.equal(c.backup?.repo.endpoint, "localhost");
      assert.equal(c.backup?.repo.port, 15023);
      assert.equal(c.backup?.repo.uriStyle, "path");
      assert.equal(c.backup?.repo.caFile, "/tmp/hapg-bk-x/s3/tls/ca.pem");
      assert.deepEqual(c.backup?.repo.credentials, { source: "keyFile", file: "/tmp/hapg-bk-x/s3/s3-keys.json" });
    }
    assert.equal(validateAgentConfig(agentConfig(l, l.nodes[0], o)).backup, undefined, "without --backup: no archiving");
    assert.ok(portsOf(l, true).some((p) => p.port === 15023 && /s3rver/.test(p.use)));
    assert.ok(!portsOf(l).some((p) => p.port === 15023));
  });
});

describe("etcd's backup key", () => {
  const claim = {
    slot: "initial",
    type: "full",
    member: "node1",
    state: "done",
    started: "2026-11-27T16:32:09.818Z",
    lastSlot: "2026-11-27T01:00Z",
  };
  it("is read into the snapshot with its raw value; a corrupt one is reported, not thrown", () => {
    const raw = JSON.stringify(claim);
    const s = buildSnapshot("/service/main/", [{ key: "/service/main/backup", value: raw, lease: "0", modRevision: 3 }], 3);
    assert.deepEqual(s.backup, { claim, raw });
    const bad = buildSnapshot("/service/main/", [{ key: "/service/main/backup", value: '{"slot":1}', lease: "0", modRevision: 3 }], 3);
    assert.equal(bad.backup, undefined);
    assert.match(bad.corrupt[0].reason, /not a backup claim/);
  });

  it("is claimed once: create-if-absent, then only over the value the claimer read", async () => {
    const dcs = new MemoryDcs(new MemoryEtcd(() => Date.now()), "/service/main/");
    const first = { ...claim, state: "running" as const, type: "full" as const };
    assert.equal(await dcs.attemptPutBackup(undefined, first), true);
    assert.equal(await dcs.attemptPutBackup(undefined, { ...first, member: "node2" }), false, "a second create loses");
    const read = (await dcs.load()).backup!;
    const done = { ...first, state: "done" as const };
    assert.equal(await dcs.attemptPutBackup(read.raw, done), true);
    assert.equal(await dcs.attemptPutBackup(read.raw, { ...first, member: "node3" }), false, "a claim over a stale value loses");
    assert.equal((await dcs.load()).backup?.claim.state, "done");
  });
});

describe("/metrics: archiving", () => {
  it("shows the leader's archiver and zeros without a repository", () => {
    const rows = (b: Parameters<typeof backupRows>[0]["backup"]) =>
      Object.fromEntries(backupRows({ backup: b } as Parameters<typeof backupRows>[0]).map((r) => [r.name, r.value]));
    const none = rows(undefined);
    assert.equal(none.hapg_archive_last_archived_age_seconds, -1);
    assert.equal(none.hapg_archive_failing, 0);
    const failing = rows({
      stanza: "main",
      stanza_ready: true,
      archive: { archived_count: 6, failed_count: 3, ready_count: 2, age_seconds: 40, problem: "archiving fails" },
      claim: {
        slot: "initial",
        type: "full",
        member: "a",
        state: "done",
        started: "2026-11-27T00:00:00Z",
        finished: "2026-11-27T00:01:00Z",
      },
    });
    assert.equal(failing.hapg_archive_failing, 1);
    assert.equal(failing.hapg_archive_ready_segments, 2);
    assert.equal(failing.hapg_archive_failed_total, 3);
    assert.equal(failing.hapg_backup_last_success_timestamp_seconds, Date.parse("2026-11-27T00:01:00Z") / 1000);
    assert.equal(typeof metricsInput, "function");
  });

  it("a replica shows what it keeps for the leader, and is not failing", () => {
    const row = Object.fromEntries(
      backupRows({
        backup: {
          stanza: "main",
          stanza_ready: false,
          archive: { role: "replica", archived_count: 0, failed_count: 0, ready_count: 5, kept_for_leader: 3 },
        },
      } as Parameters<typeof backupRows>[0]).map((r) => [r.name, r.value]),
    );
    assert.equal(row.hapg_archive_ready_segments, 5);
    assert.equal(row.hapg_archive_kept_for_leader_segments, 3);
    assert.equal(row.hapg_archive_failing, 0);
    assert.equal(row.hapg_archive_failed_total, 0);
  });
});
