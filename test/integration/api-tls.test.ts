/**
 * The agent's API over HTTPS (`api.tls`, what every AWS node runs): real certificates made with
 * openssl, the real server on 127.0.0.1, and every client the project has — the peer views of the
 * election, the calls that change something, the operator CLI (with --cacert, and with no flag at all
 * through a CLI config as on a node). A client without the cluster CA, or with another CA, is refused.
 */
import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import pino from "pino";
import { callApi } from "../../sidecar/api/client";
import { ApiServer } from "../../sidecar/api/server";
import { apiRequest, loadApiTls } from "../../sidecar/http/transport";
import { ConfigError, validateAgentConfig } from "../../sidecar/contract/agent-config";
import { fetchPeerViews } from "../../sidecar/ha/peers";
import { member, threeMembers } from "../helpers/ha-fixtures";
import { makeCa, signedCert } from "../helpers/test-ca";

const CLI = resolve(__dirname, "../../sidecar/cli/main.js");

/** A CA and a host certificate for pg-0 (127.0.0.1), as lib/secrets/tls.ts makes them; and a second, unrelated CA. */
function makeCertificates(dir: string): void {
  makeCa(dir, "test cluster CA");
  makeCa(dir, "another CA", { cert: "other-ca.crt", key: "other.key" });
  signedCert(dir, "host", "pg-0", ["subjectAltName=DNS:pg-0,DNS:localhost,IP:127.0.0.1", "extendedKeyUsage=serverAuth,clientAuth"]);
}

function hapg(env: NodeJS.ProcessEnv, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) =>
    execFile(process.execPath, [CLI, ...args], { timeout: 10_000, env: { ...process.env, ...env } }, (err, stdout, stderr) =>
      done({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, stdout, stderr }),
    ),
  );
}

