/**
 * The cluster-wide backup policy (`backupPolicy` in the HA settings): how often WAL is switched
 * (archive_timeout, the recovery point), when full and differential backups run, how many are kept,
 * and whether a replica takes them. Used only where the agent config has a `backup` section (the
 * repository); the defaults are here once.
 */
import { z } from "zod";
import { parseCron } from "./cron";

/** A schedule that never runs (a string, so the stack config can say it too). */
export const NEVER = "never";

const cronField = (example: string) =>
  z.string({ error: `must be a cron expression such as "${example}", or "${NEVER}"` }).superRefine((v, ctx) => {
    if (v === NEVER) return;
    try {
      parseCron(v);
    } catch (e) {
      ctx.addIssue({ code: "custom", message: `${(e as Error).message} (or "${NEVER}"; e.g. "${example}")` });
    }
  });

const count = (what: string) =>
  z
    .number({ error: `must be a whole number of ${what}` })
    .int(`must be a whole number of ${what}`)
    .min(1, `keep at least 1 ${what}`);

export const backupPolicySchema = z
  .object({
    /**
     * Seconds after which PostgreSQL switches to a new WAL segment even when it is not full, so it
     * is archived: the worst-case data loss (recovery point) when every node is lost at once. Default 60.
     */
    archiveTimeout: z
      .number({ error: "must be a number of seconds, e.g. 60" })
      .int("must be a whole number of seconds")
      .min(1, "must be at least 1 s (0 would never switch an idle segment: use e.g. 60)")
      .max(3600, "must be at most 3600 s (an hour of WAL could be lost with every node)")
      .default(60),
    /** Five-field cron expressions, UTC; "never": not scheduled. Default: full on Sundays 01:00, differential the other days at 01:00. */
    schedule: z
      .object({
        full: cronField("0 1 * * 0").default("0 1 * * 0"),
        diff: cronField("0 1 * * 1-6").default("0 1 * * 1-6"),
      })
      .strict()
      .prefault({}),
    /** Retention of full backups by count and/or age (a full backup is expired only when both allow it), and of differentials. */
    retention: z
      .object({
        /** Keep at least this many full backups. Default 2. */
        full: count("full backups").default(2),
        /** Also keep every full backup younger than this many days. Default: by count only. */
        fullDays: count("days").optional(),
        /** Differential backups kept (the newest); default: every one of a kept full backup. */
        diff: count("differential backups").optional(),
      })
      .strict()
      .prefault({}),
    /**
     * Take scheduled backups on a healthy streaming replica when there is one (pgBackRest's
     * backup-from-standby: the bulk of the files is read on the replica), else on the leader. Default true.
     */
    fromStandby: z.boolean({ error: "must be true or false" }).default(true),
  })
  .strict();

export type BackupPolicy = z.output<typeof backupPolicySchema>;
export type BackupPolicyInput = z.input<typeof backupPolicySchema>;

export const BACKUP_POLICY_DEFAULTS: BackupPolicy = backupPolicySchema.parse({});

/**
 * The days a bucket's lifecycle rule must keep objects at the least: null when retention is by
 * count only (then no lifecycle rule may expire current objects; pgBackRest expires them itself).
 */
export function retentionDaysFloor(p: Pick<BackupPolicy, "retention">): number | null {
  return p.retention.fullDays ?? null;
}
