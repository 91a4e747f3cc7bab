/** The component's `bootstrap` arg (a cluster restored from another's backups): validated before anything is declared. */
import * as assert from "node:assert/strict";
import { ClusterArgsError, validateClusterArgs } from "../../lib/args/validate";
import type { HaPostgresClusterArgs } from "../../lib/args/types";

const NOW = Date.UTC(2026, 10, 27, 17, 0, 0);
const source = { clusterName: "orders", bucketName: "acme-pg-backups" };

function problems(bootstrap: unknown, name = "orders-restored"): string[] {
  try {
    validateClusterArgs(name, { bootstrap } as HaPostgresClusterArgs, NOW);
  } catch (e) {
    assert.ok(e instanceof ClusterArgsError, String(e));
    return e.problems;
  }
  return [];
}

describe("validateClusterArgs: bootstrap from a backup", () => {
  it("resolves the source (prefix defaults to its cluster name) and the target", () => {
    const r = validateClusterArgs("orders-restored", { bootstrap: { fromBackup: source, targetTime: "2026-11-27T16:05:00Z" } }, NOW);
    assert.deepEqual(r.bootstrap, {
      fromBackup: {
        clusterName: "orders",
        bucketName: "acme-pg-backups",
        prefix: "orders",
        region: undefined,
        cipherPassParameter: "/ha-postgres/orders/backup/repo-cipher-pass",
      },
      target: { time: "2026-11-27T16:05:00Z" },
    });
    assert.deepEqual(validateClusterArgs("x", { bootstrap: { fromBackup: source } }, NOW).bootstrap?.target, {});
    assert.equal(validateClusterArgs("x", {}, NOW).bootstrap, undefined);
  });

  it("refuses a target time in the future, or without a zone", () => {
    assert.match(problems({ fromBackup: source, targetTime: "2026-11-27T17:00:01Z" })[0], /^bootstrap\.targetTime: .* is in the future/);
    assert.match(problems({ fromBackup: source, targetTime: "2026-11-27 16:00:00" })[0], /^bootstrap\.targetTime: .*add Z for UTC/);
  });

  it("refuses two targets, a bad LSN, and a target without a source", () => {
    assert.deepEqual(problems({ fromBackup: source, targetTime: "2026-11-27T16:05:00Z", targetName: "x" }), [
      "bootstrap.targetName: give one of targetTime, targetLsn or targetName, not targetTime and targetName",
    ]);
    assert.match(problems({ fromBackup: source, targetLsn: "zz" })[0], /^bootstrap\.targetLsn: "zz" is not a WAL position/);
    assert.match(problems({ targetTime: "2026-11-27T16:05:00Z" })[0], /^bootstrap\.fromBackup: is required with bootstrap/);
  });

  it("refuses restoring into the source's own stanza (same cluster name)", () => {
    assert.match(
      problems({ fromBackup: { ...source, clusterName: "Orders!" } })[0],
      /^bootstrap\.fromBackup\.clusterName: "Orders!" is not a cluster name/,
    );
    assert.match(problems({ fromBackup: { clusterName: "orders" } })[0], /^bootstrap\.fromBackup\.bucketName: is required/);
  });
});
