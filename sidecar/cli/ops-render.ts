/**
 * What `hapg list`, `history`, `topology` and `show-config` print: tables a person reads (like
 * patronictl's) and the JSON a script reads. Pure: the API's bodies in, text out.
 */
import Table from "cli-table3";
import { stringify } from "yaml";
import type { ClusterView } from "./ops-source";
import type { ArchiveStatus } from "../backup/archive-status";

type ViewMember = ClusterView["members"][number];

/** One member as `list --json` prints it. */
export interface ListRow {
  member: string;
  host: string;
  role: string;
  state: string;
  timeline: number | null;
  /** Bytes behind the leader; null on the leader or when unknown. */
  lag: number | null;
  pending_restart: boolean;
  tags: Record<string, unknown>;
}

export interface ListJson {
  cluster: string;
  paused: boolean;
  leader: string | null;
  members: ListRow[];
  /** WAL archiving on the leader (its /patroni `archive`), when the cluster archives. */
  archive?: ArchiveStatus;
  /** The roll step in progress or stalled. */
  roll?: ClusterView["roll"];
  /** A standby cluster: what it follows and how far its standby leader is behind (bytes while streaming, seconds). */
  standby?: StandbyLine;
}

export interface StandbyLine {
  /** host:port of the source's primary endpoint, and/or "archive" (restore_command). */
  source: string;
  lag_bytes: number | null;
  lag_seconds: number | null;
  streaming: boolean;
}

const LEADER_ROLES = ["leader", "standby_leader"];

/** The standby_cluster of the dynamic config and the standby leader's lag, when the cluster is a standby cluster. */
function standbyLine(view: ClusterView, config: Record<string, unknown>): StandbyLine | undefined {
  const s = config.standby_cluster as { host?: string; port?: number; restore_command?: string } | undefined;
  if (!s || typeof s !== "object") return undefined;
  const endpoint = s.host ? `${s.host}:${s.port ?? 5432}` : undefined;
  const source = [endpoint, s.restore_command ? "archive" : undefined].filter(Boolean).join(" + ");
  const lag = view.members.find((m) => m.role === "standby_leader")?.source_lag;
  return { source, lag_bytes: lag?.bytes ?? null, lag_seconds: lag?.seconds ?? null, streaming: lag?.streaming ?? false };
}

/** Tags whose values differ from the defaults (patronictl shows only those). */
const DEFAULT_TAGS: Record<string, unknown> = { nofailover: false, noloadbalance: false, failover_priority: 1 };

/** Maintenance mode is the dynamic config's `pause`, as in Patroni. */
export function isPaused(config: Record<string, unknown>): boolean {
  return config.pause === true;
}

export function listJson(view: ClusterView, config: Record<string, unknown>, archive?: ArchiveStatus): ListJson {
  const members = [...view.members].sort((a, b) => a.name.localeCompare(b.name)).map(toRow);
  return {
    cluster: view.scope,
    paused: isPaused(config),
    leader: view.members.find((m) => LEADER_ROLES.includes(m.role))?.name ?? null,
    members,
    ...(archive ? { archive } : {}),
    ...(standbyLine(view, config) ? { standby: standbyLine(view, config) } : {}),
    ...(view.roll ? { roll: view.roll } : {}),
  };
}

/** One line on archiving: the last WAL archived and how long ago, what waits, and why it fails. */
export function archiveText(a: ArchiveStatus): string {
  const last = a.last_archived_wal ? `last ${a.last_archived_wal} ${a.age_seconds ?? "?"} s ago` : "nothing archived yet";
  const waiting = `${a.ready_count} segment(s) waiting, ${a.failed_count} failure(s)`;
  return `WAL archive: ${last}, ${waiting}${a.problem ? `\nWAL archive FAILING: ${a.problem}` : ""}`;
}

function toRow(m: ViewMember): ListRow {
  return {
    member: m.name,
    host: m.port && m.port !== 5432 ? `${m.host}:${m.port}` : m.host,
    role: roleTitle(m.role),
    state: m.state,
    timeline: m.timeline ?? null,
    lag: LEADER_ROLES.includes(m.role) || typeof m.lag !== "number" ? null : m.lag,
    pending_restart: m.pending_restart === true,
    tags: Object.fromEntries(Object.entries(m.tags ?? {}).filter(([k, v]) => DEFAULT_TAGS[k] !== v)),
  };
}

function roleTitle(role: string): string {
  if (role === "sync_standby") return "Sync Standby";
  if (role === "standby_leader") return "Standby Leader";
  return role.charAt(0).toUpperCase() + role.slice(1);
}

/** A cli-table3 table without colour codes when stdout is not a terminal (pipes, logs, tests). */
function table(head: string[]): InstanceType<typeof Table> {
  const plain = process.stdout.isTTY !== true;
  return new Table({ head, style: { compact: true, ...(plain ? { head: [], border: [] } : {}) } });
}

