/**
 * Has a replica diverged from the leader's timeline? (pure). When a standby is promoted it starts
 * timeline T+1, forking from T at the switch point it had reached. Another replica that replayed WAL
 * of timeline T *past* that point holds changes the new leader never had (the old primary sent them
 * to it, not to the promoted standby): PostgreSQL then refuses to follow ("new timeline forked off
 * current database system timeline before current recovery point") and waits forever. Like a former
 * primary, it must be rewound (or re-copied) before it can follow. Patroni's check is the same
 * (`_check_timeline_and_lsn`).
 */
import type { MemberData } from "../dcs/types";
import { formatLsn } from "../contract/lsn";

export interface ReplicaPosition {
  /** The timeline of the last replayed record (lsn.ts replayTimeline); unknown → no verdict. */
  replayTimeline?: number;
  replayLsn?: number;
}

/**
 * Why the replica cannot follow the leader, or undefined when it can (or we cannot tell yet).
 * The leader's member key carries its timeline and history ([timeline, switch LSN] per earlier one).
 */
export function divergence(replica: ReplicaPosition, leader: Pick<MemberData, "timeline" | "history">): string | undefined {
  const { replayTimeline: timeline, replayLsn } = replica;
  if (timeline === undefined || replayLsn === undefined || leader.timeline === undefined || timeline >= leader.timeline) return undefined;
  const switchLsn = leader.history?.find(([tl]) => tl === timeline)?.[1];
  if (switchLsn === undefined || replayLsn <= switchLsn) return undefined;
  return `replayed timeline ${timeline} to ${formatLsn(replayLsn)}, past ${formatLsn(switchLsn)} where the leader's timeline ${leader.timeline} forked from it`;
}
