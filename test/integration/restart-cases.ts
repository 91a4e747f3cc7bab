/**
 * Restart, reload and reinitialize on a real local cluster (etcd, PostgreSQL, agents, HAProxy),
 * driven as an operator drives them: `hapg restart`, `hapg reload`, `hapg reinit` and the REST API.
 * The cases run on local-cluster.test.ts's cluster (3 nodes, synchronous mode "on" by name), after its own.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { callApi, localApiCredentials } from "../../sidecar/api/client";
import type { ListJson } from "../../sidecar/cli/ops-render";
import { waitHealthy } from "../../local/faults";
import { waitProxyWritable } from "../../local/health";
import { type ClusterFile, findNode, httpGet, readClusterFile } from "../../local/state";
import { countLost, Writer } from "../../local/writer";
import { nodeDsn } from "../helpers/node-dsn";
import { eventually, query } from "../helpers/pg-client";
import { pausesAround } from "../helpers/write-pauses";

const CLI = path.join(__dirname, "../../sidecar/cli/main.js");

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function hapg(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 180_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

interface Patroni {
  role?: string;
  state?: string;
  replication_state?: string;
  postmaster_start_time?: string;
  pending_restart?: boolean;
  timeline?: number;
  ha?: { leader?: string };
}

export function restartCases(clusterDir: () => string): void {
  describe("restart, reload, reinitialize on a real cluster", function () {
    this.timeout(300_000);
    let dir: string;
    let c: ClusterFile;
    const patroni = async (name: string) => (await httpGet(`${findNode(c, name).apiUrl}/patroni`, 3000)).body as Patroni;
    const replicas = (leader: string) => c.nodes.map((n) => n.name).filter((n) => n !== leader);

    before(() => {
      dir = clusterDir();
      c = readClusterFile(dir);
    });

    it("bad restart requests are refused naming the field, and change nothing", async () => {
      const leader = await waitHealthy(dir, 60_000);
      const replica = replicas(leader)[0];
      const api = findNode(c, replica).apiUrl;
      const auth = localApiCredentials(c);
      const started = (await patroni(replica)).postmaster_start_time;
      const cases: [unknown, number, RegExp][] = [
        [{ role: "boss" }, 400, /^role: "boss" is not a role: give "primary" or "replica"/],
        [{ restart_pending: "yes" }, 400, /^restart_pending: must be true or false/],
        [{ schedule: "tomorrow" }, 400, /^schedule: "tomorrow" is not an ISO 8601 time/],
        [{ schedule: "2001-01-01T00:00:00Z" }, 422, /^schedule: .* is in the past/],
        [{ timeout: -1 }, 400, /^timeout: "-1" is not a positive number of seconds/],
        [{ when: "now" }, 400, /^when: unknown field\(s\) for a restart/],
        [{ role: "primary" }, 503, /restart conditions are not satisfied: role: this member runs as replica/],
        [{ restart_pending: true }, 503, /restart conditions are not satisfied: restart_pending/],
      ];
      for (const [body, status, error] of cases) {
        const r = await callApi(api, "POST", "/restart", body, auth);
        assert.equal(r.status, status, JSON.stringify(body));
        assert.match(r.body.error ?? "", error);
      }
      assert.equal((await callApi(api, "POST", "/restart", {}, undefined)).status, 401);
      assert.equal((await callApi(api, "POST", "/restart", {}, { username: "hapg", password: "wrong" })).status, 401);
      assert.equal((await callApi(api, "DELETE", "/restart", undefined, auth)).status, 404, "nothing scheduled to cancel");
      const unknown = await hapg("restart", "nobody", "--dir", dir, "--force");
      assert.equal(unknown.code, 2);
      assert.match(unknown.stderr, /MEMBER: no member named "nobody" \(members: node1, node2, node3\)/);
      const badRole = await hapg("restart", "--role", "boss", "--dir", dir, "--force");
      assert.equal(badRole.code, 2);
      assert.match(badRole.stderr, /--role "boss": give replica, primary or any/);
      const cancelAll = await hapg("restart", "--cancel", "--dir", dir, "--force");
      assert.equal(cancelAll.code, 2);
      assert.match(cancelAll.stderr, /--cancel: name the MEMBER/);
      assert.equal((await patroni(replica)).postmaster_start_time, started, "nothing was restarted");
      assert.equal(await waitHealthy(dir, 10_000), leader);

      // Scheduled, shown in /patroni, cancelled.
      const later = await hapg("restart", replica, "--scheduled", "2999-01-01T00:00:00Z", "--dir", dir, "--force");
      assert.equal(later.code, 0, later.stderr);
      assert.match(later.stdout, /Restart scheduled at 2999-01-01T00:00:00Z/);
      assert.deepEqual(((await patroni(replica)) as { scheduled_restart?: unknown }).scheduled_restart, {
        schedule: "2999-01-01T00:00:00Z",
      });
      const twice = await callApi(api, "POST", "/restart", { schedule: "2999-01-02T00:00:00Z" }, auth);
      assert.equal(twice.status, 409);
      const cancel = await hapg("restart", replica, "--cancel", "--dir", dir, "--force");
      assert.equal(cancel.code, 0, cancel.stderr);
      assert.equal(((await patroni(replica)) as { scheduled_restart?: unknown }).scheduled_restart, undefined);
    });

    it("hapg restart MEMBER restarts a replica: a new postmaster that streams again; the leader keeps its key", async () => {
      const leader = await waitHealthy(dir, 60_000);
      const replica = replicas(leader)[1];
      const before = await patroni(replica);
      const r = await hapg("restart", replica, "--dir", dir, "--force");
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`${replica}: restarted successfully .*; streaming again`));
      const after = await patroni(replica);
      assert.notEqual(after.postmaster_start_time, before.postmaster_start_time);
      assert.equal(after.replication_state, "streaming");
      assert.equal(await waitHealthy(dir, 30_000), leader, "no failover");
    });

    it("the leader restarted in place keeps its key: a restart, not a failover", async () => {
      const leader = await waitHealthy(dir, 60_000);
      const before = await patroni(leader);
      // Only what the replicas log from now on: the cluster has failed over before (earlier cases).
      const logOf = (n: string) => path.join(dir, n, "agent.log");
      const logFrom = new Map(replicas(leader).map((n) => [n, fs.statSync(logOf(n)).size]));
      const r = await callApi(findNode(c, leader).apiUrl, "POST", "/restart", { role: "primary" }, localApiCredentials(c));
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(await waitHealthy(dir, 30_000), leader);
      const after = await patroni(leader);
      assert.notEqual(after.postmaster_start_time, before.postmaster_start_time);
      assert.equal(after.timeline, before.timeline, "no promotion anywhere: same timeline");
      for (const n of replicas(leader)) {
        const since = fs.readFileSync(logOf(n)).subarray(logFrom.get(n)).toString("utf8");
        assert.doesNotMatch(since, /taking the leader key and promoting/, n);
      }
    });

    it("a parameter that needs a restart: pending_restart after hapg reload, cleared by hapg restart --pending", async () => {
      const leader = await waitHealthy(dir, 60_000);
      // ALTER SYSTEM on every member (it is not replicated): replicas first restart with it, then the switchover, then the old leader.
      for (const n of c.nodes) await query(nodeDsn(c, n), "ALTER SYSTEM SET max_connections = 123");
      const reload = await hapg("reload", "--dir", dir, "--force");
      assert.equal(reload.code, 0, reload.stderr);
      for (const n of c.nodes) assert.match(reload.stdout, new RegExp(`${n.name}: reloaded: a restart is pending`));
      for (const n of c.nodes)
        await eventually(`${n.name}: pending_restart in /patroni`, 5000, async () => (await patroni(n.name)).pending_restart);
      // The other ways to find the cluster: a node's agent config (its API credentials too), etcd + a password file.
      const viaConfig = await hapg("reload", leader, "--config", path.join(dir, leader, "agent.json"), "--force");
      assert.equal(viaConfig.code, 0, viaConfig.stderr);
      assert.match(viaConfig.stdout, new RegExp(`^${leader}: reloaded: a restart is pending`));
      const etcd = c.etcd.map((e) => e.clientUrl).join(",");
      const viaEtcd = await hapg("reload", leader, "--etcd", etcd, "--cluster", "local", "--password-file", c.api!.passwordFile, "--force");
      assert.equal(viaEtcd.code, 0, viaEtcd.stderr);
      const noPassword = await hapg("reload", leader, "--etcd", etcd, "--cluster", "local", "--force");
      assert.equal(noPassword.code, 1);
      assert.match(noPassword.stderr, /reload of node\d refused \(HTTP 401\).*--password-file/);
      const listed = await eventually("every member key with pending_restart", 10_000, async () => {
        const r = await hapg("list", "--dir", dir, "--json");
        const j = JSON.parse(r.stdout) as ListJson;
        return j.members.every((m) => m.pending_restart) ? j : undefined;
      });
      assert.equal(listed.members.length, 3);
      const table = await hapg("list", "--dir", dir);
      assert.match(table.stdout, /│ Pending restart │/);
      const metrics = await (await fetch(`${findNode(c, leader).apiUrl}/metrics`)).text();
      assert.match(metrics, /^patroni_pending_restart\{[^}]*\} 1$/m);

      const r = await hapg("restart", "--pending", "--dir", dir, "--force");
      process.stdout.write(r.stdout.replace(/^/gm, "      "));
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.match(r.stdout, /switchover from /);
      for (const n of c.nodes) {
        const p = await patroni(n.name);
        assert.equal(p.pending_restart, undefined, `${n.name} still pending`);
        const [row] = await query<{ v: string }>(nodeDsn(c, n), "SELECT current_setting('max_connections') AS v");
        assert.equal(row.v, "123", n.name);
      }
      await waitHealthy(dir, 30_000);
      const none = await hapg("restart", "--pending", "--dir", dir, "--force");
      assert.equal(none.code, 0, none.stderr);
      assert.match(none.stdout, /nothing to restart: no member reports a pending restart/);
    });

    it("rolling restart of the whole cluster under a writer: 0 acknowledged writes lost, writes wait only for the switchover", async () => {
      const leader = await waitHealthy(dir, 60_000);
      const before = new Map<string, string | undefined>();
      for (const n of c.nodes) before.set(n.name, (await patroni(n.name)).postmaster_start_time);
      // A switchover just before (the previous case) leaves the old primary in the proxy for up to ~1.25 s (fall 2).
      await waitProxyWritable(c.dsn, 30_000);
      const writer = new Writer(c.dsn);
      await writer.start();
      await new Promise((res) => setTimeout(res, 1000));
      const t0 = Date.now();
      const r = await hapg("restart", "--dir", dir, "--force", "--json");
      const t1 = Date.now();
      await new Promise((res) => setTimeout(res, 1000));
      const result = await writer.stop();
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { ok: boolean; steps: { step: string; member: string; at: number; ms: number }[] };
      assert.deepEqual(
        out.steps.map((s) => `${s.step} ${s.member}`),
        [...replicas(leader).map((n) => `restart ${n}`), `switchover ${leader}`, `restart ${leader}`],
      );
      const { lost, sample } = await countLost(c.dsn, result.ackedIds);
      assert.equal(lost, 0, `acknowledged writes lost: ${sample.join(", ")}`);
      // The figures: the longest pause between two acknowledged writes during the switchover step, and outside it.
      const sw = out.steps.find((s) => s.step === "switchover")!;
      const pauses = pausesAround(result.ackTimes, sw, t0, t1 + 1000);
      console.log(
        `      rolling restart: ${((t1 - t0) / 1000).toFixed(1)} s, ${result.ackedIds.length} writes acknowledged, 0 lost; ` +
          `longest write pause ${pauses.duringStep} ms during the switchover step, ${pauses.outsideStep} ms outside it`,
      );
      assert.ok(result.ackedIds.length > 10, "the writer got acknowledgements");
      const newLeader = await waitHealthy(dir, 30_000);
      assert.notEqual(newLeader, leader);
      for (const n of c.nodes) assert.notEqual((await patroni(n.name)).postmaster_start_time, before.get(n.name), `${n.name} restarted`);
    });

    it("hapg reinit rebuilds a replica from the leader (a new data directory, streaming again); refused on the leader, nothing changed", async () => {
      const leader = await waitHealthy(dir, 60_000);
      const replica = replicas(leader)[0];
      // Named per member: the copy brings the leader's files along.
      const mark = (name: string) => path.join(findNode(c, name).dataDir, `hapg-itest-marker-${name}`);
      fs.writeFileSync(mark(leader), "x");
      fs.writeFileSync(mark(replica), "x");

      const onLeader = await hapg("reinit", leader, "--dir", dir, "--force");
      assert.equal(onLeader.code, 1);
      assert.match(
        onLeader.stderr,
        new RegExp(`reinitialize of ${leader} refused \\(HTTP 503\\): ${leader} is the leader: only a replica`),
      );
      assert.ok(fs.existsSync(mark(leader)), "the leader's data directory was not touched");
      const badBody = await callApi(findNode(c, replica).apiUrl, "POST", "/reinitialize", { force: "yes" }, localApiCredentials(c));
      assert.equal(badBody.status, 400);
      assert.match(badBody.body.error ?? "", /^force: must be true or false/);
      assert.ok(fs.existsSync(mark(replica)));

      const r = await hapg("reinit", replica, "--dir", dir, "--force");
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`${replica}: reinitialize started: copying from leader ${leader}`));
      assert.match(r.stdout, new RegExp(`${replica}: reinitialized, streaming again`));
      assert.ok(!fs.existsSync(mark(replica)), "a new data directory: the marker is gone");
      assert.equal((await patroni(replica)).replication_state, "streaming");
      assert.equal(await waitHealthy(dir, 30_000), leader);
      fs.rmSync(mark(leader));
    });
  });
}
