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
import type { BackupServerAdvert, Member } from "../dcs/types";
import type { Logger } from "../log";
import type { BackupServerConfig } from "../contract/backup-config";
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

/** How often a replica checks that it reaches the leader's TLS server (and after a leader change). */
const PROBE_EVERY_MS = 5000;
const PROBE_TIMEOUT_MS = 3000;

export type ServerCheck = (a: { host: string; port: number }) => Promise<string | undefined>;

/** The default check: a handshake with this member's certificate. */
export const handshakeCheck =
  (own: Pick<BackupServerConfig, "certFile" | "keyFile" | "caFile">): ServerCheck =>
  (a) =>
    probeServer(a, own, PROBE_TIMEOUT_MS);

/**
 * A replica's knowledge that it reaches the leader's TLS server (its member key says so through
 * `reaches`, and the schedule then lets it take the backups): checked every PROBE_EVERY_MS and
 * after a leader change, and once more right before a backup.
 */
export class LeaderServerProbe {
  /** The leader whose server this member reached at its last check. */
  reaches?: string;
  private probed?: { at: number; leader: string };

  constructor(
    private readonly check: ServerCheck,
    private readonly log: Logger,
  ) {}

  /** The periodic check; `able` is false when this member cannot take backups from standby (no server of its own). */
  async step(leader: Member | undefined, able: boolean): Promise<void> {
    const at = leader?.data.pgbackrest;
    if (!able || !leader || !at) {
      this.reaches = undefined;
      return;
    }
    const now = Date.now();
    if (this.probed?.leader === leader.name && now - this.probed.at < PROBE_EVERY_MS) return;
    this.probed = { at: now, leader: leader.name };
    const problem = await this.check(at);
    const before = this.reaches;
    this.reaches = problem ? undefined : leader.name;
    if (problem && before === leader.name) {
      this.log.warn(
        { leader: leader.name, err: problem },
        "the leader's pgBackRest TLS server is unreachable: the leader takes the backups",
      );
    } else if (problem && before !== leader.name) {
      this.log.info(
        { leader: leader.name, err: problem },
        "cannot reach the leader's pgBackRest TLS server (backups from standby wait for it)",
      );
    } else if (!problem && before !== leader.name) {
      this.log.info({ leader: leader.name }, "reached the leader's pgBackRest TLS server: this replica can take backups");
    }
  }

  /** Right before a backup from standby: the leader's server, checked now (pgBackRest would wait its whole I/O timeout). */
  async require(leader: Member | undefined): Promise<BackupServerAdvert> {
    const at = leader?.data.pgbackrest;
    if (!leader || !at) throw new Error("backup from standby: the leader's pgBackRest TLS server is not known");
    const problem = await this.check(at);
    if (problem) {
      this.reaches = undefined;
      throw new Error(`backup from standby: cannot reach ${leader.name}'s pgBackRest TLS server (${problem})`);
    }
    return at;
  }
}
