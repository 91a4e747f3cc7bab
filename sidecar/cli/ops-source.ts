/**
 * Where the operator commands (`hapg list`, `history`, `topology`, `show-config`) read a cluster:
 * a member's REST API (`--api`), a local cluster's directory (`--dir`, through the agents' APIs it
 * records in cluster.json), or etcd itself (`--etcd` + `--cluster`, with the agent's own client and
 * TLS files; or `--config`, a node's agent config, which names all of them). Each source answers the
 * same three questions with the API's bodies, so the commands render one shape whatever the source.
 * Bad flags are refused before anything is contacted.
 */
import type { SourceLag } from "../dcs/types";
import * as fs from "node:fs";
import * as path from "node:path";
import { clusterBody } from "../api/health";
import { configBody, historyBody } from "../api/read-routes";
import { loadAgentConfig } from "../config/load";
import { clusterPrefix } from "../dcs/types";
import { HttpError, type HttpResponse, failureKind, sendOnce } from "../http/client";
import { oneRound, withRetry } from "../http/retry";
import { readCaFile } from "../http/transport";
import { DEFAULT_CLI_CONFIG, defaultCliConfigFile, loadCliConfig } from "../contract/cli-config";
import { cliConfigCa } from "./cli-targets";

/** GET /cluster (Patroni's shape; `pending_restart` when a member reports it). */
export interface ClusterView {
  scope: string;
  members: {
    name: string;
    role: string;
    state: string;
    host: string;
    port: number;
    api_url?: string;
    timeline?: number;
    lag?: number;
    pending_restart?: boolean;
    tags?: Record<string, unknown>;
    /** A standby leader's lag behind the source cluster (GET /cluster). */
    source_lag?: SourceLag;
  }[];
  /** The roll step in progress (GET /cluster's `roll`, docs/day2.md). */
  roll?: { host: string; revision: string; since: string; stalled?: string };
}

export interface ClusterSource {
  /** Where it reads, for messages ("--api http://...", "--etcd ..."). */
  readonly where: string;
  /** The CA the members' https:// APIs chain to, when the source knows it (the commands that call a member use it). */
  readonly ca?: Buffer;
  cluster(): Promise<ClusterView>;
  history(): Promise<[number, number][]>;
  config(): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

export interface SourceFlags {
  api?: string;
  dir?: string;
  etcd?: string;
  config?: string;
  cluster?: string;
  namespace?: string;
  cacert?: string;
  cert?: string;
  key?: string;
  timeout?: string;
}

/** A refused flag: the CLI prints the message and exits 2, having contacted nothing. */
export class FlagError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FlagError";
  }
}

const WHERE_HELP =
  "--api URL (a member's REST API, e.g. http://10.0.1.10:8008), --dir DIR (a local cluster), --config FILE (a node's agent config) " +
  "or --etcd URL --cluster NAME";

/** Checks the flags and builds the source they name. Pure apart from reading the files it is given. */
export function sourceFromFlags(f: SourceFlags): ClusterSource {
  const given = (["api", "dir", "etcd", "config"] as const).filter((k) => f[k] !== undefined);
  if (given.length > 1) throw new FlagError(`${given.map((g) => `--${g}`).join(" and ")}: give only one of them (${WHERE_HELP})`);
  const timeoutMs = parseTimeout(f.timeout);
  if (given.length === 0) {
    // On a node the user-data wrote the CLI config: no flag needed.
    const file = defaultCliConfigFile();
    if (!file) throw new FlagError(`say where the cluster is: ${WHERE_HELP} (or write ${DEFAULT_CLI_CONFIG}, as on every AWS node)`);
    const c = loadCliConfig(file);
    return new ApiSource(
      c.api.urls.map((u) => apiBase(u, `${file}: api.urls`)),
      `${file} (${c.cluster})`,
      timeoutMs,
      cliConfigCa(file, c),
    );
  }
  if (f.api !== undefined) {
    const ca = f.cacert === undefined ? undefined : readCaFile(f.cacert, "--cacert");
    return new ApiSource([apiBase(f.api, "--api")], `--api ${f.api}`, timeoutMs, ca);
  }
  if (f.dir !== undefined) return new ApiSource(apiUrlsOfDir(f.dir), `--dir ${f.dir}`, timeoutMs);
  if (f.config !== undefined) return etcdSourceOfConfig(f.config, timeoutMs);
  return etcdSource(f, timeoutMs);
}

