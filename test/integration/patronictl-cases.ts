/**
 * Patroni's own client, unchanged, against our cluster: `patronictl` from Debian's patroni package
 * reads the etcd keys (members, leader, sync, config, history) and calls the agents' REST API
 * (switchover, PATCH /config for pause and resume) as it would against Patroni. The cases run on
 * local-cluster.test.ts's cluster (etcd, PostgreSQL, agents, HAProxy; synchronous mode on); patronictl gets a Patroni-style
 * YAML config naming etcd (etcd3), the namespace and the API credentials. Nothing is mocked.
 * Skipped, naming the package, where patronictl is not installed (scripts/ensure-deps.sh installs it as root).
 */
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import { callApi } from "../../sidecar/api/client";
import { waitHealthy } from "../../local/faults";
import { type ClusterFile, readClusterFile } from "../../local/state";
import { eventually } from "../helpers/pg-client";

function patronictlMissing(): string | undefined {
  try {
    execFileSync("sh", ["-c", "command -v patronictl"], { stdio: "ignore" });
    return undefined;
  } catch {
    return "needs Patroni's client: apt-get install -y --no-install-recommends patroni (Debian's patroni package; scripts/ensure-deps.sh installs it as root)";
  }
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** One row of `patronictl list -f json`. */
interface Row {
  Cluster: string;
  Member: string;
  Host: string;
  Role: string;
  State: string;
  TL: number;
  "Lag in MB"?: number;
}

export function patronictlCases(clusterDir: () => string): void {
  describe("patronictl (Patroni 3.0.2's own client) against our cluster", function () {
    this.timeout(240_000);
    let dir: string;
    let c: ClusterFile;
    let configFile: string;
    let badConfigFile: string;

    const patronictl = (...args: string[]): Promise<Run> => patronictlWith(configFile, ...args);
    function patronictlWith(file: string, ...args: string[]): Promise<Run> {
      return new Promise((resolve) =>
        execFile("patronictl", ["-c", file, ...args], { timeout: 60_000 }, (err, stdout, stderr) =>
          resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, stdout, stderr }),
        ),
      );
    }
    async function ok(...args: string[]): Promise<string> {
      const r = await patronictl(...args);
      assert.equal(r.code, 0, `patronictl ${args.join(" ")}:\n${r.stdout}\n${r.stderr}`);
      assert.doesNotMatch(r.stderr, /Traceback/, r.stderr);
      return r.stdout;
    }
    const rows = async () => JSON.parse(await ok("list", "-f", "json")) as Row[];
    const leaderRow = async () => (await rows()).find((r) => r.Role === "Leader");
    const api = () => c.nodes[0].apiUrl;

    before(async function () {
      const why = patronictlMissing();
      if (why) {
        process.stdout.write(`      skipped: ${why}\n`);
        this.skip();
      }
      dir = clusterDir();
      c = readClusterFile(dir);
      assert.equal(c.synchronousMode, "on", "the cases read the synchronous standby");
      const password = fs.readFileSync(c.api!.passwordFile, "utf8").trim();
      const hosts = c.etcd.map((e) => new URL(e.clientUrl).host).join(",");
      const yaml = (pw: string) =>
        [
          "scope: local",
          "namespace: /service/",
          "etcd3:",
          `  hosts: ${hosts}`,
          "restapi:",
          "  authentication:",
          `    username: ${c.api!.username}`,
          `    password: ${JSON.stringify(pw)}`,
          "",
        ].join("\n");
      configFile = path.join(path.dirname(dir), "patronictl.yml");
      fs.writeFileSync(configFile, yaml(password), { mode: 0o600 });
      badConfigFile = path.join(path.dirname(dir), "patronictl-wrong-password.yml");
      fs.writeFileSync(badConfigFile, yaml(`${password}-wrong`), { mode: 0o600 });
    });
    after(() => {
      // The cluster is the caller's; the config files live next to its directory and go with it.
      for (const f of [configFile, badConfigFile]) if (f) fs.rmSync(f, { force: true });
    });

    it("patronictl list and topology show every member, the leader, the synchronous standby, hosts and timelines", async () => {
      const leader = await waitHealthy(dir, 60_000);
      // Members appear in etcd as they come up; the synchronous standby once the leader has chosen it.
      const list = await eventually("a synchronous standby in patronictl list", 30_000, async () => {
        const r = await rows();
        return r.length === c.nodes.length && r.some((m) => m.Role === "Sync Standby") ? r : undefined;
      });
      assert.deepEqual(
        list.map((r) => [r.Cluster, r.Member, r.Host, r.State]),
        c.nodes.map((n) => ["local", n.name, `${n.host}:${n.pgPort}`, "running"]),
      );
      assert.equal(list.find((r) => r.Role === "Leader")?.Member, leader);
      const tl = ((await callApi(api(), "GET", "/cluster")).body.members as { name: string; timeline: number }[]).find(
        (m) => m.name === leader,
      )!.timeline;
      assert.ok(
        list.every((r) => r.TL === tl),
        JSON.stringify(list),
      );
      assert.ok(
        list.filter((r) => r.Role !== "Leader").every((r) => typeof r["Lag in MB"] === "number"),
        "a lag for every replica",
      );

      const table = await ok("list");
      assert.match(table, /Cluster: local/);
      assert.match(table, new RegExp(`\\| ${leader} +\\| 127\\.0\\.0\\.1:\\d+ +\\| Leader +\\| running`));
      const topology = await ok("topology");
      assert.match(topology, new RegExp(`\\| ${leader} +\\|`));
      for (const n of c.nodes.filter((x) => x.name !== leader)) assert.match(topology, new RegExp(`\\| \\+ ${n.name} +\\|`));
    });

    it("patronictl show-config prints the config key, the same settings our API serves", async () => {
      const shown = parseYaml(await ok("show-config")) as Record<string, unknown>;
      const ours = (await callApi(api(), "GET", "/config")).body;
      assert.deepEqual(shown, ours);
      for (const k of ["ttl", "loop_wait", "retry_timeout", "maximum_lag_on_failover", "synchronous_mode"]) assert.ok(k in shown, k);
    });

    it("patronictl switchover (non-interactive) hands over to the synchronous standby; history records the change", async () => {
      const before = (await leaderRow())!;
      const candidate = (await rows()).find((r) => r.Role === "Sync Standby")!.Member;
      const out = await ok("switchover", "--leader", before.Member, "--candidate", candidate, "--force");
      assert.match(out, new RegExp(`Successfully switched over to .*${candidate}`), out);
      const after = await eventually(`${candidate} listed as leader, everyone on the new timeline`, 60_000, async () => {
        const r = await rows();
        const l = r.find((m) => m.Role === "Leader");
        return l?.Member === candidate && l.TL > before.TL && r.every((m) => m.TL === l.TL && m.State === "running") ? l : undefined;
      });
      const history = await eventually("the history key", 30_000, async () => {
        const h = JSON.parse(await ok("history", "-f", "json")) as Record<string, string | number>[];
        return h.length ? h : undefined;
      });
      const last = history[history.length - 1];
      assert.equal(last.TL, before.TL);
      assert.equal(last["New Leader"], candidate);
      assert.equal(last.Reason, "no recovery target specified");
      assert.ok(!Number.isNaN(Date.parse(String(last.Timestamp))), `a time: ${last.Timestamp}`);
      assert.ok(Number(last.LSN) > 0);
      assert.equal(after.TL, before.TL + 1);
      // A candidate that is not the synchronous standby is refused by our API with Patroni's status code.
      const other = (await rows()).find((r) => r.Role === "Replica");
      if (other) {
        const refused = await ok("switchover", "--leader", candidate, "--candidate", other.Member, "--force");
        assert.match(refused, /Switchover failed, details: 412, .*synchronous standby/);
        assert.equal((await leaderRow())!.Member, candidate, "nothing changed");
      }
    });

    it("patronictl pause and resume --wait: maintenance mode on every member, then off; a wrong password changes nothing", async () => {
      const wrong = await patronictlWith(badConfigFile, "pause");
      assert.match(wrong.stdout, /Failed: pause cluster management status code=401/, `${wrong.stdout}${wrong.stderr}`);
      assert.doesNotMatch(await ok("list"), /Maintenance mode: on/, "the refused pause changed nothing");

      const paused = await ok("pause", "--wait");
      assert.match(paused, /Success: cluster management is paused/, paused);
      assert.doesNotMatch(paused, /didn't recognized pause state/, paused);
      assert.match(await ok("list"), /Maintenance mode: on/);
      assert.equal((parseYaml(await ok("show-config")) as { pause?: boolean }).pause, true);
      const again = await patronictl("pause");
      assert.match(again.stderr, /Cluster is already paused/);

      const resumed = await ok("resume", "--wait");
      assert.match(resumed, /Success: cluster management is resumed/, resumed);
      assert.doesNotMatch(resumed, /didn't recognized pause state/, resumed);
      assert.doesNotMatch(await ok("list"), /Maintenance mode: on/);
      assert.equal((parseYaml(await ok("show-config")) as { pause?: boolean }).pause, undefined, "resume deletes the key, as Patroni");
    });
  });
}
