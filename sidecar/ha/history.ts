/**
 * The `history` key, in Patroni's layout, so Patroni's tools (`patronictl history`) read our
 * timeline changes: `[[timeline, switch LSN, reason, time, new leader], ...]`, one line per earlier
 * timeline. The leader keeps it in step with its own timeline history file. Pure.
 */

import type { HistoryLine } from "../dcs/types";

export type { HistoryLine };

/** What PostgreSQL writes in a history file for a promotion without a recovery target. */
const PROMOTED = "no recovery target specified";

/**
 * The lines the leader should write, or undefined when the key already lists exactly the timelines
 * of its history file. Lines etcd already has for the same timeline and switch point are kept as they
 * are (their time and leader were stamped when they happened); new ones carry the file's reason and
 * are stamped by the writer (`stampHistory`), which alone may read the clock.
 */
export function historyToPublish(
  pgHistory: readonly { timeline: number; switchLsn: number; reason?: string }[] | undefined,
  published: readonly HistoryLine[] | undefined,
): HistoryLine[] | undefined {
  if (!pgHistory?.length) return undefined;
  const known = new Map((published ?? []).map((l) => [`${l[0]}/${l[1]}`, l]));
  const lines = [...pgHistory]
    .sort((a, b) => a.timeline - b.timeline)
    .map((h): HistoryLine => known.get(`${h.timeline}/${h.switchLsn}`) ?? [h.timeline, h.switchLsn, h.reason ?? PROMOTED]);
  const same = published?.length === lines.length && lines.every((l) => known.has(`${l[0]}/${l[1]}`));
  return same ? undefined : lines;
}

/** The newest line, when it is new (no time yet), gets the time of the promotion and the new leader, as Patroni's does. */
export function stampHistory(lines: readonly HistoryLine[], nowIso: string, leader: string): HistoryLine[] {
  return lines.map((l, i) => (i === lines.length - 1 && l.length === 3 ? [...l, nowIso, leader] : l));
}
