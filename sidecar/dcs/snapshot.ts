/**
 * Turns the raw key-values of one range read into a `ClusterSnapshot`. Pure and shared by `EtcdDcs`
 * and `MemoryDcs`, so both read etcd contents the same way. etcd contents are untrusted input (an
 * operator with etcdctl, an older agent, a bug): a value that does not parse is listed in `corrupt`
 * and treated as absent, never thrown.
 */
import { z } from "zod";
import { rollStateSchema } from "./roll-state";
import { hostReportSchema } from "../contract/topology";
import {
  KEYS,
  type BackupClaim,
  type ClusterSnapshot,
  type FailoverRequest,
  type HandOverKey,
  type LeaderKey,
  type Member,
  type MemberData,
} from "./types";

/** One key-value as read from etcd: key and value decoded to strings, lease id decimal ("0": none). */
export interface RawKv {
  key: string;
  value: string;
  lease: string;
  modRevision: number;
}

/** Validates a member key's JSON. Unknown fields are dropped (newer agents may publish more). */
export const memberDataSchema = z.object({
  conn_url: z.string().min(1),
  api_url: z.string().min(1),
  state: z.string(),
  role: z.enum(["primary", "replica", "standby_leader", "uninitialized", "demoted"]),
  xlog_location: z.number().int().nonnegative().optional(),
  timeline: z.number().int().positive().optional(),
  replication_state: z.string().optional(),
  history: z.array(z.tuple([z.number().int().positive(), z.number().int().nonnegative()])).optional(),
  tags: z.object({
    nofailover: z.boolean(),
    noloadbalance: z.boolean(),
    failover_priority: z.number().int().nonnegative(),
  }),
  version: z.string(),
  pause: z.boolean().optional(),
  pending_restart: z.boolean().optional(),
  pgbackrest: z
    .object({
      host: z.string().min(1),
      port: z.number().int().min(1).max(65535),
      pg_path: z.string().min(1),
      pg_port: z.number().int().min(1).max(65535),
      pg_socket_path: z.string().min(1),
      reaches: z.string().optional(),
    })
    .optional(),
  source_lag: z
    .object({
      source_lsn: z.number().int().nonnegative().optional(),
      bytes: z.number().int().nonnegative().optional(),
      seconds: z.number().nonnegative().optional(),
      streaming: z.boolean(),
    })
    .optional(),
}) satisfies z.ZodType<MemberData>;

/** Patroni's status key also carries slot positions; only optime matters here. */
const statusSchema = z.object({ optime: z.number().int().nonnegative() });

const syncSchema = z.object({
  leader: z.string().min(1),
  sync_standby: z.string().nullable().optional(),
  quorum: z.number().int().nonnegative().optional(),
});

const failoverSchema = z.object({
  leader: z.string().optional(),
  member: z.string().optional(),
  candidate: z.string().optional(),
  scheduled_at: z.string().optional(),
}) satisfies z.ZodType<FailoverRequest>;

const handoverSchema = z.object({ from: z.string().min(1), to: z.string().min(1) }) satisfies z.ZodType<HandOverKey>;

const configSchema = z.record(z.string(), z.unknown());

const failsafeSchema = z.record(z.string(), z.string());
/** Patroni's history lines: [timeline, switch LSN, reason?, time?, new leader?]. */
const historySchema = z.array(
  z.tuple(
    [z.number().int().positive(), z.number().int().nonnegative()],
    z.union([z.string(), z.null()]).transform((v) => v ?? ""),
  ),
);
const backupClaimSchema = z.object({
  slot: z.string().min(1),
  type: z.enum(["full", "diff", "incr"]),
  member: z.string().min(1),
  state: z.enum(["running", "done", "failed"]),
  started: z.string(),
  finished: z.string().optional(),
  error: z.string().optional(),
  lastSlot: z.string().optional(),
  label: z.string().optional(),
}) satisfies z.ZodType<BackupClaim>;

/** A member name is one path segment; it is also used as a replication slot name after mapping. */
export function isValidMemberName(name: string): boolean {
  return name.length > 0 && !name.includes("/") && name.trim() === name;
}

type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

/** JSON.parse then zod; the reason says which part failed, e.g. `tags.nofailover: expected boolean`. */
function parseJson<T>(schema: z.ZodType<T>, text: string): Parsed<T> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: `invalid JSON (${(err as Error).message})` };
  }
  const result = schema.safeParse(json);
  if (result.success) return { ok: true, value: result.data };
  const issues = result.error.issues.map((i) => `${i.path.length ? i.path.join(".") : "value"}: ${i.message}`);
  return { ok: false, reason: issues.join("; ") };
}

