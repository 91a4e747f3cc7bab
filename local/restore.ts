/**
 * `hapg local up --restore-from DIR|FILE [--target-time T | --target-lsn L | --target-name N]`: a
 * local cluster created from another cluster's backups. DIR is a local cluster started with
 * `--backup` (its S3 server must be running: the backups live there); FILE is a JSON file holding a
 * `bootstrap.fromBackup` source ({repo, stanza, cipherPassphraseFile}) for any S3 repository.
 * Everything here runs before anything of the new cluster exists, so a refused restore leaves nothing.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { resolvedRepo, type BackupConfig } from "../sidecar/contract/backup-config";
import { validateAgentConfig } from "../sidecar/contract/agent-config";
import { isRunning } from "../sidecar/postgres/process";
import { fromBackupSchema, type FromBackupInput } from "../sidecar/contract/restore-config";
import { RestoreSource } from "../sidecar/restore/source";
import { targetFromFields, type RecoveryTargetInput } from "../sidecar/contract/recovery-target";
import { clusterJsonPath, readClusterFile } from "./state";

export interface RestoreFlags {
  restoreFrom?: string;
  targetTime?: string;
  targetLsn?: string;
  targetName?: string;
}

const FLAGS = { targetTime: "--target-time", targetLsn: "--target-lsn", targetName: "--target-name" } as const;

/** The recovery target from the flags; throws naming the flag. Pure. */
export function targetFromFlags(f: RestoreFlags): RecoveryTargetInput {
  const given = (Object.keys(FLAGS) as (keyof typeof FLAGS)[]).filter((k) => f[k] !== undefined);
  if (given.length && f.restoreFrom === undefined) throw new Error(`${FLAGS[given[0]]}: needs --restore-from (the backups to restore)`);
  if (given.length > 1)
    throw new Error(
      `${FLAGS[given[1]]}: give one of --target-time, --target-lsn or --target-name, not ${given.map((k) => FLAGS[k]).join(" and ")}`,
    );
  const t: RecoveryTargetInput =
    f.targetTime !== undefined
      ? { time: f.targetTime }
      : f.targetLsn !== undefined
        ? { lsn: f.targetLsn }
        : f.targetName !== undefined
          ? { name: f.targetName }
          : {};
  try {
    targetFromFields(t);
  } catch (e) {
    throw new Error(`${FLAGS[given[0]]}: ${(e as Error).message}`, { cause: e });
  }
  return t;
}

/** The source a node's agent config gets as `bootstrap.fromBackup`, from --restore-from; undefined without it. Throws naming the flag. */
export function localFromBackup(f: RestoreFlags): FromBackupInput | undefined {
  const target = targetFromFlags(f);
  if (f.restoreFrom === undefined) return undefined;
  const from = path.resolve(f.restoreFrom);
  if (!fs.existsSync(from))
    throw new Error(`--restore-from: ${from} does not exist: give a local cluster's --dir, or a JSON file with {repo, stanza}`);
  if (fs.statSync(from).isFile()) {
    let raw: unknown;
    try {
      raw = JSON.parse(fs.readFileSync(from, "utf8"));
    } catch (e) {
      throw new Error(`--restore-from: ${from} is not JSON: ${(e as Error).message}`, { cause: e });
    }
    const r = fromBackupSchema.safeParse({ ...(raw as object), target });
    if (!r.success)
      throw new Error(`--restore-from: ${from}: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
    return { ...(raw as object), target } as FromBackupInput;
  }
  if (!fs.existsSync(clusterJsonPath(from))) {
    throw new Error(`--restore-from: ${from} holds no local cluster (no cluster.json): give the --dir of a cluster started with --backup`);
  }
  const c = readClusterFile(from);
  const s3 = (c as { s3?: { pid: number } }).s3;
  if (!s3) throw new Error(`--restore-from: the local cluster in ${from} was started without --backup: it has no backups to restore`);
  if (!isRunning(s3.pid)) {
    throw new Error(
      `--restore-from: the S3 server of ${from} (pid ${s3.pid}) is not running: its backups are there; start that cluster again first`,
    );
  }
  const node = c.nodes[0];
  const config = validateAgentConfig(JSON.parse(fs.readFileSync(path.join(path.dirname(node.dataDir), "agent.json"), "utf8")));
  if (!config.backup) throw new Error(`--restore-from: the agents in ${from} have no backup section: nothing to restore from`);
  const { stanza } = resolvedRepo(config.backup as BackupConfig, config.cluster);
  return {
    repo: { ...config.backup.repo, path: resolvedRepo(config.backup, config.cluster).repoPath },
    stanza,
    ...(config.backup.cipherPassphraseFile ? { cipherPassphraseFile: config.backup.cipherPassphraseFile } : {}),
    target,
  };
}

/**
 * The restore's checks (stanza there and holding a backup, target inside its range, credentials
 * readable), run before `up` creates anything: pgBackRest's files for it go to a temporary
 * directory, removed afterwards. Throws with every problem.
 */
export async function checkLocalRestore(fromBackup: FromBackupInput, superuser = "postgres"): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "hapg-restore-check-"));
  try {
    const source = new RestoreSource({
      fromBackup: fromBackupSchema.parse(fromBackup),
      dataDir: path.join(tmp, "data"),
      socketDir: tmp,
      pgPort: 5432,
      superuser,
      log: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined } as never,
    });
    source.prepare();
    const problems = await source.problems(Date.now());
    if (problems.length) throw new Error(`the restore is refused (nothing was started):\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
