/**
 * The agent config's `bootstrap` section: a new cluster created from another cluster's backup
 * (`bootstrap.fromBackup`) instead of initdb. Patroni's `bootstrap.method` with a custom restore,
 * Spilo's clone-with-WAL-E, as one setting: the source repository (the same shape as `backup.repo`),
 * its stanza, and the recovery target. The restored cluster archives into its own stanza (`backup`),
 * never into the source's.
 */
import { z } from "zod";
import { repoSchema, resolvedRepo, type BackupConfig } from "./backup-config";
import { recoveryTargetSchema, targetFromFields, type RecoveryTarget } from "./recovery-target";
import { standbyClusterSchema } from "./settings/standby";

export const fromBackupSchema = z
  .object({
    /** The source's repository: an S3 bucket and prefix, as in `backup.repo`. Its `path` defaults to "/<stanza>". */
    repo: repoSchema,
    /** The source cluster's pgBackRest stanza (by default that cluster's name). */
    stanza: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, "use letters, digits, '.', '_' or '-'"),
    /** The file holding the source repository's passphrase, when it is encrypted. */
    cipherPassphraseFile: z.string().startsWith("/", "must be an absolute path").optional(),
    /** What to replay to: `{ time }`, `{ lsn }` or `{ name }` (a restore point). Default: the latest point in the archive. */
    target: recoveryTargetSchema.default({}),
  })
  .strict();

export const bootstrapSchema = z
  .object({
    /** Create the cluster from this backup instead of initdb. Read only while the cluster has no data yet. */
    fromBackup: fromBackupSchema.optional(),
    /**
     * Create the cluster as a standby cluster of another one (Patroni's `bootstrap.dcs.standby_cluster`,
     * with its keys: host, port, primary_slot_name, restore_command, ...). Written into etcd's config key
     * once, when the cluster is created (no initialize key yet); from then on only etcd's key counts, so
     * `hapg promote-cluster` removing it is final (docs/standby-cluster.md).
     */
    standbyCluster: standbyClusterSchema.optional(),
  })
  .strict()
  .refine((b) => !(b.fromBackup && b.standbyCluster), {
    path: ["standbyCluster"],
    error: "give fromBackup (a new cluster restored from a backup) or standbyCluster (a copy that follows its source), not both",
  });

export type FromBackup = z.output<typeof fromBackupSchema>;
export type FromBackupInput = z.input<typeof fromBackupSchema>;

/** The source with its defaults filled in (the repository prefix follows the stanza), and its target parsed. */
export function resolvedSource(f: FromBackup): { stanza: string; repoPath: string; endpoint: string; target: RecoveryTarget } {
  const r = resolvedRepo({ repo: f.repo } as BackupConfig, f.stanza);
  return { stanza: f.stanza, repoPath: r.repoPath, endpoint: r.endpoint, target: targetFromFields(f.target) };
}

/**
 * A restored cluster must never archive into the stanza it restores from: its new timeline's WAL
 * would mix with the source's, and the source's next restore could follow it. One issue, on the
 * field to change, when `backup` points at the source's repository prefix and stanza.
 */
export function sameStanzaProblem(
  cluster: string,
  backup: BackupConfig | undefined,
  f: FromBackup | undefined,
): { path: string[]; message: string } | undefined {
  if (!backup || !f) return undefined;
  const own = resolvedRepo(backup, cluster);
  const src = resolvedSource(f);
  const sameRepo =
    backup.repo.bucket === f.repo.bucket &&
    own.endpoint === src.endpoint &&
    backup.repo.port === f.repo.port &&
    own.repoPath === src.repoPath;
  if (!sameRepo || own.stanza !== src.stanza) return undefined;
  return {
    path: ["backup", "stanza"],
    message:
      `"${own.stanza}" is also bootstrap.fromBackup.stanza in the same repository: a restored cluster archives into a stanza ` +
      "of its own, never into the one it restores from: set backup.stanza (or backup.repo.path) to a new name",
  };
}
