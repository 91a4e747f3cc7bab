/**
 * The rendered user-data of every variant, checked by the real tools: `cloud-init schema`,
 * `shellcheck` on every embedded script, `systemd-analyze verify` on every unit (no output
 * allowed), `haproxy -c` on the HAProxy config, etcd's own flag list for the etcd environment, the
 * agent's schema for the agent config, and the 16 KB limit. A missing tool fails the test:
 * scripts/ensure-deps.sh installs them all.
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { gunzipSync } from "node:zlib";
import { renderFiles, renderUserData, USER_DATA_LIMIT_BYTES } from "../../lib/userdata/render";
import { compressUserData, ec2UserData, readWrittenFiles, renderNodeInitPlan } from "../../lib/userdata/render";
import { nodeInitPlanSchema } from "../../sidecar/contract/boot-plan";
import { NODE_PATHS } from "../../lib/userdata/paths";
import { parseCliConfig } from "../../sidecar/contract/cli-config";
import { validateAgentConfig } from "../../sidecar/contract/agent-config";
import { variants } from "./fixtures";

function run(cmd: string, args: string[]): { code: number; out: string } {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 60_000 });
  if (r.error) throw new Error(`${cmd} could not run (${r.error.message}): run scripts/ensure-deps.sh`);
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}`.trim() };
}

/** A throwaway CA certificate (openssl) under `dir`, made once. */
function testCa(dir: string): string {
  const crt = join(dir, "ca.crt");
  if (existsSync(crt)) return crt;
  const r = run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    join(dir, "ca.key"),
    "-out",
    crt,
    "-subj",
    "/CN=test CA",
    "-days",
    "1",
  ]);
  assert.equal(r.code, 0, r.out);
  return crt;
}

/** Program paths a unit's Exec* lines run (after systemd's -@:+! prefixes). */
export function unitExecutables(unit: string): string[] {
  return [...unit.matchAll(/^Exec[A-Za-z]*=([-@:+!]*)(\S+)/gm)].map((m) => m[2]);
}

