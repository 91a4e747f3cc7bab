/** `hapg local down`: the escalation per process and the message naming what survived. Pure. */
import assert from "node:assert/strict";
import { ladderFor, STOP_LADDERS, teardownProblem } from "../../sidecar/local/teardown";

describe("local down: escalation", () => {
  it("asks every running process first and ends with SIGKILL", () => {
    for (const kind of ["agent", "postmaster", "haproxy", "etcd"] as const) {
      const ladder = ladderFor(kind, "S");
      assert.notEqual(ladder[0].signal, "SIGKILL", kind);
      assert.equal(ladder[ladder.length - 1].signal, "SIGKILL", kind);
    }
  });

  it("stops a postmaster as pg_ctl -m fast, then -m immediate, then SIGKILL", () => {
    assert.deepEqual(
      ladderFor("postmaster", "R").map((r) => r.signal),
      ["SIGINT", "SIGQUIT", "SIGKILL"],
    );
  });

  it("kills a stopped (SIGSTOPped) agent or postmaster where it stands: it cannot act on SIGTERM", () => {
    assert.deepEqual(ladderFor("agent", "T"), [STOP_LADDERS.agent[1]]);
    assert.deepEqual(ladderFor("postmaster", "T").map((r) => r.signal), ["SIGKILL"]);
    // etcd and HAProxy are resumed with SIGCONT and get the whole ladder.
    assert.deepEqual(ladderFor("etcd", "T"), STOP_LADDERS.etcd);
  });
});

describe("local down: report", () => {
  it("is silent when everything is gone", () => {
    assert.equal(teardownProblem("/tmp/c", { survivors: [], errors: [] }), undefined);
  });

  it("names every survivor with its pid, keeps the files and says how to go on", () => {
    const msg = teardownProblem("/tmp/c", {
      survivors: [
        { what: "node2 agent", pid: 4242, kind: "agent" },
        { what: "etcd-1", pid: 4343, kind: "etcd" },
      ],
      errors: ["network hapg15000: ip link del failed"],
    });
    assert.match(msg!, /\/tmp\/c is not fully stopped \(its files are kept\)/);
    assert.match(msg!, /still running after SIGKILL: node2 agent \(pid 4242\), etcd-1 \(pid 4343\)/);
    assert.match(msg!, /ps -o pid,stat,cmd -p 4242,4343; then run hapg local down --dir \/tmp\/c again/);
    assert.match(msg!, /failed: network hapg15000: ip link del failed/);
  });
});
