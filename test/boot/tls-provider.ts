/**
 * A stand-in for the @pulumi/tls provider under mocks: real keys and X.509 certificates made with
 * the openssl CLI from the inputs the component declared (algorithm, subject, SANs, allowed uses,
 * CA flag, validity). The boot rehearsal needs real ones: etcd's mutual TLS and PostgreSQL's
 * sslmode=verify-full check them, so a missing SAN or usage in the component fails the rehearsal.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

type Inputs = Record<string, any>;

function openssl(args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile("openssl", args, { cwd, encoding: "utf8" }, (err, out, errOut) =>
      err ? reject(new Error(`openssl ${args[0]}: ${errOut || err.message}`)) : resolve(out),
    ),
  );
}

async function inTemp<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "hapg-boot-tls-"));
  try {
    return await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** X.509 v3 key usages and extended key usages for the provider's `allowedUses` names. */
const KEY_USAGE: Record<string, string> = {
  digital_signature: "digitalSignature",
  key_encipherment: "keyEncipherment",
  cert_signing: "keyCertSign",
  crl_signing: "cRLSign",
  content_commitment: "nonRepudiation",
  data_encipherment: "dataEncipherment",
  key_agreement: "keyAgreement",
};
const EXT_KEY_USAGE: Record<string, string> = { server_auth: "serverAuth", client_auth: "clientAuth", code_signing: "codeSigning" };

/** The openssl extension section for a certificate. Pure. */
export function extensionSection(inputs: Inputs, sans: string[]): string {
  const uses: string[] = inputs.allowedUses ?? [];
  const unknown = uses.filter((u) => !KEY_USAGE[u] && !EXT_KEY_USAGE[u]);
  if (unknown.length) throw new Error(`tls stand-in: allowedUses ${unknown.join(", ")} not supported`);
  const ku = uses.filter((u) => KEY_USAGE[u]).map((u) => KEY_USAGE[u]);
  const eku = uses.filter((u) => EXT_KEY_USAGE[u]).map((u) => EXT_KEY_USAGE[u]);
  return [
    "[ext]",
    inputs.isCaCertificate ? "basicConstraints = critical,CA:TRUE" : "basicConstraints = critical,CA:FALSE",
    ...(ku.length ? [`keyUsage = critical,${ku.join(",")}`] : []),
    ...(eku.length ? [`extendedKeyUsage = ${eku.join(",")}`] : []),
    "subjectKeyIdentifier = hash",
    ...(sans.length ? [`subjectAltName = ${sans.join(",")}`] : []),
    "",
  ].join("\n");
}

/** `/O=.../CN=...` from the provider's subject block. Pure. */
export function subjectLine(subject: Inputs | undefined): string {
  const s = subject ?? {};
  const parts: Array<[string, string | undefined]> = [
    ["C", s.country],
    ["O", s.organization],
    ["OU", s.organizationalUnit],
    ["CN", s.commonName],
  ];
  return (
    parts
      .filter(([, v]) => v)
      .map(([k, v]) => `/${k}=${String(v).replace(/\//g, "\\/")}`)
      .join("") || "/"
  );
}

function sansOf(inputs: Inputs): string[] {
  return [...(inputs.dnsNames ?? []).map((d: string) => `DNS:${d}`), ...(inputs.ipAddresses ?? []).map((i: string) => `IP:${i}`)];
}