describe("rendered user-data, checked by real tools", function () {
  this.timeout(120_000);
  let dir: string;
  let sdRoot: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "hapg-userdata-"));
    // systemd-analyze verify --root needs the system's unit tree (targets our units depend on) in the
    // root; our units go to its /etc/systemd/system and the programs they start are stand-ins there,
    // because whether a Debian package ships /usr/bin/etcd is the package's business, not the unit's.
    sdRoot = join(dir, "root");
    const systemUnits = ["/usr/lib/systemd/system", "/lib/systemd/system"].find((d) => existsSync(d));
    assert.ok(systemUnits, "systemd's unit directory exists (package systemd)");
    cpSync(systemUnits, join(sdRoot, "usr/lib/systemd/system"), { recursive: true, dereference: false });
    mkdirSync(join(sdRoot, "etc/systemd/system"), { recursive: true });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const v of variants()) {
    describe(v.id, () => {
      it("stays under EC2's 16 KB user-data limit as EC2 gets it (gzip), and decompresses to the document", () => {
        const text = renderUserData(v.spec);
        const gz = compressUserData(text);
        assert.ok(gz.length < USER_DATA_LIMIT_BYTES, `${gz.length} bytes compressed`);
        assert.equal(gunzipSync(gz).toString("utf8"), text, "cloud-init decompresses gzip user-data itself");
        assert.deepEqual(compressUserData(text), gz, "deterministic: an unchanged document is an unchanged launch template");
      });

      it("the node-init plan passes node-init's own schema, with the host's revision and the topology", () => {
        const plan = nodeInitPlanSchema.parse(renderNodeInitPlan({ ...v.spec, revision: "0123456789abcdef" }));
        assert.deepEqual(plan.host, { name: v.spec.hostName, revision: "0123456789abcdef" });
        assert.equal(plan.topology?.ssmParameter, v.spec.topologyParameter);
        assert.equal(
          plan.etcd?.membershipEnvFile,
          v.spec.etcd ? NODE_PATHS.etcdJoinEnv : undefined,
          "etcd's unit reads what etcd-join writes",
        );
      });

      it("passes cloud-init schema", () => {
        const f = join(dir, `${v.id}.yaml`);
        writeFileSync(f, renderUserData(v.spec));
        const r = run("cloud-init", ["schema", "--config-file", f]);
        assert.equal(r.code, 0, r.out);
        assert.match(r.out, /^Valid cloud-config/m, r.out);
      });

      it("has user-data files that match what renderFiles says it writes", () => {
        // As EC2 gets it (base64 of gzip), decoded as cloud-init decodes it.
        assert.deepEqual(
          readWrittenFiles(ec2UserData(renderUserData(v.spec))),
          renderFiles(v.spec).map((f) => ({ path: f.path, permissions: f.permissions, content: f.content })),
        );
      });

      it("every embedded shell script passes shellcheck", () => {
        const scripts = renderFiles(v.spec).filter((f) => f.content.startsWith("#!/bin/"));
        assert.ok(scripts.length >= 2);
        for (const s of scripts) {
          const f = join(dir, `${v.id}-${s.path.replace(/\//g, "_")}`);
          writeFileSync(f, s.content);
          const r = run("shellcheck", ["--severity=style", f]);
          assert.equal(r.code, 0, `${s.path}:\n${r.out}`);
          assert.equal(r.out, "", s.path);
        }
      });

      it("every systemd unit passes systemd-analyze verify with no output", () => {
        const units = renderFiles(v.spec).filter((f) => f.path.endsWith(".service"));
        assert.ok(units.length >= 1);
        for (const u of units) {
          writeFileSync(join(sdRoot, u.path), u.content, { flag: "w" });
          for (const exe of unitExecutables(u.content)) {
            const fake = join(sdRoot, exe);
            if (!existsSync(fake)) {
              mkdirSync(dirname(fake), { recursive: true });
              writeFileSync(fake, "#!/bin/sh\n");
              chmodSync(fake, 0o755);
            }
          }
        }
        for (const u of units) {
          const r = run("systemd-analyze", ["verify", "--man=no", `--root=${sdRoot}`, u.path]);
          assert.equal(r.code, 0, `${u.path}:\n${r.out}`);
          assert.equal(r.out, "", `${u.path} made systemd-analyze print:\n${r.out}`);
        }
      });

      if (v.spec.postgres) {
        it("the HAProxy config passes haproxy -c with no warning", () => {
          const cfg = renderFiles(v.spec).find((f) => f.path.endsWith("haproxy.cfg"));
          assert.ok(cfg);
          const f = join(dir, `${v.id}-haproxy.cfg`);
          // haproxy -c loads the CA file the checks verify with: a real one here, at a path of the test's.
          const ca = testCa(dir);
          writeFileSync(f, cfg.content.split(`${NODE_PATHS.postgresTlsDir}/ca.crt`).join(ca));
          const r = run("haproxy", ["-c", "-f", f]);
          assert.equal(r.code, 0, r.out);
          assert.doesNotMatch(r.out, /WARNING|ALERT/, r.out);
          for (const m of v.spec.postgres!.members)
            assert.match(
              cfg.content,
              new RegExp(
                `server ${m.name} ${m.privateIp.replace(/\./g, "\\.")}:5432 check port 8008 check-ssl verify required .* verifyhost ${m.name}$`,
                "m",
              ),
            );
        });

        it("the operator CLI's config (cli.json) passes the CLI's own parser: this node's and the seed members' https APIs, the CA, no secret", () => {
          const file = renderFiles(v.spec).find((f) => f.path === NODE_PATHS.cliConfig);
          assert.ok(file);
          assert.equal(file.permissions, "0644");
          const c = parseCliConfig(file.path, JSON.parse(file.content));
          const expected = new Set([v.spec.privateIp, ...v.spec.postgres!.members.map((m) => m.privateIp)]);
          assert.deepEqual([...c.api.urls].sort(), [...expected].map((ip) => `https://${ip}:8008`).sort());
          assert.equal(c.api.urls[0], `https://${v.spec.privateIp}:8008`, "this node's API first");
          assert.equal(c.api.caFile, `${NODE_PATHS.postgresTlsDir}/ca.crt`);
          assert.equal(c.api.passwordFile, NODE_PATHS.apiPasswordFile, "the password's file (root only), not the password");
          const wrapper = renderFiles(v.spec).find((f) => f.path === NODE_PATHS.cliWrapper);
          assert.ok(wrapper);
          assert.equal(wrapper.permissions, "0755");
          assert.match(wrapper.content, new RegExp(`exec ${NODE_PATHS.node} ${NODE_PATHS.cli} "\\$@"`));
        });

        it("the agent config passes the agent's validateAgentConfig", () => {
          const plan = renderFiles(v.spec).find((f) => f.path === "/etc/hapg/node-init.json");
          assert.ok(plan);
          const config = validateAgentConfig(JSON.parse(plan.content).agentConfig.config);
          assert.equal(config.name, v.spec.hostName);
        });
      }

      if (v.spec.etcd) {
        it("every ETCD_* variable is a flag that this etcd knows", () => {
          const help = run("etcd", ["--help"]).out;
          const env = renderFiles(v.spec).find((f) => f.path.endsWith("etcd.env"));
          assert.ok(env);
          const keys = [...env.content.matchAll(/^ETCD_([A-Z_]+)=/gm)].map((m) => m[1]);
          assert.ok(keys.length > 10);
          for (const k of keys) {
            const flag = `--${k.toLowerCase().replace(/_/g, "-")}`;
            assert.ok(help.includes(flag), `etcd --help has no ${flag}`);
          }
        });
      }
    });
  }

  it("a broken unit or script is caught (the checks can fail)", () => {
    const bad = join(sdRoot, "etc/systemd/system/hapg-broken.service");
    writeFileSync(bad, "[Service]\nExecStart=/usr/bin/no-such-program\nTypo=1\n");
    const r = run("systemd-analyze", ["verify", "--man=no", `--root=${sdRoot}`, "/etc/systemd/system/hapg-broken.service"]);
    assert.ok(r.code !== 0 || r.out !== "", "systemd-analyze reports the broken unit");
    const sh = join(dir, "bad.sh");
    writeFileSync(sh, "#!/bin/bash\nrm -rf $DIR/*\n");
    assert.notEqual(run("shellcheck", [sh]).code, 0);
    const yml = join(dir, "bad.yaml");
    writeFileSync(yml, "#cloud-config\npackages: 5\n");
    assert.notEqual(run("cloud-init", ["schema", "--config-file", yml]).code, 0);
  });
});
