/**
 * The backup repository's side of the rehearsal: a CA and a server certificate for the S3 endpoint
 * the nodes' agent config names (and the bucket's virtual host), the S3 stand-in serving it on the
 * bridge, and what each container needs to reach it as a node reaches S3 on AWS: the names in
 * /etc/hosts, the CA in its trust store, and port 443 of the bridge address sent to the stand-in's
 * port (a DNAT rule in the host's own namespace).
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Credentials } from "./aws-standins";
import { Cleanup } from "./cleanup";
import { Deployment } from "./deployment";
import { GATEWAY, hostNames, S3_REPO_PORT } from "./plan";
import { run } from "./rootfs";
import { S3RepoStandin } from "./s3-repo-standin";

export interface BackupRepoSeed {
  /** Lines for the containers' /etc/hosts. */
  hosts: string;
  /** The rehearsal CA (PEM) the containers trust, as they trust AWS's. */
  caPem: string;
}

export interface BackupRepo {
  standin: S3RepoStandin;
  seed: BackupRepoSeed;
}

function openssl(args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile("openssl", args, { cwd, encoding: "utf8" }, (err, out, errOut) =>
      err ? reject(new Error(`openssl ${args[0]}: ${errOut || err.message}`)) : resolve(out),
    ),
  );
}

/** A CA and a certificate for `names` signed by it (EC P-256, one day). */
async function serverCertificate(names: string[]): Promise<{ caPem: string; cert: string; key: string }> {
  const dir = mkdtempSync(join(tmpdir(), "hapg-boot-s3-"));
  try {
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    await openssl(["req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=hapg rehearsal S3 CA"], dir);
    await openssl(["req", ...ec, "-keyout", "s3.key", "-out", "s3.csr", "-subj", `/CN=${names[0]}`], dir);
    writeFileSync(
      join(dir, "ext.cnf"),
      `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=${names.map((n) => `DNS:${n}`).join(",")}\n`,
    );
    await openssl(
      [
        "x509",
        "-req",
        "-in",
        "s3.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "s3.crt",
        "-days",
        "1",
        "-extfile",
        "ext.cnf",
      ],
      dir,
    );
    const read = (f: string) => readFileSync(join(dir, f), "utf8");
    return { caPem: read("ca.crt"), cert: read("s3.crt"), key: read("s3.key") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Starts the repository's S3 stand-in for a deployment with backups (undefined without). */
export async function startBackupRepo(d: Deployment, credentials: Credentials, cleanup: Cleanup): Promise<BackupRepo | undefined> {
  if (!d.backup) return undefined;
  const { bucket, endpoint } = d.backup;
  const virtualHost = `${bucket}.${endpoint}`;
  const tls = await serverCertificate([endpoint, virtualHost]);
  const standin = new S3RepoStandin({ bucket, endpoint, policies: d.rolePolicies, credentials });
  await standin.start(GATEWAY, S3_REPO_PORT, tls);
  cleanup.add("backup repository S3 stand-in", () => standin.stop());
  return { standin, seed: { hosts: `${GATEWAY} ${endpoint} ${virtualHost}\n`, caPem: tls.caPem } };
}

/** In a host's namespace: HTTPS to the bridge address goes to the stand-in's port (its netns goes with the rule). */
export async function redirectHttps(host: string): Promise<void> {
  await run("ip", [
    "netns",
    "exec",
    hostNames(host).netns,
    "iptables",
    "-t",
    "nat",
    "-A",
    "OUTPUT",
    "-d",
    GATEWAY,
    "-p",
    "tcp",
    "--dport",
    "443",
    "-j",
    "DNAT",
    "--to-destination",
    `${GATEWAY}:${S3_REPO_PORT}`,
  ]);
}
