/**
 * The API calls that change something (POST/DELETE/PATCH): switchover, failover, cancelling a
 * scheduled switchover; restart, reload and reinitialize of this member (./member-ops.ts); a failsafe leader's
 * confirmation round. When `api.authentication` is configured, each needs HTTP basic auth; a
 * request without or with wrong credentials gets 401, changes nothing and is logged once, without
 * the secret. Health endpoints (GET/HEAD/OPTIONS) stay open for load balancers.
 */
import { timingSafeEqual } from "node:crypto";
import type http from "node:http";
import type { ClusterSnapshot, Dcs } from "../dcs/types";
import type { CandidateRules } from "../ha/switchover";
import type { Logger } from "../log";
import { changeConfig, type ConfigRouteDeps } from "./config-routes";
import { checkFailoverRequest, type RequestKind } from "./failover-request";
import type { MemberOperations } from "./member-ops";
import type { Reply } from "./reply";
import { parseReinitRequest, parseRestartRequest } from "./restart-request";
import { BACKUP_TYPES, type BackupType } from "../backup/pgbackrest";
import type { BackupService } from "../backup/service";
import { promoteCluster, type PromoteClusterDeps } from "./promote-cluster";

export interface ApiCredentials {
  username: string;
  password: string;
}

export interface MutationDeps {
  dcs: Pick<Dcs, "load" | "attemptCreateFailover" | "putFailover">;
  /** A function: read at each request (the agent's next-loop settings, which etcd's config key may change). */
  rules: CandidateRules | (() => CandidateRules);
  /** Absent: mutating calls are open (as Patroni without restapi.authentication). */
  auth?: ApiCredentials;
  wallNow: () => number;
  /** How long POST /switchover waits for a switchover that is due now before answering 503. */
  waitMs: number;
  log: Logger;
  /** Restart, reload, reinitialize of this member. Absent: those paths answer 404. */
  operations?: Pick<MemberOperations, "restart" | "cancelScheduled" | "reload" | "reinitialize">;
  /** POST /failsafe: a failsafe leader asks this member to confirm it follows it (sidecar/ha/failsafe-keeper.ts). */
  failsafe?: { confirm(body: unknown): Reply };
  /** PATCH/PUT /config (./config-routes.ts). */
  config?: ConfigRouteDeps;
  /** POST /backup (absent: no backup repository). */
  backup?: Pick<BackupService, "requestBackup">;
  /** POST /promote-cluster (./promote-cluster.ts); absent: 404. */
  promoteCluster?: PromoteClusterDeps;
}

export type { Reply } from "./reply";

/** Paths and the methods that change something there. */
export const MUTATIONS: Record<string, string[]> = {
  "/switchover": ["POST", "DELETE"],
  "/failover": ["POST"],
  "/restart": ["POST", "DELETE"],
  "/reload": ["POST"],
  "/reinitialize": ["POST"],
  "/failsafe": ["POST"],
  "/config": ["PATCH", "PUT"],
  "/backup": ["POST"],
  "/promote-cluster": ["POST"],
};
/** What each path's body looks like, for the "not valid JSON" answer. */
const EXAMPLES: Record<string, string> = {
  "/switchover": `{"leader":"node1","candidate":"node2"}`,
  "/failover": `{"candidate":"node2"}`,
  "/restart": `{"restart_pending":true,"role":"replica"}`,
  "/reload": "{}",
  "/reinitialize": `{"force":false}`,
  "/failsafe": `{"name":"node1"}`,
  "/config": `{"postgresql":{"parameters":{"work_mem":"8MB"}}}`,
  "/backup": `{"type":"full"}`,
  "/promote-cluster": `{"force":false}`,
};
const MAX_BODY = 64 * 1024;
const POLL_MS = 100;

/** True when the Authorization header carries exactly these credentials (compared in constant time). */
export function basicAuthMatches(header: string | undefined, expected: ApiCredentials): boolean {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? "");
  if (!m) return false;
  const given = Buffer.from(m[1], "base64");
  const want = Buffer.from(`${expected.username}:${expected.password}`, "utf8");
  return given.length === want.length && timingSafeEqual(given, want);
}

export class Mutations {
  constructor(private readonly d: MutationDeps) {}

  async handle(req: http.IncomingMessage, method: string, path: string): Promise<Reply> {
    if (this.d.auth && !basicAuthMatches(req.headers.authorization, this.d.auth)) {
      const why = req.headers.authorization ? "wrong credentials" : "no credentials";
      this.d.log.warn({ method, path, from: req.socket.remoteAddress }, `refused ${method} ${path}: ${why}`);
      return {
        status: 401,
        body: { error: `${why}: ${method} ${path} needs HTTP basic auth with the user and password of api.authentication` },
        headers: { "WWW-Authenticate": 'Basic realm="hapg"' },
      };
    }
    const memberPath = path === "/restart" || path === "/reload" || path === "/reinitialize";
    const allowed = memberPath && !this.d.operations ? undefined : MUTATIONS[path];
    if (!allowed) {
      return {
        status: 404,
        body: { error: `unknown path ${path} for ${method}: the API changes things at ${Object.keys(MUTATIONS).join(", ")}` },
      };
    }
    if (!allowed.includes(method)) {
      return {
        status: 405,
        body: { error: `method ${method} is not allowed on ${path}: use ${allowed.join(" or ")}` },
        headers: { Allow: allowed.join(", ") },
      };
    }
    if (method === "DELETE") return path === "/restart" ? this.d.operations!.cancelScheduled() : this.cancel();
    const body = await readJson(req, EXAMPLES[path]);
    if (!body.ok) return { status: 400, body: { error: body.error } };
    if (path === "/backup") return this.backup(body.value);
    if (path === "/promote-cluster") {
      if (!this.d.promoteCluster) return { status: 404, body: { error: "this agent does not promote clusters" } };
      return promoteCluster(body.value, this.d.promoteCluster);
    }
    if (path === "/config") {
      if (!this.d.config) return { status: 503, body: { error: "this agent does not change the dynamic config" } };
      return changeConfig(method as "PATCH" | "PUT", body.value, this.d.config);
    }
    if (path === "/failsafe") {
      return this.d.failsafe?.confirm(body.value) ?? { status: 503, body: { error: "this agent does not take part in failsafe mode" } };
    }
    if (path === "/switchover" || path === "/failover") return this.request(path === "/switchover" ? "switchover" : "failover", body.value);
    return this.memberOperation(path, body.value);
  }

