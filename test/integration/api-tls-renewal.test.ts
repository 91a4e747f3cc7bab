/**
 * Defect 11: a renewed certificate reaches a running node. `hapg node-init --refresh` rewrites the
 * files whose SSM parameter changed (only those, atomically) and reloads the units the plan names;
 * the running agent's API, watching its TLS files, serves the renewed certificate to new connections
 * without a restart, and asks PostgreSQL to reload. Real certificates (openssl), the real HTTPS server.
 */
import * as assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import * as tls from "node:tls";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { ApiServer } from "../../sidecar/api/server";
import { watchApiTls } from "../../sidecar/api/tls-reload";
import { loadApiTls } from "../../sidecar/http/transport";
import { refresh } from "../../sidecar/boot/refresh";
import { parseNodeInitPlan } from "../../sidecar/boot/node-init";
import { threeMembers } from "../helpers/ha-fixtures";
import { eventually } from "../helpers/pg-client";
import { makeCa, signedCert } from "../helpers/test-ca";

/** A host certificate for 127.0.0.1 signed by ca.crt, into `<name>.crt` / `<name>.key`. */
function hostCert(dir: string, name: string): void {
  signedCert(dir, name, "pg-0", ["subjectAltName=DNS:pg-0,IP:127.0.0.1", "extendedKeyUsage=serverAuth,clientAuth"]);
}

function servedFingerprint(port: number, ca: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: "127.0.0.1", port, ca, servername: "pg-0" }, () => {
      resolve(s.getPeerCertificate().fingerprint256);
      s.end();
    });
    s.on("error", reject);
  });
}

describe("certificate renewal reaches the running agent (defect 11)", function () {
  this.timeout(60_000);
  let dir: string;
  let api: ApiServer;
  let stop: (() => void) | undefined;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "hapg-tls-renew-"));
    makeCa(dir, "test CA");
    hostCert(dir, "host");
    hostCert(dir, "renewed");
  });
  after(async () => {
    stop?.();
    await api?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("node-init --refresh rewrites only the changed files, then the API serves the new certificate without a restart", async () => {
    const files = { certFile: join(dir, "host.crt"), keyFile: join(dir, "host.key"), caFile: join(dir, "ca.crt") };
    const material = loadApiTls(files);
    api = new ApiServer({
      scope: "tls",
      name: "a",
      ttlMs: 4000,
      noloadbalance: false,
      driver: { view: () => ({ holdsLeader: true, leaseValid: true, cluster: threeMembers() }) as never },
      pg: { status: async () => ({ running: true, inRecovery: false, lsn: 5000, timeline: 1 }) },
      now: () => Date.now(),
      log: pino({ level: "silent" }),
    });
    const { port } = await api.listen("127.0.0.1", 0, material);
    let pgReloads = 0;
    stop = watchApiTls({
      files,
      current: material,
      apply: (m) => api.setTls(m),
      reloadPostgres: async () => pgReloads++,
      log: pino({ level: "silent" }),
      intervalMs: 100,
    });
    const before = await servedFingerprint(port, material.ca);

    // SSM now holds the renewed certificate and key; the CA is unchanged.
    const ssm: Record<string, string> = {
      "/c/tls/cert": readFileSync(join(dir, "renewed.crt"), "utf8"),
      "/c/tls/key": readFileSync(join(dir, "renewed.key"), "utf8"),
      "/c/tls/ca": readFileSync(join(dir, "ca.crt"), "utf8"),
    };
    const caMtime = statSync(files.caFile).mtimeMs;
    const plan = parseNodeInitPlan({
      version: 1,
      files: [
        { parameter: "/c/tls/key", path: files.keyFile, owner: "root", mode: "0600" },
        { parameter: "/c/tls/cert", path: files.certFile, owner: "root", mode: "0644" },
        { parameter: "/c/tls/ca", path: files.caFile, owner: "root", mode: "0644" },
      ],
      refresh: { reloadUnits: ["haproxy.service"] },
    });
    const reloaded: string[] = [];
    const deps = {
      readParameter: async (name: string) => ssm[name],
      lookupUser: () => undefined,
      log: () => undefined,
      reloadUnit: async (u: string) => void reloaded.push(u),
    };
    const r = await refresh(plan, deps);
    assert.deepEqual(r.changed, [files.keyFile, files.certFile], "only the renewed files are rewritten");
    assert.deepEqual(reloaded, ["haproxy.service"]);
    assert.equal(statSync(files.caFile).mtimeMs, caMtime, "the unchanged CA file is left alone");
    assert.equal(statSync(files.keyFile).mode & 0o777, 0o600);

    const after = await eventually("the renewed certificate served", 10_000, async () => {
      const f = await servedFingerprint(port, material.ca);
      return f !== before ? f : undefined;
    });
    const renewed = new (await import("node:crypto")).X509Certificate(readFileSync(join(dir, "renewed.crt"))).fingerprint256;
    assert.equal(after, renewed);
    assert.equal(pgReloads, 1, "PostgreSQL was asked to reload once");

    // A second run with nothing new changes nothing and reloads nothing.
    const again = await refresh(plan, deps);
    assert.deepEqual(again, { changed: [], reloaded: [] });
  });
});
