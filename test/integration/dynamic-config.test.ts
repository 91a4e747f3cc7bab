/**
 * Maintenance mode and the dynamic configuration on a real local cluster (etcd, PostgreSQL, agents,
 * HAProxy), one cluster for every case:
 * - the desired config (`hapg local up --desired-config FILE`, the local stand-in for the SSM
 *   parameter `pulumi up` publishes): changing DIR/desired-config.json changes the running cluster:
 *   a reloadable parameter is live on every member (SHOW), a restart-only one is reported pending;
 * - `hapg edit-config` changes etcd's config key (a refused value changes nothing);
 * - `hapg pause --wait`: the leader's PostgreSQL stopped by hand is not restarted and nobody
 *   promotes for several loops; `hapg resume --wait`: the cluster heals (a leader, replicas streaming).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { localDown, localUp } from "../../local/cluster";
import { tempClusterDir } from "../../local/demo";
import { postmasterPid, waitHealthy } from "../../local/faults";
import { type ClusterFile, findNode, httpGet } from "../../local/state";
import { dsnWithPort, eventually, query } from "../helpers/pg-client";

/** Below Linux's ephemeral range (32768-60999), where a client socket's source port could take one of ours. */
const BASE_PORT = 30000;

/** The parts of /patroni these tests read. */
interface PatroniBody {
  pause?: boolean;
  pending_restart?: boolean;
  dynamic_config: {
    pending_restart: string[];
    desired: { source: string; waits_for_restart: string[]; refused: { field: string }[] };
  };
}
const CLI = path.join(__dirname, "../../sidecar/cli/main.js");

