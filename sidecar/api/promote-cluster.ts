/**
 * POST /promote-cluster {"force": false}: a standby cluster stands alone (`hapg promote-cluster`).
 * It removes `standby_cluster` from etcd's config key (as `PATCH /config {"standby_cluster": null}`
 * would); the standby leader's next loop promotes it (row R3), and its replicas already follow it.
 *
 * Refused (409, nothing written) when the cluster is not a standby cluster, and, unless forced, while
 * the source still takes writes: its primary endpoint answers as a writable primary, which for a
 * cluster of ours means its leader holds its leader key (its proxy routes only to such a leader).
 * Two writable clusters would each lose the other's writes. An endpoint that does not answer (the
 * source's region is down) does not hold the promotion back.
 *
 * The answer says how far behind the source the standby leader was (its member key's lag, bytes and
 * seconds) and, once its member key says primary, how long the promotion took.
 */
import type { Dcs, SourceLag } from "../dcs/types";
import type { Logger } from "../log";
import { changeConfig, type ConfigRouteDeps } from "./config-routes";
import type { Reply } from "./reply";
import type { SourceProbe } from "../postgres/remote-probe";

export interface PromoteClusterDeps {
  dcs: Pick<Dcs, "load" | "attemptWriteConfig">;
  config: ConfigRouteDeps;
  /** Connects to host:port (the source's endpoint) and asks pg_is_in_recovery(), within a few seconds. */
  probe: (host: string, port: number) => Promise<SourceProbe>;
  log: Logger;
  /** How long to wait for the standby leader's member key to say primary. */
  waitMs: number;
}

const POLL_MS = 100;

/** The body: {} or {"force": true}. */
export function parsePromoteRequest(body: unknown): { ok: true; force: boolean } | { ok: false; error: string } {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return { ok: false, error: 'body: must be {} or {"force": true}' };
  for (const k of Object.keys(body))
    if (k !== "force") return { ok: false, error: `${k}: unknown field; the body is {"force": true|false}` };
  const force = (body as { force?: unknown }).force ?? false;
  if (typeof force !== "boolean") return { ok: false, error: "force: must be true or false" };
  return { ok: true, force };
}

export async function promoteCluster(body: unknown, d: PromoteClusterDeps): Promise<Reply> {
  const req = parsePromoteRequest(body);
  if (!req.ok) return { status: 400, body: { error: req.error } };
  const t0 = Date.now();
  const before = await d.dcs.load();
  const standby = before.config?.standby_cluster as { host?: string; port?: number } | undefined;
  if (!standby)
    return { status: 409, body: { error: "this cluster is not a standby cluster (no standby_cluster in its config): nothing to promote" } };
  let source: SourceProbe | undefined;
  if (standby.host) {
    source = await d.probe(standby.host, standby.port ?? 5432);
    if (source.state === "writable" && !req.force) {
      const at = `${standby.host}:${standby.port ?? 5432}`;
      d.log.warn({ source: at }, "promote-cluster refused: the source still takes writes");
      return {
        status: 409,
        body: {
          error:
            `the source's primary endpoint ${at} still takes writes (its leader holds its leader key): promoting now would leave ` +
            "two writable clusters. Stop the source (or wait until it is lost), or force it: hapg promote-cluster --force",
          source: source.state,
        },
      };
    }
  }
  const leaderName = before.leader?.name;
  const leader = leaderName ? before.members.find((m) => m.name === leaderName) : undefined;
  const lag: SourceLag | undefined = leader?.data.source_lag;
  const written = await changeConfig("PATCH", { standby_cluster: null }, d.config);
  if (written.status !== 200) return written;
  d.log.warn({ force: req.force, source: source?.state, lag }, "promote-cluster: standby_cluster removed; the standby leader promotes");
  const facts = {
    standby_leader: leaderName ?? null,
    source: source ? source.state : "not checked (archive-only standby cluster)",
    ...(source?.state === "unreachable" ? { source_error: source.error } : {}),
    behind_source: lag ? { bytes: lag.bytes ?? null, seconds: lag.seconds ?? null, source_lsn: lag.source_lsn ?? null } : null,
    last_received_lsn: leader?.data.xlog_location ?? null,
  };
  // Waits for the new primary: the leader key's holder publishing role primary.
  const deadline = Date.now() + d.waitMs;
  for (;;) {
    const now = await d.dcs.load().catch(() => undefined);
    const holder = now?.leader?.name;
    const m = holder ? now!.members.find((x) => x.name === holder) : undefined;
    if (m?.data.role === "primary") {
      const ms = Date.now() - t0;
      return { status: 200, body: { message: `promoted: ${holder} is the primary (${ms} ms)`, primary: holder, ms, ...facts } };
    }
    if (Date.now() >= deadline) {
      return {
        status: 202,
        body: {
          message: `standby_cluster removed; no primary yet after ${d.waitMs} ms (the standby leader promotes at its next loop): check GET /cluster`,
          ...facts,
        },
      };
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