describe("agent API over HTTPS (api.tls)", function () {
  this.timeout(30_000);
  let dir: string;
  let api: ApiServer;
  let base: string;
  const files = () => ({ certFile: join(dir, "host.crt"), keyFile: join(dir, "host.key"), caFile: join(dir, "ca.crt") });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "hapg-api-tls-"));
    makeCertificates(dir);
    const cluster = threeMembers();
    api = new ApiServer({
      scope: "tls",
      name: "a",
      ttlMs: 4000,
      noloadbalance: false,
      driver: { view: () => ({ holdsLeader: true, leaseValid: true, cluster }) as never },
      pg: { status: async () => ({ running: true, inRecovery: false, lsn: 5000, timeline: 1 }) },
      now: () => Date.now(),
      log: pino({ level: "silent" }),
    });
    const addr = await api.listen("127.0.0.1", 0, loadApiTls(files()));
    base = `https://127.0.0.1:${addr.port}`;
    // The commands that call a member find it by its member key's api_url.
    for (const m of cluster.members) m.data.api_url = `${base}/patroni`;
  });
  after(async () => {
    await api?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("answers a client that trusts the cluster CA; refuses one without it or with another CA", async () => {
    const ca = loadApiTls(files()).ca;
    const ok = await apiRequest(`${base}/primary`, { ca, timeoutMs: 3000 });
    assert.equal(ok.status, 200);
    assert.equal(JSON.parse(ok.text).role, "primary");
    await assert.rejects(apiRequest(`${base}/primary`, { timeoutMs: 3000 }), /self[- ]signed|unable to verify|issuer/i);
    const other = loadApiTls({ ...files(), caFile: join(dir, "other-ca.crt") }).ca;
    await assert.rejects(apiRequest(`${base}/primary`, { ca: other, timeoutMs: 3000 }), /self[- ]signed|unable to verify|issuer/i);
    // Plain HTTP to the HTTPS port gets nothing useful.
    await assert.rejects(apiRequest(`${base.replace("https", "http")}/primary`, { timeoutMs: 3000 }));
  });

  it("the election's peer views and the calls that change something go over HTTPS with the CA", async () => {
    const ca = loadApiTls(files()).ca;
    const peer = member("a", "primary", 1, { api_url: `${base}/patroni` });
    const [seen] = await fetchPeerViews([peer], 3000, ca);
    assert.deepEqual([seen.reachable, seen.isPrimary, seen.lsn], [true, true, 5000]);
    const [unverified] = await fetchPeerViews([peer], 3000);
    assert.equal(unverified.reachable, false, "a peer whose certificate does not chain to a CA we were given is not trusted");
    // This server is read-only (no mutations wired): the answer proves the TLS exchange, not a switchover.
    const r = await callApi(base, "POST", "/switchover", { leader: "a" }, undefined, 3000, ca);
    assert.equal(r.status, 405);
  });

  it("hapg list reads it with --cacert, and with no flag at all through a CLI config (as on a node)", async () => {
    const viaFlag = await hapg({}, "list", "--api", base, "--cacert", join(dir, "ca.crt"), "--json");
    assert.equal(viaFlag.code, 0, viaFlag.stderr);
    assert.deepEqual(
      (JSON.parse(viaFlag.stdout) as { members: { member: string }[] }).members.map((m) => m.member),
      ["a", "b", "c"],
    );
    const cliJson = join(dir, "cli.json");
    writeFileSync(cliJson, JSON.stringify({ cluster: "tls", api: { urls: [base], caFile: join(dir, "ca.crt") } }));
    const noFlag = await hapg({ HAPG_CLI_CONFIG: cliJson }, "list");
    assert.equal(noFlag.code, 0, noFlag.stderr);
    assert.match(noFlag.stdout, /Leader/);
    const withoutCa = await hapg({}, "list", "--api", base);
    assert.notEqual(withoutCa.code, 0);
    assert.match(withoutCa.stderr, /self[- ]signed|unable to verify|issuer/i, withoutCa.stderr);
    writeFileSync(cliJson, JSON.stringify({ cluster: "tls", api: { urls: ["ftp://x"] } }));
    const bad = await hapg({ HAPG_CLI_CONFIG: cliJson }, "list");
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /cli\.json: invalid CLI config: api\.urls\.0: must be an http:\/\/ or https:\/\/ URL/);
  });

  it("hapg reload and hapg backup call members over HTTPS with the CA (--cacert, or the CLI config as on a node)", async () => {
    const cliJson = join(dir, "cli-calls.json");
    writeFileSync(cliJson, JSON.stringify({ cluster: "tls", api: { urls: [base], caFile: join(dir, "ca.crt") } }));
    const runs = [
      await hapg({}, "reload", "a", "--api", base, "--cacert", join(dir, "ca.crt"), "--force"),
      await hapg({ HAPG_CLI_CONFIG: cliJson }, "reload", "a", "--force"),
      await hapg({}, "backup", "list", "--api", base, "--cacert", join(dir, "ca.crt")),
      await hapg({ HAPG_CLI_CONFIG: cliJson }, "backup", "list"),
    ];
    // This server is read-only: an HTTP refusal proves the TLS exchange with the member succeeded.
    for (const r of runs) {
      assert.notEqual(r.code, 0);
      assert.doesNotMatch(r.stderr, /self[- ]signed|unable to verify|issuer/i, r.stderr);
      assert.match(r.stderr, /HTTP (404|405)/, r.stderr);
    }
  });

  it("api.tls: all three files, absolute paths; unreadable, non-PEM or mismatched files are refused naming the field", async () => {
    const config = (tls: unknown) => ({
      cluster: "c",
      name: "n",
      etcd: { endpoints: ["http://127.0.0.1:2379"] },
      postgres: {
        dataDir: "/tmp/d",
        listen: { host: "127.0.0.1" },
        superuser: { passwordFile: "/x" },
        replication: { passwordFile: "/y" },
      },
      api: { listen: { host: "127.0.0.1" }, tls },
    });
    assert.equal(validateAgentConfig(config(files())).api.tls?.caFile, files().caFile);
    const problems = (tls: unknown) => {
      try {
        validateAgentConfig(config(tls));
      } catch (e) {
        return (e as ConfigError).problems;
      }
      return [];
    };
    assert.deepEqual(problems({ certFile: "/c", keyFile: "/k" }), ["api.tls.caFile: is required"]);
    assert.match(
      problems({ ...files(), keyFile: "host.key" })[0],
      /^api\.tls\.keyFile: must be the absolute path of this node's private key/,
    );
    assert.match(problems({ ...files(), pem: "/x" })[0], /^api\.tls: unknown field\(s\) "pem"/);

    assert.throws(() => loadApiTls({ ...files(), certFile: join(dir, "missing.crt") }), /api\.tls\.certFile: cannot read .*missing\.crt/);
    assert.throws(() => loadApiTls({ ...files(), keyFile: join(dir, "host.crt") }), /api\.tls\.keyFile: .* is not a PEM private key/);
    const mismatched = new ApiServer({} as never);
    await assert.rejects(
      mismatched.listen("127.0.0.1", 0, loadApiTls({ ...files(), keyFile: join(dir, "other.key") })),
      /api\.tls: cannot serve HTTPS with api\.tls\.certFile and api\.tls\.keyFile/,
    );
  });
});