function hapg(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 90_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("maintenance mode and dynamic config on a real cluster", function () {
  this.timeout(300_000);
  let dir: string;
  let c: ClusterFile;
  const show = async (node: string, name: string) =>
    (await query<{ v: string }>(dsnWithPort(c.dsn, findNode(c, node).pgPort), `SELECT current_setting($1) AS v`, [name]))[0].v;
  const patroni = async (node: string) => (await httpGet(`${findNode(c, node).apiUrl}/patroni`, 2000)).body as PatroniBody;

  before(async () => {
    dir = tempClusterDir("hapg-itest-config-");
    const seed = path.join(path.dirname(dir), "desired.yaml");
    fs.writeFileSync(seed, "postgresql:\n  parameters:\n    work_mem: 8MB\n");
    c = await localUp({ dir, basePort: BASE_PORT, synchronousMode: "off", desiredConfig: seed, timeoutMs: 150_000 });
  });
  after(async () => {
    await localDown(dir).catch((e) => console.error(`localDown: ${(e as Error).message}`));
    fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  });

  it("converges to a changed desired-config file: a reloadable parameter live everywhere, a restart-only one pending", async () => {
    await waitHealthy(dir, 60_000);
    for (const n of c.nodes)
      assert.equal(
        await eventually(`${n.name} work_mem`, 30_000, async () => ((await show(n.name, "work_mem")) === "8MB" ? "8MB" : undefined)),
        "8MB",
      );
    const file = path.join(dir, "desired-config.json");
    fs.writeFileSync(file, JSON.stringify({ postgresql: { parameters: { work_mem: "16MB", shared_buffers: "48MB" } } }));
    for (const n of c.nodes) {
      await eventually(`${n.name}: work_mem 16MB by reload`, 30_000, async () =>
        (await show(n.name, "work_mem")) === "16MB" ? true : undefined,
      );
      // pending_restart also follows PostgreSQL's own pg_settings, which may show before the agent's list.
      const p = await eventually(`${n.name}: pending restart`, 30_000, async () => {
        const b = await patroni(n.name);
        return b.pending_restart && b.dynamic_config?.pending_restart?.length ? b : undefined;
      });
      assert.deepEqual(p.dynamic_config.pending_restart, ["shared_buffers"]);
      assert.equal(await show(n.name, "shared_buffers"), "32MB", "the old value until a restart");
    }
    const leader = await waitHealthy(dir, 30_000);
    const desired = (await patroni(leader)).dynamic_config.desired;
    assert.equal(desired.source, `file:${file}`);
    assert.deepEqual(desired.waits_for_restart, ["postgresql.parameters.shared_buffers"]);
    // hapg list reads /cluster, an agent's last etcd read: the member keys' flags show within a loop.
    let list = "";
    await eventually("hapg list shows the pending restart", 10_000, async () => {
      list = hapg("list", "--dir", dir, "--json").stdout;
      return (JSON.parse(list) as { members: { pending_restart: boolean }[] }).members.every((m) => m.pending_restart) || undefined;
    }).catch((e: Error) => {
      throw new Error(`${e.message}; last list: ${list}`);
    });
    // A value the schema refuses is reported, and the rest of the document still applies.
    fs.writeFileSync(file, JSON.stringify({ postgresql: { parameters: { work_mem: "24MB", shared_buffers: "48MB", port: 1 } } }));
    await eventually("work_mem 24MB", 30_000, async () => ((await show(leader, "work_mem")) === "24MB" ? true : undefined));
    const refused = await eventually("the refusal reported", 10_000, async () => (await patroni(leader)).dynamic_config.desired.refused[0]);
    assert.equal(refused.field, "postgresql.parameters.port");
  });

  it("hapg edit-config: a refused value changes nothing; an accepted one is shown by show-config", async () => {
    const before = hapg("show-config", "--dir", dir, "--json").stdout;
    const bad = hapg("edit-config", "--dir", dir, "--pg", "listen_addresses=*", "--force");
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /postgresql\.parameters\.listen_addresses: set by the agent/);
    assert.equal(hapg("show-config", "--dir", dir, "--json").stdout, before);
    const noForce = hapg("edit-config", "--dir", dir, "--pg", "temp_buffers=16MB");
    assert.match(noForce.stderr, /add --force/, "no terminal: it does not apply without asking");
    const ok = hapg("edit-config", "--dir", dir, "--pg", "temp_buffers=16MB", "--set", "maximum_lag_on_failover=2097152", "--force");
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /\+\s+temp_buffers: 16MB/);
    const config = JSON.parse(hapg("show-config", "--dir", dir, "--json").stdout);
    assert.equal(config.postgresql.parameters.temp_buffers, "16MB");
    assert.equal(config.maximum_lag_on_failover, 2097152);
  });

  it("pause: the leader's PostgreSQL stopped by hand is left stopped and nobody promotes; resume: the cluster heals", async () => {
    const leader = await waitHealthy(dir, 60_000);
    const paused = hapg("pause", "--dir", dir, "--wait");
    assert.equal(paused.status, 0, paused.stderr);
    assert.match(hapg("pause", "--dir", dir).stderr, /already paused/);
    const list = JSON.parse(hapg("list", "--dir", dir, "--json").stdout) as { paused: boolean };
    assert.equal(list.paused, true);
    assert.match(hapg("list", "--dir", dir).stdout, /maintenance mode: on/);
    const metrics = await fetch(`${findNode(c, leader).apiUrl}/metrics`).then((r) => r.text());
    assert.match(metrics, /^patroni_is_paused\{[^}]*\} 1$/m);

    // Stopped by hand, as an operator would (pg_ctl stop -m fast sends SIGINT to the postmaster).
    const pid = postmasterPid(findNode(c, leader).dataDir);
    assert.ok(pid, "the leader's postmaster runs");
    process.kill(pid, "SIGINT");
    await eventually("the postmaster gone", 30_000, async () =>
      postmasterPid(findNode(c, leader).dataDir) === undefined ? true : undefined,
    );
    // Several loops (loop_wait 1 s): no restart, no promotion.
    await new Promise((r) => setTimeout(r, 8000));
    assert.equal(postmasterPid(findNode(c, leader).dataDir), undefined, "the agent did not start it again");
    for (const n of c.nodes.filter((x) => x.name !== leader)) {
      const [r] = await query<{ ro: boolean }>(dsnWithPort(c.dsn, n.pgPort), "SELECT pg_is_in_recovery() AS ro");
      assert.equal(r.ro, true, `${n.name} was not promoted`);
      assert.equal((await patroni(n.name)).pause, true);
    }

    const resumed = hapg("resume", "--dir", dir, "--wait");
    assert.equal(resumed.status, 0, resumed.stderr);
    const healed = await waitHealthy(dir, 90_000);
    assert.ok(healed, "a leader again, every replica streaming");
    const after = JSON.parse(hapg("list", "--dir", dir, "--json").stdout) as { paused: boolean; members: { state: string }[] };
    assert.equal(after.paused, false);
    assert.equal(after.members.filter((m) => m.state === "streaming").length, c.nodes.length - 1);
  });
});
