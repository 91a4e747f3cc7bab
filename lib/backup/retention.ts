/**
 * How far back the backup policy lets a restore reach, in days: what the backup bucket's lifecycle
 * rules follow (./policies.ts). Pure; derived from the one backup policy (sidecar/contract/settings/backup.ts),
 * never from copies of its defaults.
 */
import { type BackupPolicy, NEVER, retentionDaysFloor } from "../../sidecar/contract/settings/backup";
import { nextSlot, parseCron } from "../../sidecar/contract/settings/cron";

const DAY_MS = 86_400_000;

/**
 * Without a schedule of full backups (schedule.full "never") nothing but the first full backup and those
 * taken by hand exist, and pgBackRest keeps them by count for as long as no newer one replaces them:
 * the window is then taken as 35 days, RDS's longest automated-backup retention.
 */
export const UNSCHEDULED_WINDOW_DAYS = 35;

/** Sampled from a fixed instant so the figure is the same on every deployment: four years cover leap days. */
const SAMPLE_FROM = Date.UTC(2025, 0, 1);
const SAMPLE_TO = Date.UTC(2029, 0, 1);
const SAMPLE_SLOTS = 2000;

/** The longest time between two scheduled full backups, in days, or undefined when fewer than two are scheduled. Pure. */
export function longestFullGapDays(cronExpr: string): number | undefined {
  if (cronExpr === NEVER) return undefined;
  const cron = parseCron(cronExpr);
  let longest = 0;
  let previous = nextSlot(cron, SAMPLE_FROM - 1);
  for (let i = 0; previous !== undefined && previous < SAMPLE_TO && i < SAMPLE_SLOTS; i++) {
    const next = nextSlot(cron, previous);
    if (next === undefined) break;
    longest = Math.max(longest, next - previous);
    previous = next;
  }
  return longest > 0 ? longest / DAY_MS : undefined;
}

/**
 * The age of the oldest backup the policy keeps, in whole days (rounded up). With `retention.full`
 * = N full backups every G days, the oldest kept full is up to N × G days old (the moment before the
 * next one completes). With `retention.fullDays` = D, pgBackRest keeps the newest full backup older
 * than D as well, so restores reach D days back from a full up to D + G days old. Both rules must
 * allow an expiry, so the window is the larger of the two. Pure.
 */
export function retentionWindowDays(policy: Pick<BackupPolicy, "retention" | "schedule">): number {
  const gap = longestFullGapDays(policy.schedule.full);
  const floorDays = retentionDaysFloor(policy);
  if (gap === undefined) return Math.max(floorDays ?? 0, UNSCHEDULED_WINDOW_DAYS);
  const byCount = policy.retention.full * gap;
  const byAge = floorDays === null ? 0 : floorDays + gap;
  return Math.ceil(Math.max(byCount, byAge));
}
