/**
 * `hapg local up --standby-of DIR`: a local standby cluster of the running local cluster in DIR. Its
 * agents find `standby_cluster` in etcd's config key before the first of them starts (written here,
 * not through a desired config: a leader converging a desired document would put the key back after
 * `hapg promote-cluster` removed it), so the first member copies the source through the source's
 * proxy and the others cascade from it. With a source started with `--backup`, every member also
 * reads the source's WAL archive in its S3 server (restore_command), so the standby cluster follows
 * when the proxy cannot stream (archive-only, bounded by the source's archive_timeout).
 *
 * The data is a copy of the source's, roles and passwords included: the standby cluster's agents use
 * the source's superuser and replication passwords (read from DIR/secrets).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { archiveParameters } from "../sidecar/backup/pgbackrest-conf";
import { validateAgentConfig } from "../sidecar/contract/agent-config";
import { resolvedRepo } from "../sidecar/contract/backup-config";
import { fromBackupSchema } from "../sidecar/contract/restore-config";
import type { StandbyClusterInput } from "../sidecar/contract/settings/standby";
import { EtcdDcs } from "../sidecar/dcs/etcd";
import { clusterPrefix } from "../sidecar/dcs/types";
import { isRunning } from "../sidecar/postgres/process";
import { RestoreSource } from "../sidecar/restore/source";
import { CLUSTER_NAME, type Owner } from "./agents";
import { computeLayout, DEFAULT_BASE_PORT, type LocalStandbySource } from "./layout";

export type { LocalStandbySource };
import { clusterJsonPath, readClusterFile, type ClusterFile } from "./state";

const FLAG = "--standby-of";

/** Reads the source cluster in DIR; throws naming the flag when it cannot be followed. */
export function localStandbySource(dir: string): LocalStandbySource {
  const from = path.resolve(dir);
  if (!fs.existsSync(clusterJsonPath(from)))
    throw new Error(`${FLAG}: ${from} holds no local cluster (no cluster.json): give a running cluster's --dir`);
  const c: ClusterFile = readClusterFile(from);
  const src = computeLayout({ dir: from, nodes: 0, etcd: 0, basePort: DEFAULT_BASE_PORT });
  const haproxy = Number(fs.existsSync(src.haproxyPidFile) ? fs.readFileSync(src.haproxyPidFile, "utf8").trim() : NaN);
  if (!Number.isInteger(haproxy) || !isRunning(haproxy)) {
    throw new Error(`${FLAG}: the proxy of ${from} is not running: the standby cluster streams through it; start that cluster first`);
  }
  const read = (f: string) => fs.readFileSync(f, "utf8").trim();
  const s3 = (c as { s3?: { pid: number } }).s3;
  let archive: LocalStandbySource["archive"];
  if (s3 && isRunning(s3.pid)) {
    const node = c.nodes[0];
    const config = validateAgentConfig(JSON.parse(fs.readFileSync(path.join(path.dirname(node.dataDir), "agent.json"), "utf8")));
    if (config.backup) {
      const r = resolvedRepo(config.backup, config.cluster);
      archive = {
        repo: { ...config.backup.repo, path: r.repoPath },
        stanza: r.stanza,
        ...(config.backup.cipherPassphraseFile ? { cipherPassphraseFile: config.backup.cipherPassphraseFile } : {}),
      };
    }
  }
  return {
    dir: from,
    endpoint: c.proxy,
    superuserPassword: read(src.superuserPasswordFile),
    replicationPassword: read(src.replicationPasswordFile),
    ...(archive ? { archive } : {}),
  };
}

/**
 * The standby_cluster the standby cluster's config key gets. With the source's archive: pgBackRest's
 * config for it in DIR/standby-source (0600, the service user's), and a restore_command that reads it
 * with the cluster's own short timeouts (a slow archive must not hold back streaming) and the data
 * directory PostgreSQL runs it in as pg1-path.
 */
export function standbyClusterFor(src: LocalStandbySource, dir: string, owner: Owner | undefined): StandbyClusterInput {
  const standby: StandbyClusterInput = { host: src.endpoint.host, port: src.endpoint.port };
  if (!src.archive) return standby;
  const reader = new RestoreSource({
    fromBackup: fromBackupSchema.parse({ ...src.archive, target: {} }),
    dataDir: path.join(dir, "standby-source", "pg"),
    socketDir: path.join(dir, "standby-source"),
    pgPort: 5432,
    superuser: "postgres",
    runAs: owner,
    log: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined } as never,
  });
  fs.mkdirSync(path.join(dir, "standby-source"), { recursive: true, mode: 0o700 });
  if (owner) fs.chownSync(path.join(dir, "standby-source"), owner.uid, owner.gid);
  reader.prepare();
  const gated = archiveParameters(reader.paths.confFile, reader.stanza, 0, { dataDir: ".", marksDir: "." }).restore_command as string;
  // PostgreSQL runs restore_command in the data directory: "$PWD" is each member's own pg1-path; the
  // members share this config, so each get is synchronous (no shared spool directory).
  return { ...standby, restore_command: gated.replace(" archive-get ", ' --pg1-path="$PWD" --no-archive-async archive-get ') };
}

/** Writes the config key before any agent starts (created only if absent). */
export async function writeStandbyConfig(c: Pick<ClusterFile, "etcd">, standby: StandbyClusterInput): Promise<void> {
  const dcs = new EtcdDcs({ endpoints: c.etcd.map((e) => e.clientUrl), prefix: clusterPrefix("service", CLUSTER_NAME), timeoutMs: 5000 });
  try {
    if (!(await dcs.attemptWriteConfig({ standby_cluster: standby }, undefined))) throw new Error("etcd already has a config key");
  } finally {
    await dcs.close().catch(() => undefined);
  }
}
