/**
 * What the day-2 part reads from the cluster as an operator would: etcd's keys (host reports, the roll
 * key) with etcdctl over mutual TLS, and the certificate a service presents (openssl s_client;
 * PostgreSQL's after its SSLRequest: `-starttls postgres`).
 */
import { NODE_PORTS } from "../../lib/args/types";
import { clientTls } from "./checks";
import { BootHost, Deployment } from "./deployment";
import { run } from "./rootfs";

/** Every key under a prefix → its value (text). */
export async function etcdKeys(d: Deployment, prefix: string): Promise<Map<string, string>> {
  const client = d.hosts.find((h) => h.runsPostgres)!.name;
  const endpoints = d.hosts.filter((h) => !h.runsPostgres).map((h) => `https://${h.address}:${NODE_PORTS.etcdClient}`);
  const tls = clientTls(d, client);
  try {
    const out = await run(
      "etcdctl",
      [
        "--endpoints",
        endpoints.join(","),
        "--cacert",
        tls.ca,
        "--cert",
        tls.cert,
        "--key",
        tls.key,
        "--dial-timeout",
        "3s",
        "--command-timeout",
        "10s",
        "get",
        "--prefix",
        prefix,
        "-w",
        "json",
      ],
      { timeoutMs: 30_000 },
    );
    const doc = JSON.parse(out) as { kvs?: Array<{ key: string; value: string }> };
    const b64 = (s: string) => Buffer.from(s, "base64").toString("utf8");
    return new Map((doc.kvs ?? []).map((kv) => [b64(kv.key), b64(kv.value)]));
  } finally {
    const { rmSync } = await import("node:fs");
    rmSync(tls.dir, { recursive: true, force: true });
  }
}

/** The PEM (without whitespace) of the certificate a host's service presents on a port (PostgreSQL: after its SSLRequest). */
export async function servedCertificate(d: Deployment, h: BootHost, port: number): Promise<string> {
  const tls = clientTls(d, d.hosts.find((x) => x.runsPostgres)!.name);
  try {
    const starttls = port === NODE_PORTS.postgres ? ["-starttls", "postgres"] : [];
    const out = await run(
      "sh",
      [
        "-c",
        'a=$1 c=$2 k=$3 ca=$4; shift 4; openssl s_client -connect "$a" -cert "$c" -key "$k" -CAfile "$ca" "$@" </dev/null 2>/dev/null | openssl x509',
        "sh",
        `${h.address}:${port}`,
        tls.cert,
        tls.key,
        tls.ca,
        ...starttls,
      ],
      { timeoutMs: 30_000 },
    ).catch(() => "");
    return out.replace(/\s+/g, "");
  } finally {
    const { rmSync } = await import("node:fs");
    rmSync(tls.dir, { recursive: true, force: true });
  }
}
