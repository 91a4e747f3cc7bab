/**
 * Has a replica diverged from the leader's timeline? (pure). When a standby is promoted it starts
 * timeline T+1, forking from T at the switch point it had reached. Another replica that replayed WAL
 * of timeline T *past* that point holds changes the new leader never had (the old primary sent them
 * to it, not to the promoted standby): PostgreSQL then refuses to follow ("new timeline forked off
 * current database system timeline before current recovery point") and waits forever. Like a former
 * primary, it must be rewound (or re-copied) before it can follow. Patroni's check is the same
 * (`_check_timeline_and_lsn`).
 */
import { formatLsn } from "../postgres/lsn";

/** One line of a timeline history file: `timeline` ended (and its child began) at `switchLsn`. */
export interface TimelineFork {
  timeline: number;
  switchLsn: number;
}

export interface ReplicaPosition {
  /** The timeline of the last replayed record (lsn.ts replayTimeline); unknown → no verdict. */
  replayTimeline?: number;
  replayLsn?: number;
}

/**
 * Why the replica cannot follow the leader, or undefined when it can (or we cannot tell yet).
 * leaderHistory: the leader's timeline history (every earlier timeline and where it ended).
 */
export function divergence(replica: ReplicaPosition, leaderTimeline: number | undefined, leaderHistory: readonly TimelineFork[] | undefined): string | undefined {
  const { replayTimeline: timeline, replayLsn } = replica;
  if (timeline === undefined || replayLsn === undefined || leaderTimeline === undefined || timeline >= leaderTimeline) return undefined;
  const fork = leaderHistory?.find((f) => f.timeline === timeline);
  if (!fork || replayLsn <= fork.switchLsn) return undefined;
  return `replayed timeline ${timeline} to ${formatLsn(replayLsn)}, past ${formatLsn(fork.switchLsn)} where the leader's timeline ${leaderTimeline} forked from it`;
}
