/**
 * The `history` key in Patroni's layout (what `patronictl history` reads): the leader writes it from
 * its timeline history file, keeps lines already stamped, and stamps only the newest new one.
 */
import * as assert from "node:assert/strict";
import { decide } from "../../sidecar/ha/decide";
import { historyToPublish, stampHistory, type HistoryLine } from "../../sidecar/ha/history";
import { buildSnapshot } from "../../sidecar/dcs/snapshot";
import { NOW, selfOf, threeMembers } from "../helpers/ha-fixtures";
import type { HaInput } from "../../sidecar/ha/types";

const file = [
  { timeline: 1, switchLsn: 100, reason: "no recovery target specified" },
  { timeline: 2, switchLsn: 200 },
];

describe("history key (Patroni's layout)", () => {
  it("timeline 1 has nothing to publish; a new history is written with the file's reasons", () => {
    assert.equal(historyToPublish([], undefined), undefined);
    assert.equal(historyToPublish(undefined, [[1, 100, "x"]]), undefined);
    assert.deepEqual(historyToPublish(file, undefined), [
      [1, 100, "no recovery target specified"],
      [2, 200, "no recovery target specified"],
    ]);
  });

  it("keeps lines etcd already has (their time and leader), adds the new one, and is quiet when up to date", () => {
    const published: HistoryLine[] = [[1, 100, "no recovery target specified", "2026-11-27T10:00:00.000Z", "a"]];
    const lines = historyToPublish(file, published)!;
    assert.deepEqual(lines, [published[0], [2, 200, "no recovery target specified"]]);
    const stamped = stampHistory(lines, "2026-11-27T11:00:00.000Z", "b");
    assert.deepEqual(stamped[1], [2, 200, "no recovery target specified", "2026-11-27T11:00:00.000Z", "b"]);
    assert.deepEqual(stamped[0], published[0], "an older line keeps its stamp");
    assert.equal(historyToPublish(file, stamped), undefined);
    assert.deepEqual(historyToPublish(file, [[1, 999, "diverged"]]), [
      [1, 100, "no recovery target specified"],
      [2, 200, "no recovery target specified"],
    ]);
  });

  it("the leader's decision publishes it last, after its routine actions; a replica never does", () => {
    const input = (name: string, published?: HistoryLine[]): HaInput =>
      ({
        cluster: threeMembers({ history: published }),
        self: selfOf(name),
        local: {
          dataDir: { initialized: true, systemId: "7000", clusterState: "in production", standbySignal: name !== "a", timeline: 3 },
          pg: {
            running: true,
            inRecovery: name !== "a",
            lsn: 1000,
            timeline: 3,
            history: file,
            streaming: true,
            upstream: { host: "127.0.0.1", port: 5432 },
          },
          process: "running",
        },
        memory: { leaseId: `lease-${name}`, leaseRenewSentAt: NOW - 100 },
        peers: [],
        now: NOW,
      }) as unknown as HaInput;
    const leader = decide(input("a")).actions.map((a) => a.type);
    assert.equal(leader[leader.length - 1], "publishHistory", leader.join(", "));
    assert.ok(
      !decide(input("a", stampHistory(historyToPublish(file, undefined)!, "t", "a"))).actions.some((a) => a.type === "publishHistory"),
    );
    assert.ok(!decide(input("b")).actions.some((a) => a.type === "publishHistory"));
  });

  it("reads Patroni's lines from etcd; a malformed value is listed as corrupt, not thrown", () => {
    const kv = (value: string) => [{ key: "/service/c/history", value, lease: "0", modRevision: 3 }];
    const ok = buildSnapshot("/service/c/", kv('[[1,100,"no recovery target specified","2026-11-27T10:00:00+00:00","a"],[2,200,null]]'), 5);
    assert.deepEqual(ok.history, [
      [1, 100, "no recovery target specified", "2026-11-27T10:00:00+00:00", "a"],
      [2, 200, ""],
    ]);
    const bad = buildSnapshot("/service/c/", kv('{"1": 2}'), 5);
    assert.equal(bad.history, undefined);
    assert.match(bad.corrupt[0].reason, /expected \[\[timeline, switch LSN/);
  });
});