  /** /restart, /reload, /reinitialize: the body checked first (400 naming the field, nothing done). */
  private async memberOperation(path: string, body: unknown): Promise<Reply> {
    const ops = this.d.operations!;
    if (path === "/reload") return ops.reload();
    if (path === "/reinitialize") {
      const r = parseReinitRequest(body);
      return r.ok ? ops.reinitialize(r.force) : { status: r.status, body: { error: r.error } };
    }
    const r = parseRestartRequest(body, this.d.wallNow());
    if (!r.ok) {
      this.d.log.info({ status: r.status }, `restart refused: ${r.error}`);
      return { status: r.status, body: { error: r.error } };
    }
    return ops.restart(r.request);
  }

  /** POST /backup {"type": "full"|"diff"|"incr"}: 202 once it started on this member. */
  private async backup(body: unknown): Promise<Reply> {
    if (!this.d.backup) return { status: 404, body: { error: "no backup repository: the agent config has no backup section" } };
    const type = (body as { type?: unknown } | null)?.type ?? "full";
    if (typeof type !== "string" || !(BACKUP_TYPES as readonly string[]).includes(type)) {
      return { status: 400, body: { error: `type: ${JSON.stringify(type)} must be one of ${BACKUP_TYPES.join(", ")}` } };
    }
    const r = await this.d.backup.requestBackup(type as BackupType);
    if (r.status === 202) this.d.log.info({ type }, "backup requested through the API");
    return r;
  }

  private async cancel(): Promise<Reply> {
    const cluster = await this.d.dcs.load();
    const f = cluster.failover;
    if (!f?.scheduled_at) return { status: 404, body: { error: "no scheduled switchover to cancel" } };
    await this.d.dcs.putFailover(undefined);
    this.d.log.info({ request: f }, "scheduled switchover cancelled through the API");
    return { status: 200, body: { message: `scheduled switchover (at ${f.scheduled_at}) cancelled` } };
  }

  private async request(kind: RequestKind, body: unknown): Promise<Reply> {
    const cluster = await this.d.dcs.load();
    const checked = checkFailoverRequest(
      kind,
      body,
      cluster,
      this.d.wallNow(),
      typeof this.d.rules === "function" ? this.d.rules() : this.d.rules,
    );
    if (!checked.ok) {
      this.d.log.info({ kind, status: checked.status }, `${kind} refused: ${checked.error}`);
      return { status: checked.status, body: { error: checked.error } };
    }
    if (!(await this.d.dcs.attemptCreateFailover(checked.request))) {
      return { status: 412, body: { error: "another switchover is pending: wait for it, or cancel it with DELETE /switchover" } };
    }
    this.d.log.info({ kind, request: checked.request }, `${kind} requested`);
    if (checked.scheduledAt !== undefined) {
      return { status: 202, body: { message: `${kind} to ${checked.candidate} scheduled at ${checked.request.scheduled_at}` } };
    }
    return this.awaitOutcome(kind, cluster, checked.candidate);
  }

  /** Waits until the candidate holds the key (200), the request was dropped (503) or the time is up (503). */
  private async awaitOutcome(kind: RequestKind, before: ClusterSnapshot, candidate: string): Promise<Reply> {
    const done = kind === "switchover" ? "switched over" : "failed over";
    const deadline = Date.now() + this.d.waitMs;
    for (;;) {
      await new Promise((r) => setTimeout(r, POLL_MS));
      const now = await this.d.dcs.load().catch(() => undefined);
      const leader = now?.leader?.name;
      if (leader && leader !== before.leader?.name) return { status: 200, body: { message: `Successfully ${done} to "${leader}"` } };
      if (now && !now.failover && now.leader && now.leader.name === before.leader?.name) {
        return {
          status: 503,
          body: { error: `${kind} to ${candidate} did not happen: ${now.leader.name} stayed the leader (see its log for why)` },
        };
      }
      if (Date.now() >= deadline) {
        return { status: 503, body: { error: `${kind} to ${candidate} not finished within ${this.d.waitMs} ms: check GET /cluster` } };
      }
    }
  }
}

async function readJson(req: http.IncomingMessage, example: string): Promise<{ ok: true; value: unknown } | { ok: false; error: string }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) return { ok: false, error: `body: larger than ${MAX_BODY} bytes; send a small JSON object` };
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString("utf8").trim();
  if (!text) return { ok: true, value: {} };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (e) {
    return { ok: false, error: `body: not valid JSON (${(e as Error).message}); send e.g. ${example}` };
  }
}