export function buildSnapshot(prefix: string, kvs: RawKv[], revision: number): ClusterSnapshot {
  const snapshot: ClusterSnapshot = { revision, members: [], corrupt: [] };
  const corrupt = (key: string, what: string) => snapshot.corrupt.push({ key, reason: `${key}: ${what}` });

  for (const kv of kvs) {
    if (!kv.key.startsWith(prefix)) continue;
    const rel = kv.key.slice(prefix.length);

    if (rel.startsWith(KEYS.members)) {
      const name = rel.slice(KEYS.members.length);
      if (!isValidMemberName(name)) {
        corrupt(kv.key, `"${name}" is not a valid member name`);
        continue;
      }
      const data = parseJson(memberDataSchema, kv.value);
      if (!data.ok) corrupt(kv.key, `not a member: ${data.reason}`);
      else snapshot.members.push({ name, data: data.value, leaseId: kv.lease, modRevision: kv.modRevision } satisfies Member);
      continue;
    }

    if (rel.startsWith(KEYS.hosts)) {
      const name = rel.slice(KEYS.hosts.length);
      const report = parseJson(hostReportSchema, kv.value);
      if (!isValidMemberName(name) || !report.ok) corrupt(kv.key, `not a host report: ${report.ok ? "bad name" : report.reason}`);
      else (snapshot.hosts ??= {})[name] = report.value;
      continue;
    }

    switch (rel) {
      case KEYS.initialize:
        snapshot.initialize = kv.value;
        break;
      case KEYS.leader: {
        const name = kv.value.trim();
        if (name === "") corrupt(kv.key, "empty leader name; treated as no leader");
        else snapshot.leader = { name, leaseId: kv.lease, modRevision: kv.modRevision } satisfies LeaderKey;
        break;
      }
      case KEYS.status: {
        const status = parseJson(statusSchema, kv.value);
        if (status.ok) snapshot.leaderOptime = status.value.optime;
        else corrupt(kv.key, `expected {"optime": <bytes>}: ${status.reason}`);
        break;
      }
      case KEYS.failover: {
        const request = parseJson(failoverSchema, kv.value);
        if (request.ok) snapshot.failover = request.value;
        else corrupt(kv.key, `not a failover request: ${request.reason}`);
        break;
      }
      case KEYS.handover: {
        const h = parseJson(handoverSchema, kv.value);
        if (h.ok) snapshot.handover = h.value;
        else corrupt(kv.key, `expected {"from": "<member>", "to": "<member>"}: ${h.reason}`);
        break;
      }
      case KEYS.sync: {
        const sync = parseJson(syncSchema, kv.value);
        if (!sync.ok) corrupt(kv.key, `expected {"leader": <name>, "sync_standby": "<name>[,<name>]"}: ${sync.reason}`);
        else {
          const standbys = (sync.value.sync_standby ?? "")
            .split(",")
            .map((s) => s.trim())
            .filter(Boolean);
          snapshot.sync = { leader: sync.value.leader, standbys, modRevision: kv.modRevision };
          if (sync.value.quorum !== undefined) snapshot.sync.quorum = sync.value.quorum;
        }
        break;
      }
      case KEYS.config: {
        snapshot.configModRevision = kv.modRevision;
        const config = parseJson(configSchema, kv.value);
        if (config.ok) snapshot.config = config.value;
        else corrupt(kv.key, `expected a JSON object: ${config.reason}`);
        break;
      }
      case KEYS.failsafe: {
        const failsafe = parseJson(failsafeSchema, kv.value);
        if (failsafe.ok) snapshot.failsafe = failsafe.value;
        else corrupt(kv.key, `expected {"<member>": "<api_url>", ...}: ${failsafe.reason}`);
        break;
      }
      case KEYS.history: {
        const history = parseJson(historySchema, kv.value);
        if (history.ok) snapshot.history = history.value;
        else corrupt(kv.key, `expected [[timeline, switch LSN, reason, time, leader], ...]: ${history.reason}`);
        break;
      }
      case KEYS.backup: {
        const claim = parseJson(backupClaimSchema, kv.value);
        if (claim.ok) snapshot.backup = { claim: claim.value, raw: kv.value };
        else corrupt(kv.key, `not a backup claim: ${claim.reason}`);
        break;
      }
      case KEYS.roll: {
        const roll = parseJson(rollStateSchema, kv.value);
        if (roll.ok) snapshot.roll = { state: roll.value, raw: kv.value };
        else corrupt(kv.key, `not a roll step: ${roll.reason}`);
        break;
      }
      default:
        break; // keys of newer versions: not part of the snapshot
    }
  }
  // Range results come sorted by key already; sort anyway so the fake and etcd agree by construction.
  snapshot.members.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return snapshot;
}
