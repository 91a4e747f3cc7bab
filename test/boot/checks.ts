/**
 * What the rehearsal checks on the booted cluster, as a user would: cloud-init's verdict on every
 * node, etcd's health over mutual TLS, the replication topology, writes through the NLB stand-in
 * with sslmode=verify-full against the CA the component output, and no secret in user-data, in
 * cloud-init's logs or in any world-readable file.
 */
import { lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client, ClientConfig } from "pg";
import { NODE_PORTS } from "../../lib/args/types";
import { NODE_PATHS } from "../../lib/userdata/paths";
import { Deployment } from "./deployment";
import { Container, containerPath, inContainer } from "./hosts";
import { run } from "./rootfs";

export interface CloudInitVerdict {
  status: string;
  errors: string[];
  recoverable: Record<string, unknown>;
}

/** cloud-init's status inside a container, or undefined while it still runs. */
export async function cloudInitDone(c: Container): Promise<CloudInitVerdict | undefined> {
  const out = await inContainer(c, ["sh", "-c", "cloud-init status --format json || true"], { timeoutMs: 30_000 });
  const s = JSON.parse(out) as {
    status?: string;
    extended_status?: string;
    errors?: string[];
    recoverable_errors?: Record<string, unknown>;
  };
  if (!s.status || s.status === "running" || s.status === "not started" || s.status === "not run") return undefined;
  return { status: s.extended_status ?? s.status, errors: s.errors ?? [], recoverable: s.recoverable_errors ?? {} };
}

/** The value of a parameter the component declared. */
export function parameter(d: Deployment, suffix: string): string {
  const p = d.parameters.find((x) => x.name.endsWith(suffix));
  if (!p) throw new Error(`no parameter ending in ${suffix} was declared`);
  return p.value;
}

/** A client identity (key, certificate, CA) of one host, in a temporary directory the caller removes. */
export function clientTls(d: Deployment, host: string): { dir: string; ca: string; cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), "hapg-boot-client-"));
  const files = { ca: join(dir, "ca.crt"), cert: join(dir, "client.crt"), key: join(dir, "client.key") };
  writeFileSync(files.ca, d.caCertificatePem);
  writeFileSync(files.cert, parameter(d, `/tls/${host}.crt`));
  writeFileSync(files.key, parameter(d, `/tls/${host}.key`), { mode: 0o600 });
  return { dir, ...files };
}

/** `etcdctl endpoint health` over mutual TLS; and proof that a client without a certificate is refused. */
export async function etcdHealth(
  d: Deployment,
  endpoints: string[],
  clientHost: string,
): Promise<{ healthy: string; refusedWithoutCert: boolean }> {
  const tls = clientTls(d, clientHost);
  try {
    const base = ["--endpoints", endpoints.join(","), "--cacert", tls.ca, "--dial-timeout", "3s", "--command-timeout", "5s"];
    const healthy = await run("etcdctl", [...base, "--cert", tls.cert, "--key", tls.key, "endpoint", "health"], { timeoutMs: 30_000 });
    const refused = await run("etcdctl", [...base, "endpoint", "health"], { timeoutMs: 30_000 }).then(
      () => false,
      () => true,
    );
    return { healthy: healthy.trim(), refusedWithoutCert: refused };
  } finally {
    rmSync(tls.dir, { recursive: true, force: true });
  }
}

/** Connection settings for sslmode=verify-full: the certificate must chain to the CA and name `servername`. */
export function verifyFull(d: Deployment, host: string, port: number, servername: string): ClientConfig {
  return {
    host,
    port,
    user: "postgres",
    database: "postgres",
    password: parameter(d, "/postgres/superuser-password"),
    // For an address, Node checks the certificate's IP entries against `host` itself.
    ssl: { ca: d.caCertificatePem, ...(isIP(servername) ? {} : { servername }), rejectUnauthorized: true },
    // Generous: two cores are shared by six containers (and other tests).
    connectionTimeoutMillis: 10_000,
    query_timeout: 10_000,
  };
}

export async function query<T extends Record<string, unknown>>(config: ClientConfig, sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new Client(config);
  c.on("error", () => undefined);
  await c.connect();
  try {
    return (await c.query<T>(sql, params)).rows;
  } finally {
    await c.end().catch(() => undefined);
  }
}

export interface NodeRole {
  name: string;
  inRecovery: boolean;
  streamingReplicas: number;
  timeline: number;
}

/** Each PostgreSQL node asked directly (verify-full against its own address). */
export async function nodeRoles(d: Deployment, names: string[]): Promise<NodeRole[]> {
  return Promise.all(
    d.hosts
      .filter((h) => names.includes(h.name))
      .map(async (h) => {
        const [r] = await query<{ rec: boolean; n: string; tl: string }>(
          verifyFull(d, h.address, NODE_PORTS.postgres, h.address),
          `SELECT pg_is_in_recovery() AS rec,
                  (SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming') AS n,
                  (SELECT timeline_id FROM pg_control_checkpoint()) AS tl`,
        );
        return { name: h.name, inRecovery: r.rec, streamingReplicas: Number(r.n), timeline: Number(r.tl) };
      }),
  );
}

/** Where a secret value shows up: the user-data, cloud-init's logs, world-readable files on a node. */
export function secretNeedles(values: string[]): string[] {
  // PEM keys: their base64 body lines (the armour lines are not secret).
  return values.flatMap((v) => (v.includes("-----BEGIN") ? v.split("\n").filter((l) => l.length >= 40 && !l.startsWith("-----")) : [v]));
}

export function findSecrets(text: string, needles: string[]): boolean {
  return needles.some((n) => text.includes(n));
}

/** World-readable (or, for the scan's self-check, any) regular files under `dirs` of a container holding a secret (paths inside). */
export function worldReadableSecrets(c: Container, dirs: string[], needles: string[], worldReadableOnly = true): string[] {
  const found: string[] = [];
  const walk = (inside: string) => {
    const p = containerPath(c, inside);
    let st;
    try {
      st = lstatSync(p);
    } catch {
      return;
    }
    if (st.isDirectory()) {
      for (const e of readdirSync(p)) walk(join(inside, e));
    } else if (st.isFile() && (!worldReadableOnly || st.mode & 0o004) && st.size < 8 << 20) {
      if (findSecrets(readFileSync(p, "latin1"), needles)) found.push(inside);
    }
  };
  for (const d of dirs) walk(d);
  return found;
}

/** Directories a node's secrets could leak into. */
export const SCANNED_DIRS = ["/etc", "/var/log", "/var/lib/cloud", "/opt/hapg", NODE_PATHS.dataMount, "/tmp", "/root", "/home", "/run"];

/** cloud-init's logs from a container (as the host reads them). */
export function cloudInitLogs(c: Container): string {
  return ["/var/log/cloud-init.log", "/var/log/cloud-init-output.log"]
    .map((f) => {
      try {
        return readFileSync(containerPath(c, f), "utf8");
      } catch {
        return "";
      }
    })
    .join("\n");
}