function parseTimeout(v: string | undefined): number {
  if (v === undefined) return 3000;
  const s = Number(v);
  if (!(s > 0)) throw new FlagError(`--timeout "${v}": give the seconds to wait for an answer, a number above 0 (default 3)`);
  return s * 1000;
}

/** "http://host:8008", "http://host:8008/patroni" → "http://host:8008". */
function apiBase(v: string, flag: string): string {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new FlagError(`${flag} "${v}": not a URL: give a member's REST API like http://10.0.1.10:8008`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new FlagError(`${flag} "${v}": use an http:// or https:// URL of a member's REST API, like http://10.0.1.10:8008`);
  }
  return `${u.origin}${u.pathname.replace(/\/(patroni|cluster)?\/*$/, "")}`;
}

/** The agents' API URLs a local cluster's cluster.json records. */
function apiUrlsOfDir(dir: string): string[] {
  const file = path.join(path.resolve(dir), "cluster.json");
  if (!fs.existsSync(file)) {
    throw new FlagError(
      `--dir ${dir}: no cluster.json there: give the directory a local cluster runs in (the --dir of \`hapg local up\`, ` +
        "by default /tmp/hapg-local), or reach a member with --api URL",
    );
  }
  let nodes: unknown;
  try {
    nodes = (JSON.parse(fs.readFileSync(file, "utf8")) as { nodes?: unknown }).nodes;
  } catch (e) {
    throw new FlagError(`--dir ${dir}: ${file} is not JSON (${(e as Error).message}): is it a cluster.json written by \`hapg local up\`?`);
  }
  const urls = Array.isArray(nodes) ? nodes.map((n) => (n as { apiUrl?: unknown }).apiUrl).filter((u) => typeof u === "string") : [];
  if (urls.length === 0)
    throw new FlagError(`--dir ${dir}: ${file} names no node API URL: is it a cluster.json written by \`hapg local up\`?`);
  return urls.map((u) => apiBase(u, `${file}: apiUrl`));
}

class ApiSource implements ClusterSource {
  constructor(
    private readonly bases: string[],
    readonly where: string,
    private readonly timeoutMs: number,
    /** The cluster CA for https:// APIs. */
    readonly ca?: Buffer,
  ) {}

  /**
   * GET from the first member that answers 200 (each reads the same etcd): one round over the
   * members by the one retry policy (../http/retry.ts), each member given the --timeout.
   */
  private async get<T>(p: string): Promise<T> {
    const problems: string[] = [];
    const n = this.bases.length;
    const run = { timeoutMs: this.timeoutMs * n, idempotent: true, targets: n, policy: oneRound(n), classify: failureKind };
    try {
      return await withRetry(run, async (i, budgetMs) => {
        const base = this.bases[i % n];
        let res: HttpResponse;
        try {
          res = await sendOnce(base + p, { timeoutMs: budgetMs, tls: this.ca ? { ca: this.ca } : undefined });
        } catch (e) {
          const err = e as HttpError;
          // A network error is said by its code (ECONNREFUSED); a TLS one (a CA that does not match) by its message and code.
          const why = err.code && /^E[A-Z]+$/.test(err.code) ? err.code : err.code ? `${err.message} (${err.code})` : err.message;
          problems.push(`${base}${p}: ${why}`);
          throw e;
        }
        if (res.status !== 200) {
          problems.push(`${base}${p} answered ${res.status}: ${res.text.slice(0, 200)}`);
          throw new HttpError("unavailable", `answered ${res.status}`);
        }
        try {
          return JSON.parse(res.text) as T;
        } catch (e) {
          problems.push(`${base}${p}: ${(e as Error).message}`);
          throw new HttpError("unavailable", (e as Error).message);
        }
      });
    } catch {
      // problems says why, member by member
    }
    throw new Error(
      `${this.where}: no agent's REST API answered (${problems.join("; ")}): check the URL (a member's API, port 8008 on a node) ` +
        "and that the agent runs there, or give another member",
    );
  }

