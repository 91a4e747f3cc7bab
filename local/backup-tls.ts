/**
 * The certificates of a local cluster's pgBackRest TLS servers (`--backup`): a CA made for this
 * cluster and one certificate per node, its common name the node's name (the servers admit clients
 * by it) and its address as a DNS name too: pgBackRest 2.45 checks a server's host against DNS
 * names only, and the nodes are reached by address. Made by openssl at `hapg local up`.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

export interface MemberTlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
}

/** Where the files of `node` are under dir. Pure (the agent config names them before they exist). */
export function memberTlsFiles(dir: string, node: string): MemberTlsFiles {
  return { caFile: path.join(dir, "ca.pem"), certFile: path.join(dir, `${node}.pem`), keyFile: path.join(dir, `${node}.key`) };
}

/** The extension section of a node's certificate. Pure. */
export function memberCertExtensions(host: string): string {
  return [
    `subjectAltName=DNS:localhost,DNS:${host},IP:${host}`,
    "basicConstraints=critical,CA:FALSE",
    "keyUsage=critical,digitalSignature,keyEncipherment",
    // The same certificate serves the node's server and its calls to the other nodes' servers.
    "extendedKeyUsage=serverAuth,clientAuth",
    "",
  ].join("\n");
}

/** Makes the CA and every node's key and certificate in dir (0700; keys 0600), owned by `owner` when given. */
export function makeMemberCerts(dir: string, nodes: { name: string; host: string }[], owner?: { uid: number; gid: number }): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const f = (n: string) => path.join(dir, n);
  const run = (args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  const key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  run(["req", "-x509", ...key, "-keyout", f("ca.key"), "-out", f("ca.pem"), "-days", "365", "-subj", "/CN=hapg local pgBackRest CA"]);
  for (const n of nodes) {
    const files = memberTlsFiles(dir, n.name);
    run(["req", ...key, "-keyout", files.keyFile, "-out", f(`${n.name}.csr`), "-subj", `/CN=${n.name}`]);
    fs.writeFileSync(f(`${n.name}.ext`), memberCertExtensions(n.host));
    run([
      "x509", "-req", "-in", f(`${n.name}.csr`), "-CA", f("ca.pem"), "-CAkey", f("ca.key"), "-CAcreateserial",
      "-out", files.certFile, "-days", "365", "-extfile", f(`${n.name}.ext`),
    ]); // prettier-ignore
    fs.rmSync(f(`${n.name}.csr`));
    fs.rmSync(f(`${n.name}.ext`));
    fs.chmodSync(files.keyFile, 0o600);
  }
  fs.rmSync(f("ca.key")); // nothing is signed after this
  if (owner) for (const e of ["", ...fs.readdirSync(dir)]) fs.chownSync(path.join(dir, e), owner.uid, owner.gid);
}
