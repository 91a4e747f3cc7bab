/**
 * The replica side of archiving (see wal-gate.ts): every few seconds the agent reads what the leader
 * has archived (its /patroni `archive`), marks the .ready files the archive holds (or no restore
 * needs), removes marks that lost their file, and wakes the archiver when it marked something, so
 * pg_wal lets go of a segment seconds after the leader archived it. What the leader has not archived
 * stays in pg_wal: when this member is promoted, it pushes it.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { ClusterSnapshot } from "../dcs/types";
import type { Logger } from "../log";
import { ensureDir, writeOwned } from "../postgres/files";
import type { LocalSql } from "../postgres/sql";
import { readyFiles, type ArchiveStatus } from "./archive-status";
import {
  addArchived,
  gateDecision,
  gatePlan,
  NOTHING_ARCHIVED,
  parseWalFileName,
  type ArchivedPositions,
  type TimelinePath,
} from "./wal-gate";

/** What a replica needs from the leader's /patroni: whether it archives, and its last archived file. */
export interface LeaderArchive {
  /** False: the leader has no backup repository (nothing is archived: a replica keeps nothing for it). */
  archiving?: boolean;
  lastArchived?: string;
}

export interface ReplicaArchiveOptions {
  dataDir: string;
  marksDir: string;
  sql: Pick<LocalSql, "query">;
  /** GET the leader's /patroni (its member key's api_url); undefined when it does not answer. */
  fetchLeader: (apiUrl: string) => Promise<LeaderArchive | undefined>;
  log: Logger;
}

export class ReplicaArchive {
  private known: ArchivedPositions = NOTHING_ARCHIVED;
  private segmentSize?: number;
  private lastWaiting = 0;

  constructor(private readonly o: ReplicaArchiveOptions) {}

  async step(cluster: ClusterSnapshot | undefined): Promise<ArchiveStatus> {
    const leader = cluster?.members.find((m) => m.name === cluster.leader?.name);
    const answer = leader ? await this.o.fetchLeader(leader.data.api_url).catch(() => undefined) : undefined;
    const path_: TimelinePath | undefined =
      leader?.data.timeline !== undefined ? { timeline: leader.data.timeline, history: leader.data.history ?? [] } : undefined;
    if (this.segmentSize === undefined) {
      const [r] = await this.o.sql.query<{ s: string }>("SELECT setting AS s FROM pg_settings WHERE name = 'wal_segment_size'");
      this.segmentSize = Number(r.s);
    }
    const size = this.segmentSize;
    this.known = addArchived(this.known, answer?.lastArchived, size);
    const noArchive = answer?.archiving === false;
    const decide = (name: string) => {
      const f = parseWalFileName(name, size);
      if (!f) return "wait" as const;
      return noArchive ? ("not-needed" as const) : gateDecision(f, path_, this.known, size);
    };
    ensureDir(this.o.marksDir, 0o700);
    const ready = readyFiles(this.o.dataDir);
    const marks = fs.readdirSync(this.o.marksDir);
    const plan = gatePlan(ready, marks, decide);
    for (const m of plan.remove) fs.rmSync(path.join(this.o.marksDir, m), { force: true });
    for (const m of plan.create) writeOwned(path.join(this.o.marksDir, m), "", 0o600);
    // The archiver sleeps up to a minute after failing on a file; a reload wakes it to pass the marked ones now.
    if (plan.create.length) await this.o.sql.query("SELECT pg_reload_conf()");
    if (plan.waiting.length > 0 && this.lastWaiting === 0 && !answer) {
      this.o.log.warn({ waiting: plan.waiting.length }, "the leader does not answer: WAL is kept here until it is known to be archived");
    }
    this.lastWaiting = plan.waiting.length;
    return {
      role: "replica",
      archived_count: 0,
      failed_count: 0,
      ready_count: ready.length,
      kept_for_leader: plan.waiting.length,
      oldest_kept: plan.waiting[0],
      leader_last_archived_wal: answer?.lastArchived,
      note: noArchive ? "the leader has no backup repository: this replica keeps no WAL for it" : undefined,
    };
  }
}
