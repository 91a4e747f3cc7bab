/**
 * Backups taken on a replica (pgBackRest's backup-from-standby): what this member publishes about
 * its TLS server, the check that it reaches the leader's server, and the pgBackRest instance that
 * names the primary for the backup command. The replica runs `pgbackrest backup` with pg1 = itself
 * (local: the data files are read here) and pg2 = the primary through its TLS server (pgBackRest
 * starts and stops the backup there and copies the few files a standby lacks: pg_control and the
 * configuration files).
 */
import * as fs from "node:fs";
import * as tls from "node:tls";
import type { BackupServerAdvert } from "../dcs/types";
import type { BackupServerConfig } from "./config";
import type { PgInstance } from "./pgbackrest-conf";

/** What this member publishes in its member key while its server runs. Pure. */
export function serverAdvert(
  s: BackupServerConfig,
  pg: { dataDir: string; port: number; socketDir: string },
  reaches: string | undefined,
): BackupServerAdvert {
  const at = s.connectAddress ?? s.listen;
  return {
    host: at.host,
    port: at.port,
    pg_path: pg.dataDir,
    pg_port: pg.port,
    pg_socket_path: pg.socketDir,
    ...(reaches ? { reaches } : {}),
  };
}

/** The primary as pgBackRest's remote instance, reached through its TLS server with this member's certificate. Pure. */
export function primaryInstance(a: BackupServerAdvert, own: Pick<BackupServerConfig, "certFile" | "keyFile" | "caFile">): PgInstance {
  return {
    path: a.pg_path,
    port: a.pg_port,
    socketPath: a.pg_socket_path,
    host: { name: a.host, port: a.port, certFile: own.certFile, keyFile: own.keyFile, caFile: own.caFile },
  };
}

/**
 * Whether pgBackRest 2.45 accepts the certificate for `host`: it compares the host with the DNS
 * names of the subject alternative names only (IP addresses are not read), or with the common name
 * when there are none. Pure: the certificate's subjectaltname string and CN in.
 */
export function certNamesHost(host: string, subjectAltName: string | undefined, commonName: string | undefined): boolean {
  const dns = (subjectAltName ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.startsWith("DNS:"))
    .map((s) => s.slice(4));
  const names = subjectAltName ? dns : commonName ? [commonName] : [];
  return names.some((n) => n.toLowerCase() === host.toLowerCase());
}

/**
 * A TLS handshake with the server at `a`, presenting this member's certificate: resolves undefined
 * when pgBackRest would get through (chain to the CA, a DNS name for the host), else the reason.
 */
export async function probeServer(
  a: Pick<BackupServerAdvert, "host" | "port">,
  own: Pick<BackupServerConfig, "certFile" | "keyFile" | "caFile">,
  timeoutMs: number,
): Promise<string | undefined> {
  let files: { ca: Buffer; cert: Buffer; key: Buffer };
  try {
    files = { ca: fs.readFileSync(own.caFile), cert: fs.readFileSync(own.certFile), key: fs.readFileSync(own.keyFile) };
  } catch (e) {
    return `cannot read the TLS files: ${(e as Error).message}`;
  }
  return new Promise((resolve) => {
    const done = (why: string | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(why);
    };
    const socket = tls.connect({
      host: a.host,
      port: a.port,
      ...files,
      // pgBackRest's own name check, not Node's (which also accepts IP addresses)
      checkServerIdentity: (host, cert) =>
        certNamesHost(host, cert.subjectaltname, typeof cert.subject?.CN === "string" ? cert.subject.CN : undefined)
          ? undefined
          : new Error(`its certificate names no DNS name ${host} (pgBackRest 2.45 reads DNS names only)`),
    });
    const timer = setTimeout(() => done(`no answer from ${a.host}:${a.port} within ${timeoutMs} ms`), timeoutMs);
    socket.once("secureConnect", () => done(undefined));
    socket.once("error", (e) => done(`${a.host}:${a.port}: ${e.message}`));
  });
}
