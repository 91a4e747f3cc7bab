/** The live view of the local server (PgStatus) from one connection: one query, plus pg_stat_replication on a primary. */
import { parseLsnOrUndefined, parseTimelineHistory, replayTimeline } from "../contract/lsn";
import type { LocalSql } from "./sql";
import type { HostPort, PgStatus } from "./types";

/** Throws when the server does not answer; the caller turns that into running:false. */
export async function queryStatus(sql: LocalSql, pid: number, configuredUpstream: HostPort | null): Promise<PgStatus> {
  const [r] = await sql.query<StatusRow>(STATUS_SQL);
  const base: PgStatus = {
    running: true,
    pid,
    inRecovery: r.in_recovery,
    systemId: r.system_id,
    serverVersion: r.server_version,
    postmasterStartTime: r.start_time,
    pendingRestart: r.pending_restart === true,
  };
  if (!r.in_recovery) {
    const rep = await sql.query<ReplicationRow>(REPLICATION_SQL);
    return {
      ...base,
      lsn: parseLsnOrUndefined(r.write_lsn),
      timeline: r.walfile ? parseInt(r.walfile.slice(0, 8), 16) : undefined,
      history: parseTimelineHistory(r.history),
      synchronousStandbyNames: r.sync_names,
      replication: rep.map((x) => ({ ...x, replay_lsn: parseLsnOrUndefined(x.replay_lsn) })),
    };
  }
  const receiveLsn = parseLsnOrUndefined(r.receive_lsn);
  const replayLsn = parseLsnOrUndefined(r.replay_lsn);
  return {
    ...base,
    receiveLsn,
    replayLsn,
    replayTimeline: replayTimeline(r.wal_files?.split(",") ?? [], replayLsn, Number(r.wal_segment_size)),
    lsn: Math.max(receiveLsn ?? 0, replayLsn ?? 0) || undefined,
    timeline: Math.max(r.received_tli ?? 0, r.checkpoint_tli ?? 0) || undefined,
    streaming: r.wr_status === "streaming",
    upstreamEndLsn: parseLsnOrUndefined(r.latest_end_lsn),
    replayAgeS: r.replay_age_s === null ? undefined : Math.max(0, Number(r.replay_age_s)),
    upstream: r.sender_host && r.sender_port ? { host: r.sender_host, port: r.sender_port } : (configuredUpstream ?? undefined),
  };
}

interface StatusRow {
  in_recovery: boolean;
  server_version: number;
  start_time: string;
  system_id: string;
  write_lsn: string | null;
  walfile: string | null;
  receive_lsn: string | null;
  replay_lsn: string | null;
  checkpoint_tli: number | null;
  wr_status: string | null;
  sender_host: string | null;
  sender_port: number | null;
  latest_end_lsn: string | null;
  replay_age_s: number | string | null;
  received_tli: number | null;
  sync_names: string;
  history: string | null;
  wal_files: string | null;
  wal_segment_size: string;
  pending_restart: boolean | null;
}

interface ReplicationRow {
  application_name: string;
  client_addr: string | null;
  state: string;
  sync_state: string;
  replay_lsn: string | null;
}

// CASE keeps the primary-only functions (they raise during recovery) from being evaluated on a replica.
const STATUS_SQL = `
SELECT pg_is_in_recovery() AS in_recovery,
       current_setting('server_version_num')::int AS server_version,
       pg_postmaster_start_time()::text AS start_time,
       (SELECT system_identifier::text FROM pg_control_system()) AS system_id,
       CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END AS write_lsn,
       CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_walfile_name(pg_current_wal_lsn()) END AS walfile,
       pg_last_wal_receive_lsn()::text AS receive_lsn,
       pg_last_wal_replay_lsn()::text AS replay_lsn,
       (SELECT timeline_id FROM pg_control_checkpoint()) AS checkpoint_tli,
       w.status AS wr_status, w.sender_host, w.sender_port, w.received_tli, w.latest_end_lsn::text AS latest_end_lsn,
       -- How old the last replayed commit is (a standby leader's lag behind its source, in seconds).
       extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 AS replay_age_s,
       current_setting('synchronous_standby_names') AS sync_names,
       -- The primary's timeline history, which replicas check their position against (none on timeline 1).
       CASE WHEN pg_is_in_recovery() THEN NULL
            ELSE pg_read_file('pg_wal/' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) || '.history', 0, 1048576, true) END AS history,
       -- A replica's WAL segment names: which timeline it replays (lsn.ts replayTimeline).
       CASE WHEN pg_is_in_recovery() THEN (SELECT string_agg(name, ',') FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}$') END AS wal_files,
       (SELECT setting FROM pg_settings WHERE name = 'wal_segment_size') AS wal_segment_size,
       -- A parameter changed in a file and reloaded that only a restart applies (shown as pending_restart).
       (SELECT bool_or(pending_restart) FROM pg_settings) AS pending_restart
FROM (SELECT 1) AS one LEFT JOIN pg_stat_wal_receiver AS w ON true`;

const REPLICATION_SQL = `
SELECT application_name, client_addr::text AS client_addr, state, sync_state, replay_lsn::text AS replay_lsn
FROM pg_stat_replication ORDER BY application_name`;