function mb(bytes: number | null): string {
  if (bytes === null) return "";
  return bytes === 0 ? "0" : (bytes / 1024 / 1024).toFixed(bytes < 1024 * 1024 ? 3 : 0);
}

function tagsText(tags: Record<string, unknown>): string {
  return Object.entries(tags)
    .map(([k, v]) => `${k}: ${String(v)}`)
    .join("\n");
}

export function listText(j: ListJson): string {
  const t = table(["Member", "Host", "Role", "State", "TL", "Lag in MB", "Pending restart", "Tags"]);
  for (const m of j.members) {
    t.push([m.member, m.host, m.role, m.state, m.timeline ?? "", mb(m.lag), m.pending_restart ? "*" : "", tagsText(m.tags)]);
  }
  const leader = j.leader ? `leader ${j.leader}` : "NO LEADER";
  const archive = j.archive ? `\n${archiveText(j.archive)}` : "";
  const standby = j.standby ? `\n${standbyText(j.standby)}` : "";
  const roll = j.roll
    ? `\nRoll: ${j.roll.stalled ? `STOPPED at ${j.roll.host}: ${j.roll.stalled}` : `replacing ${j.roll.host} with revision ${j.roll.revision} since ${j.roll.since}`}`
    : "";
  return `Cluster: ${j.cluster} (${leader}, maintenance mode: ${j.paused ? "on — no automatic failover" : "off"})\n${t.toString()}${standby}${archive}${roll}`;
}

/** One line on a standby cluster: what it follows, and the standby leader's lag behind the source. */
export function standbyText(s: StandbyLine): string {
  const bytes = s.lag_bytes === null ? "? bytes" : `${s.lag_bytes} bytes`;
  const seconds = s.lag_seconds === null ? "? s" : `${s.lag_seconds} s`;
  const how = s.streaming ? "streaming" : "not streaming (archive only)";
  return `Standby cluster of ${s.source}: ${bytes}, ${seconds} behind the source (${how}); promote with hapg promote-cluster`;
}

/** "0/3000060", PostgreSQL's spelling of a WAL position. */
export function lsnText(bytes: number): string {
  return `${Math.floor(bytes / 2 ** 32)
    .toString(16)
    .toUpperCase()}/${(bytes % 2 ** 32).toString(16).toUpperCase()}`;
}

export interface HistoryRow {
  timeline: number;
  /** Where that timeline ended (the next one starts there), bytes. */
  lsn: number;
  lsn_text: string;
}

export function historyJson(rows: [number, number][]): HistoryRow[] {
  return rows.map(([timeline, lsn]) => ({ timeline, lsn, lsn_text: lsnText(lsn) }));
}

export function historyText(rows: HistoryRow[], current: number | undefined): string {
  const t = table(["TL", "LSN", "Ended at"]);
  for (const r of rows) t.push([r.timeline, r.lsn, r.lsn_text]);
  const now = current === undefined ? "" : `\nthe leader is on timeline ${current}`;
  if (rows.length === 0) return `no timeline change yet: the cluster has stayed on its first timeline${now}`;
  return `${t.toString()}${now}`;
}

export interface TopologyNode {
  member: string;
  role: string;
  state: string;
  host: string;
  lag: number | null;
  /** Who it replicates from (the leader for every replica: there is no cascading replication). */
  upstream: string | null;
}

/** The leader first, its replicas under it; members with no leader to follow last. */
export function topologyJson(view: ClusterView): TopologyNode[] {
  const rows = listJson(view, {}).members;
  const leader = rows.find((r) => r.role === "Leader" || r.role === "Standby Leader");
  const others = rows.filter((r) => r !== leader);
  const node = (r: ListRow, upstream: string | null): TopologyNode => ({
    member: r.member,
    role: r.role,
    state: r.state,
    host: r.host,
    lag: r.lag,
    upstream,
  });
  return [...(leader ? [node(leader, null)] : []), ...others.map((r) => node(r, leader?.member ?? null))];
}

export function topologyText(clusterName: string, nodes: TopologyNode[]): string {
  const t = table(["Member", "Host", "Role", "State", "Lag in MB"]);
  for (const n of nodes) t.push([n.upstream ? `+ ${n.member}` : n.member, n.host, n.role, n.state, mb(n.lag)]);
  return `Cluster: ${clusterName}\n${t.toString()}`;
}

/** The dynamic configuration as YAML (what patronictl show-config prints). */
export function configText(config: Record<string, unknown>): string {
  if (Object.keys(config).length === 0) return "{}  # no dynamic configuration in etcd: every member runs on its agent config\n";
  return stringify(config);
}
