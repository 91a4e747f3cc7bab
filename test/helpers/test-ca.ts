/**
 * Certificates for TLS tests, made with the real openssl in a test's own directory: a CA, and host
 * or client certificates it signs (EC P-256, valid one day), as lib/secrets/tls.ts makes them.
 */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

function openssl(dir: string, args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
}

/** A self-signed CA into `files.cert` / `files.key` (default `ca.crt` / `ca.key`). */
export function makeCa(dir: string, subject: string, files = { cert: "ca.crt", key: "ca.key" }): void {
  openssl(dir, ["req", "-x509", ...EC, "-keyout", files.key, "-out", files.cert, "-subj", `/CN=${subject}`, "-days", "1"]);
}

/**
 * A certificate signed by `ca.crt`, into `<name>.crt` / `<name>.key`. `extensions` are openssl's
 * x509 extension lines, e.g. "subjectAltName=IP:127.0.0.1" and "extendedKeyUsage=serverAuth".
 */
export function signedCert(dir: string, name: string, subject: string, extensions: string[]): void {
  openssl(dir, ["req", ...EC, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${subject}`]);
  writeFileSync(join(dir, `${name}.ext`), `${extensions.join("\n")}\n`);
  openssl(
    dir,
    ["x509", "-req", "-in", `${name}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial"].concat([
      "-out",
      `${name}.crt`,
      "-days",
      "1",
      "-extfile",
      `${name}.ext`,
    ]),
  );
}
