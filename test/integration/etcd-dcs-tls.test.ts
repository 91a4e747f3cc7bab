/**
 * The agent's etcd client over mutual TLS, against a real etcd started with client-certificate
 * authentication (as the component deploys it): certificates made here with openssl.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { EtcdDcs } from "../../sidecar/dcs/etcd";
import { DcsUnavailableError } from "../../sidecar/dcs/types";
import { findEtcdBinary, stopProcess } from "../../local/etcd";
import { eventually } from "../helpers/pg-client";
import { sampleMemberData } from "../helpers/member-fixture";
import { hapg } from "./ops-cli";
import { makeCa, signedCert } from "../helpers/test-ca";

const CLIENT_PORT = 23900;
const PEER_PORT = 23901;
const PREFIX = "/service/tls/";

/** A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA. */
function makeCertificates(dir: string): void {
  makeCa(dir, "test-ca");
  signedCert(dir, "server", "server", ["subjectAltName=IP:127.0.0.1", "extendedKeyUsage=serverAuth,clientAuth"]);
  signedCert(dir, "client", "client", ["extendedKeyUsage=clientAuth"]);
}

describe("etcd client over mutual TLS (real etcd)", function () {
  this.timeout(60_000);
  let dir: string;
  let pid: number | undefined;
  const url = `https://127.0.0.1:${CLIENT_PORT}`;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "hapg-etcd-tls-"));
    makeCertificates(dir);
    const f = (n: string) => path.join(dir, n);
    const child = spawn(
      findEtcdBinary(),
      [
        "--name=tls-1",
        `--data-dir=${f("data")}`,
        `--listen-client-urls=${url}`,
        `--advertise-client-urls=${url}`,
        `--listen-peer-urls=http://127.0.0.1:${PEER_PORT}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${PEER_PORT}`,
        `--initial-cluster=tls-1=http://127.0.0.1:${PEER_PORT}`,
        "--client-cert-auth",
        `--trusted-ca-file=${f("ca.crt")}`,
        `--cert-file=${f("server.crt")}`,
        `--key-file=${f("server.key")}`,
      ],
      { stdio: ["ignore", fs.openSync(f("etcd.log"), "a"), fs.openSync(f("etcd.log"), "a")], detached: true },
    );
    child.unref();
    pid = child.pid;
    const dcs = client();
    try {
      await eventually("etcd answers over TLS", 20_000, async () => ((await dcs.load()) ? true : undefined));
    } finally {
      await dcs.close();
    }
  });

  after(async () => {
    if (pid !== undefined) await stopProcess(pid, 5000);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const client = (withCert = true) =>
    new EtcdDcs({
      endpoints: [url],
      prefix: PREFIX,
      timeoutMs: 1500,
      caFile: path.join(dir, "ca.crt"),
      ...(withCert ? { certFile: path.join(dir, "client.crt"), keyFile: path.join(dir, "client.key") } : {}),
    });

  it("leases, the leader race and the snapshot work with the CA and a client certificate", async () => {
    const dcs = client();
    try {
      const lease = await dcs.grantLease(4);
      assert.equal(await dcs.attemptAcquireLeader("node1", lease), true);
      assert.equal(await dcs.attemptAcquireLeader("node2", lease), false);
      assert.ok((await dcs.keepAlive(lease)) > 0);
      assert.equal((await dcs.load()).leader?.name, "node1");
      await dcs.revokeLease(lease);
      assert.equal((await dcs.load()).leader, undefined);
    } finally {
      await dcs.close();
    }
  });

  it("hapg list --etcd reads the cluster with the CA and a client certificate, and says what to check without them", async () => {
    const dcs = client();
    const lease = await dcs.grantLease(10);
    try {
      await dcs.putMember(
        "node1",
        sampleMemberData({ role: "primary", timeline: 2, conn_url: "postgres://10.0.0.1:5432/postgres" }),
        lease,
      );
      assert.equal(await dcs.attemptAcquireLeader("node1", lease), true);
      const f = (n: string) => path.join(dir, n);
      const tls = ["--cacert", f("ca.crt"), "--cert", f("client.crt"), "--key", f("client.key")];
      const r = await hapg("list", "--etcd", url, "--cluster", "tls", ...tls, "--json");
      assert.equal(r.code, 0, r.stderr);
      const j = JSON.parse(r.stdout) as { cluster: string; leader: string; members: { member: string; role: string; timeline: number }[] };
      assert.equal(j.cluster, "tls");
      assert.equal(j.leader, "node1");
      assert.deepEqual(
        j.members.map((m) => [m.member, m.role, m.timeline]),
        [["node1", "Leader", 2]],
      );
      const noCert = await hapg("list", "--etcd", url, "--cluster", "tls", "--cacert", f("ca.crt"), "--timeout", "2");
      assert.equal(noCert.code, 1);
      assert.match(
        noCert.stderr,
        /--etcd https:\/\/127\.0\.0\.1:\d+ --cluster tls: cannot read etcd .*check the endpoints and the TLS files/,
      );
      const otherCluster = await hapg("list", "--etcd", url, "--cluster", "nope", ...tls);
      assert.equal(otherCluster.code, 1);
      assert.match(otherCluster.stderr, /no cluster "nope" under \/service\/ in etcd: check --cluster/);
    } finally {
      await dcs.revokeLease(lease).catch(() => undefined);
      await dcs.close();
    }
  });

  it("a client without a certificate is refused", async () => {
    const dcs = client(false);
    try {
      await assert.rejects(dcs.load(), DcsUnavailableError);
    } finally {
      await dcs.close();
    }
  });
});