  cluster(): Promise<ClusterView> {
    return this.get<ClusterView>("/cluster");
  }
  history(): Promise<[number, number][]> {
    return this.get<[number, number][]>("/history");
  }
  config(): Promise<Record<string, unknown>> {
    return this.get<Record<string, unknown>>("/config");
  }
  async close(): Promise<void> {}
}

/** etcd as a node's agent reads it: endpoints, TLS files, credentials, namespace and cluster from its config. */
function etcdSourceOfConfig(file: string, timeoutMs: number): ClusterSource {
  if (!fs.existsSync(file))
    throw new FlagError(`--config ${file}: no such file: give the agent config of a node (/etc/hapg/agent.json on AWS)`);
  // The agent's own reader and schema: the same file the agent runs on, refused for the same reasons.
  const c = loadAgentConfig(file);
  const password = c.etcd.passwordFile ? fs.readFileSync(c.etcd.passwordFile, "utf8").trim() : undefined;
  const ca = c.api.tls ? readCaFile(c.api.tls.caFile, `--config ${file}: api.tls.caFile`) : undefined;
  const source = etcdReader(
    {
      endpoints: c.etcd.endpoints,
      namespace: c.namespace,
      scope: c.cluster,
      caFile: c.etcd.caFile,
      certFile: c.etcd.certFile,
      keyFile: c.etcd.keyFile,
      username: c.etcd.username,
      password,
    },
    `--config ${file}`,
    timeoutMs,
  );
  return { ...source, ca };
}

interface EtcdAccess {
  endpoints: string[];
  namespace: string;
  scope: string;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  username?: string;
  password?: string;
}

function etcdSource(f: SourceFlags, timeoutMs: number): ClusterSource {
  if (!f.cluster)
    throw new FlagError("--cluster: required with --etcd: the cluster's name (the agent config's `cluster`, `scope` in /patroni)");
  const endpoints = f.etcd!.split(",").map((e) => e.trim());
  for (const e of endpoints) apiBase(e, "--etcd");
  if ((f.cert === undefined) !== (f.key === undefined)) {
    throw new FlagError(
      `${f.cert === undefined ? "--cert" : "--key"}: give --cert and --key together (the client certificate and its key)`,
    );
  }
  for (const [flag, file] of [
    ["--cacert", f.cacert],
    ["--cert", f.cert],
    ["--key", f.key],
  ] as const) {
    if (file !== undefined && !fs.existsSync(file)) throw new FlagError(`${flag} ${file}: no such file: give the PEM file's path`);
  }
  const access = { endpoints, namespace: f.namespace ?? "service", scope: f.cluster, caFile: f.cacert, certFile: f.cert, keyFile: f.key };
  return etcdReader(access, `--etcd ${f.etcd} --cluster ${f.cluster}`, timeoutMs);
}

function etcdReader(a: EtcdAccess, where: string, timeoutMs: number): ClusterSource {
  const { namespace, scope } = a;
  // Loaded here, not at the top: only this source talks to etcd.
  const load = async () => {
    const { EtcdDcs } = await import("../dcs/etcd");
    const dcs = new EtcdDcs({
      endpoints: a.endpoints,
      prefix: clusterPrefix(namespace, scope),
      timeoutMs,
      caFile: a.caFile,
      certFile: a.certFile,
      keyFile: a.keyFile,
      username: a.username,
      password: a.password,
    });
    try {
      const snap = await dcs.load();
      if (snap.members.length === 0 && snap.initialize === undefined) {
        throw new Error(
          `${where}: no cluster "${scope}" under /${namespace}/ in etcd: check --cluster (and --namespace, default "service")`,
        );
      }
      return snap;
    } catch (e) {
      if ((e as Error).message.startsWith(where)) throw e;
      // One line: TLS errors carry OpenSSL's multi-line text.
      const why = (e as Error).message.replace(/\s+/g, " ").trim();
      throw new Error(`${where}: cannot read etcd (${why}): check the endpoints and the TLS files (--cacert, --cert, --key)`, {
        cause: e,
      });
    } finally {
      await dcs.close().catch(() => undefined);
    }
  };
  return {
    where,
    cluster: async () => clusterBody(scope, await load()) as ClusterView,
    history: async () => historyBody(await load()),
    config: async () => configBody(await load()),
    close: async () => undefined,
  };
}
