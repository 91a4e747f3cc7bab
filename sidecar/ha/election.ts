/**
 * Who may take the leader key when there is none. Pure. A replica is eligible when it may fail over
 * (no `nofailover`, priority > 0), is within maximumLagOnFailover of the leader's last known
 * position, and no reachable eligible peer is ahead of it by *fresh* LSNs (read from the peers' APIs
 * in this run, not from member keys that may be a loop old). Ties go to the leader that wrote the sync
 * key (synchronous modes), then to the higher failoverPriority, then to the lower name, so that
 * normally exactly one member races; the race itself is atomic anyway.
 */
import { quorumVerdict } from "./quorum";
import { syncEligible } from "./sync";
import type { HaInput } from "./types";

export type Verdict = { ok: true; reason: string } | { ok: false; reason: string };

export function electionVerdict(input: HaInput): Verdict {
  const { self, local, memory, cluster } = input;
  if (self.nofailover || self.failoverPriority <= 0) {
    return { ok: false, reason: "this member is tagged nofailover (or failoverPriority 0): never promoted" };
  }
  const myLsn = local.pg.lsn;
  if (myLsn === undefined) return { ok: false, reason: "our WAL position is unknown: not racing" };
  if (self.synchronousMode !== "off" && !syncEligible(input, self.name)) {
    const recorded = cluster?.sync?.standbys.join(", ") || "none";
    return { ok: false, reason: `synchronous mode: only the recorded synchronous standby (${recorded}) may be promoted` };
  }
  const quorum = quorumVerdict(input);
  if (quorum && !quorum.ok) return quorum;

  // The recorded synchronous standby has every acknowledged commit by construction: no lag limit.
  const leaderOptime = Math.max(memory.lastLeaderOptime ?? 0, cluster?.leaderOptime ?? 0);
  if (self.synchronousMode === "off" && leaderOptime - myLsn > self.maximumLagOnFailover) {
    return {
      ok: false,
      reason: `we are ${leaderOptime - myLsn} bytes behind the leader's last known position (maximumLagOnFailover ${self.maximumLagOnFailover}): not eligible`,
    };
  }

  const formerLeader = self.synchronousMode !== "off" ? cluster?.sync?.leader : undefined;
  for (const peer of input.peers) {
    if (peer.name === self.name || !peer.reachable) continue;
    if (peer.isPrimary) return { ok: false, reason: `${peer.name} still runs as primary: waiting for it to take the key or stop` };
    // Like nofailover: a peer whose required watchdog cannot be armed refuses the key, so it must not block us.
    if (peer.nofailover || peer.watchdogFailed || (peer.failoverPriority ?? 1) <= 0 || peer.lsn === undefined) continue;
    if (self.synchronousMode !== "off" && !syncEligible(input, peer.name)) continue;
    if (peer.lsn > myLsn)
      return { ok: false, reason: `${peer.name} is further ahead (LSN ${peer.lsn} > ours ${myLsn}): leaving it to promote` };
    if (peer.lsn === myLsn) {
      // The leader that wrote the sync key holds every commit it acknowledged, while a member of the set
      // may still wait for the positions of others (row E-Q): at an equal position it goes first, or a
      // member of the set stuck on a wiped peer and a tie lost to it by name would wait for each other.
      if (formerLeader === self.name) continue;
      if (formerLeader === peer.name) return { ok: false, reason: `${peer.name} wrote the sync key and is as far ahead: it goes first` };
      const theirs = peer.failoverPriority ?? 1;
      if (theirs > self.failoverPriority)
        return { ok: false, reason: `${peer.name} is as far ahead and has higher failoverPriority (${theirs})` };
      if (theirs === self.failoverPriority && peer.name < self.name) {
        return { ok: false, reason: `${peer.name} is as far ahead with equal priority and wins the tie by name` };
      }
    }
  }
  return { ok: true, reason: `we are the healthiest eligible replica (LSN ${myLsn})` };
}
