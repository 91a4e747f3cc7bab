/**
 * The agent config's `backup` section: where this node's pgBackRest repository is (an S3 bucket and
 * prefix), how it authenticates, the stanza, and the repository's encryption passphrase. Absent: no
 * archiving and no backups. The cluster-wide policy (schedule, retention, archive_timeout) is the
 * setting `backupPolicy` (sidecar/contract/settings/backup.ts).
 */
import * as path from "node:path";
import { z } from "zod";

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

const credentialsSchema = z.discriminatedUnion(
  "source",
  [
    /** The EC2 instance role (pgBackRest's repo1-s3-key-type=auto): no key on the node at all. */
    z.object({ source: z.literal("instanceRole") }).strict(),
    /** A JSON file {"accessKeyId": "...", "secretAccessKey": "..."} (local clusters, other S3 services). */
    z.object({ source: z.literal("keyFile"), file: z.string().startsWith("/", "must be an absolute path") }).strict(),
  ],
  { error: 'must be {"source": "instanceRole"} or {"source": "keyFile", "file": "/path/to/keys.json"}' },
);

/** An S3 repository; also what a restore names as its source. */
export const repoSchema = z
  .object({
    type: z.literal("s3", { error: 'must be "s3" (the only repository type so far)' }).default("s3"),
    bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "must be an S3 bucket name (lower-case letters, digits, '.', '-')"),
    region: z.string().min(1).default("us-east-1"),
    /** Default s3.<region>.amazonaws.com. A host name: pgBackRest checks the certificate against it. */
    endpoint: z.string().min(1).optional(),
    port: z.number().int().min(1).max(65535).optional(),
    /** The prefix inside the bucket (pgBackRest's repo1-path). Default "/<cluster>". */
    path: z.string().startsWith("/", "must start with /, e.g. /main").optional(),
    /** "host": bucket.endpoint (AWS); "path": endpoint/bucket (S3 emulators). Default "host". */
    uriStyle: z.enum(["host", "path"], { error: 'must be "host" or "path"' }).default("host"),
    caFile: z.string().startsWith("/", "must be an absolute path").optional(),
    verifyTls: z.boolean().default(true),
    /** SSE-KMS key for the objects pgBackRest writes. */
    kmsKeyId: z.string().min(1).optional(),
    credentials: credentialsSchema.default({ source: "instanceRole" }),
  })
  .strict();

/** pgBackRest's own default port for its TLS server (tls-server-port). */
export const PGBACKREST_SERVER_PORT = 8432;

const pem = (what: string) => z.string().startsWith("/", `must be the absolute path of ${what} (PEM)`);
const endpoint = z
  .object({
    host: z.string().min(1, "must be a host name or IP address, e.g. 127.0.0.1"),
    port: z.number().int().min(1).max(65535).default(PGBACKREST_SERVER_PORT),
  })
  .strict();

/**
 * pgBackRest's TLS server on this member (`pgbackrest server`, run and supervised by the agent), so a
 * replica taking a backup (backup-from-standby) can start and stop it on the primary. Its certificate
 * serves the server and, as a client certificate, this member's own calls to the other members' servers.
 */
export const backupServerSchema = z
  .object({
    listen: endpoint,
    /** The address the other members use (advertised in the member key). Default: listen. */
    connectAddress: endpoint.optional(),
    certFile: pem("this member's certificate"),
    keyFile: pem("this member's private key"),
    caFile: pem("the CA the members' certificates chain to"),
    /**
     * The client certificates' common names allowed in (every member's: pgBackRest authenticates
     * clients by CN, after checking the chain to caFile).
     */
    clients: z.array(z.string().regex(NAME, "must be a certificate common name: letters, digits, '.', '_' or '-'")).min(1),
  })
  .strict();

export type BackupServerConfig = z.output<typeof backupServerSchema>;

export const COMPRESS_TYPES = ["lz4", "zst", "gz", "bz2", "none"] as const;

export const backupConfigSchema = z
  .object({
    /** pgBackRest stanza. Default: the cluster's name. */
    stanza: z.string().regex(NAME, "use letters, digits, '.', '_' or '-'").optional(),
    repo: repoSchema,
    /** File holding the repository's passphrase: present, the repository is encrypted (aes-256-cbc). */
    cipherPassphraseFile: z.string().startsWith("/", "must be an absolute path").optional(),
    compressType: z.enum(COMPRESS_TYPES, { error: `must be one of ${COMPRESS_TYPES.join(", ")}` }).default("lz4"),
    /** Parallel processes for backup, restore and asynchronous archiving. Default 2. */
    processMax: z.number().int().min(1).max(64).default(2),
    /** pgBackRest's TLS server, for backups taken on a replica. Absent: the leader takes every backup. */
    server: backupServerSchema.optional(),
  })
  .strict();

export type BackupConfig = z.output<typeof backupConfigSchema>;
export type BackupConfigInput = z.input<typeof backupConfigSchema>;
export type RepoConfig = z.output<typeof repoSchema>;
export type RepoConfigInput = z.input<typeof repoSchema>;

/**
 * Where the agent keeps pgBackRest's files for the data directory `dataDir` (beside it, not in it);
 * `suffix` sets apart another repository's set (a restore source's).
 */
export function backupPaths(
  dataDir: string,
  suffix = "",
): {
  dir: string;
  confFile: string;
  spoolDir: string;
  logDir: string;
  lockDir: string;
  /** A backup from standby's config (this member as pg1, the primary as pg2), written before each such backup. */
  standbyConfFile: string;
  /** `pgbackrest server`'s config and pid file (backup.server). */
  serverConfFile: string;
  serverPidFile: string;
} {
  const dir = `${path.resolve(dataDir)}.pgbackrest${suffix}`;
  return {
    dir,
    confFile: path.join(dir, "pgbackrest.conf"),
    standbyConfFile: path.join(dir, "pgbackrest-standby.conf"),
    serverConfFile: path.join(dir, "server.conf"),
    serverPidFile: path.join(dir, "server.pid"),
    spoolDir: path.join(dir, "spool"),
    logDir: path.join(dir, "log"),
    lockDir: path.join(dir, "lock"),
  };
}

/** The stanza and repository prefix with their defaults filled in from the cluster's name. */
export function resolvedRepo(b: BackupConfig, cluster: string): { stanza: string; repoPath: string; endpoint: string } {
  return {
    stanza: b.stanza ?? cluster,
    repoPath: b.repo.path ?? `/${cluster}`,
    endpoint: b.repo.endpoint ?? `s3.${b.repo.region}.amazonaws.com`,
  };
}
