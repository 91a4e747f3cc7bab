/** `hapg local down`: the escalation per process and the message naming what survived. Pure. */
import assert from "node:assert/strict";
import { ladderFor, processOfDir, STOP_LADDERS, teardownProblem } from "../../local/teardown";

describe("local down: escalation", () => {
  it("asks every running process first and ends with SIGKILL", () => {
    for (const kind of ["agent", "postmaster", "haproxy", "etcd", "s3"] as const) {
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
    assert.deepEqual(
      ladderFor("postmaster", "T").map((r) => r.signal),
      ["SIGKILL"],
    );
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

describe("local down: processes found by their command lines", () => {
  const dir = "/tmp/c";
  it("recognises each process `up` starts for DIR, and nothing else", () => {
    const cases: [string[], string | undefined][] = [
      [["/usr/bin/node", "/x/dist/sidecar/cli/main.js", "agent", "--config", "/tmp/c/node1/agent.json"], "agent"],
      [["ip", "netns", "exec", "hapg15000-node1", "setpriv", "node", "main.js", "agent", "--config", "/tmp/c/node2/agent.json"], "agent"],
      [["/usr/lib/postgresql/17/bin/postgres", "-D", "/tmp/c/node1/data"], "postmaster"],
      [["/usr/bin/etcd", "--name=etcd-1", "--data-dir=/tmp/c/etcd/etcd-1.data", "--logger=zap"], "etcd"],
      [["/usr/sbin/haproxy", "-db", "-f", "/tmp/c/haproxy/haproxy.cfg", "-p", "/tmp/c/haproxy/haproxy.pid"], "haproxy"],
      [["/usr/bin/node", "/x/node_modules/s3rver/bin/s3rver.js", "-d", "/tmp/c/s3/data", "-a", "127.0.0.1", "-p", "15023"], "s3"],
      [["/usr/bin/node", "/x/node_modules/s3rver/bin/s3rver.js", "-d", "/tmp/other/s3/data"], undefined],
      // A node's pgBackRest TLS server (a child of its agent; one whose agent was killed is found by this).
      [["pgbackrest", "--config=/tmp/c/node1/data.pgbackrest/server.conf", "server"], "pgbackrest"],
      [["pgbackrest", "--config=/tmp/c/node1/data.pgbackrest/pgbackrest.conf", "--stanza=local", "backup"], undefined],
      // Another cluster's dir that merely starts with the same characters, and tools that only read files of DIR.
      [["/usr/lib/postgresql/17/bin/postgres", "-D", "/tmp/c2/node1/data"], undefined],
      [["tail", "-f", "/tmp/c/node1/agent.log"], undefined],
      [["/usr/bin/node", "main.js", "local", "down", "--dir", "/tmp/c"], undefined],
    ];
    for (const [args, kind] of cases) assert.equal(processOfDir(args, dir), kind, args.join(" "));
  });
});