async function privateKey(inputs: Inputs): Promise<Inputs> {
  return inTemp(async (dir) => {
    if (inputs.algorithm === "ECDSA") {
      const curve =
        { P224: "secp224r1", P256: "prime256v1", P384: "secp384r1", P521: "secp521r1" }[inputs.ecdsaCurve as string] ?? "prime256v1";
      // SEC1 ("EC PRIVATE KEY"), the PEM form the provider's privateKeyPem has for ECDSA.
      await openssl(["ecparam", "-name", curve, "-genkey", "-noout", "-out", "key.pem"], dir);
    } else if (inputs.algorithm === "RSA") {
      await openssl(["genrsa", "-traditional", "-out", "key.pem", String(inputs.rsaBits ?? 2048)], dir);
    } else {
      throw new Error(`tls stand-in: algorithm ${inputs.algorithm} not supported`);
    }
    const pem = readFileSync(join(dir, "key.pem"), "utf8");
    const publicKeyPem = await openssl(["pkey", "-in", "key.pem", "-pubout"], dir);
    return { privateKeyPem: pem, publicKeyPem };
  });
}

async function certRequest(inputs: Inputs): Promise<Inputs> {
  return inTemp(async (dir) => {
    writeFileSync(join(dir, "key.pem"), inputs.privateKeyPem);
    const sans = sansOf(inputs);
    const args = [
      "req",
      "-new",
      "-key",
      "key.pem",
      "-subj",
      subjectLine(inputs.subject),
      ...(sans.length ? ["-addext", `subjectAltName=${sans.join(",")}`] : []),
    ];
    return { certRequestPem: await openssl(args, dir) };
  });
}

function days(inputs: Inputs): string {
  return String(Math.max(1, Math.floor(Number(inputs.validityPeriodHours ?? 24) / 24)));
}

async function selfSignedCert(inputs: Inputs): Promise<Inputs> {
  return inTemp(async (dir) => {
    writeFileSync(join(dir, "key.pem"), inputs.privateKeyPem);
    // req reads its extensions from -config, which also needs a (here empty) distinguished_name section.
    writeFileSync(join(dir, "ext.cnf"), `[req]\ndistinguished_name = dn\n[dn]\n${extensionSection(inputs, sansOf(inputs))}`);
    const subject = subjectLine(inputs.subject);
    const certPem = await openssl(
      ["req", "-x509", "-new", "-key", "key.pem", "-subj", subject, "-days", days(inputs), "-config", "ext.cnf", "-extensions", "ext"],
      dir,
    );
    return { certPem };
  });
}

async function locallySignedCert(inputs: Inputs): Promise<Inputs> {
  return inTemp(async (dir) => {
    writeFileSync(join(dir, "csr.pem"), inputs.certRequestPem);
    writeFileSync(join(dir, "ca.pem"), inputs.caCertPem);
    writeFileSync(join(dir, "ca-key.pem"), inputs.caPrivateKeyPem);
    // The provider copies the request's SANs into the certificate; so does this.
    const csrText = await openssl(["req", "-in", "csr.pem", "-noout", "-text"], dir);
    const sanLine = /X509v3 Subject Alternative Name:\s*\n\s*(.+)/.exec(csrText)?.[1] ?? "";
    const sans = sanLine
      .split(",")
      .map((s) => s.trim().replace(/^IP Address:/, "IP:"))
      .filter(Boolean);
    writeFileSync(join(dir, "ext.cnf"), extensionSection(inputs, sans));
    const certPem = await openssl(
      [
        "x509",
        "-req",
        "-in",
        "csr.pem",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca-key.pem",
        "-CAcreateserial",
        "-days",
        days(inputs),
        "-extfile",
        "ext.cnf",
        "-extensions",
        "ext",
      ],
      dir,
    );
    return { certPem };
  });
}

/** Outputs for a tls resource of `type`, or undefined when `type` is not the tls provider's. */
export async function tlsOutputs(type: string, inputs: Inputs): Promise<Inputs | undefined> {
  switch (type) {
    case "tls:index/privateKey:PrivateKey":
      return privateKey(inputs);
    case "tls:index/certRequest:CertRequest":
      return certRequest(inputs);
    case "tls:index/selfSignedCert:SelfSignedCert":
      return selfSignedCert(inputs);
    case "tls:index/locallySignedCert:LocallySignedCert":
      return locallySignedCert(inputs);
    default:
      return undefined;
  }
}
