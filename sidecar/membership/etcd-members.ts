/**
 * etcd's runtime reconfiguration through its v3 gateway (`/v3/cluster/member/*`, served by etcd 3.4
 * to 3.6, the same transport as the agent's DCS: ../dcs/etcd-http.ts): list, add, remove, and each
 * member's own `/health`. Member ids are uint64 and stay decimal strings.
 */
import * as fs from "node:fs";
import { EtcdHttp } from "../dcs/etcd-http";
import { getJsonOrUndefined } from "../http/client";
import { NO_RETRY } from "../http/retry";

export interface EtcdMember {
  id: string;
  /** Empty for a member that was added but has not started yet. */
  name: string;
  peerUrls: string[];
  clientUrls: string[];
}

export interface EtcdTls {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

interface GwMember {
  ID?: string;
  name?: string;
  peerURLs?: string[];
  clientURLs?: string[];
}

const member = (m: GwMember): EtcdMember => ({
  id: String(m.ID ?? ""),
  name: m.name ?? "",
  peerUrls: m.peerURLs ?? [],
  clientUrls: m.clientURLs ?? [],
});

export class EtcdMembers {
  private readonly http: EtcdHttp;
  constructor(
    endpoints: string[],
    private readonly tls: EtcdTls = {},
    timeoutMs = 5000,
  ) {
    this.http = new EtcdHttp({ endpoints, timeoutMs, ...tls });
  }

  async list(): Promise<EtcdMember[]> {
    const r = await this.http.call<{ members?: GwMember[] }>("/v3/cluster/member/list", {});
    return (r.members ?? []).map(member);
  }

  /** `member add`: returns the new member's id and the member list including it. */
  async add(peerUrl: string): Promise<{ id: string; members: EtcdMember[] }> {
    const r = await this.http.call<{ member?: GwMember; members?: GwMember[] }>("/v3/cluster/member/add", { peerURLs: [peerUrl] });
    return { id: String(r.member?.ID ?? ""), members: (r.members ?? []).map(member) };
  }

  async remove(id: string): Promise<void> {
    await this.http.call("/v3/cluster/member/remove", { ID: id });
  }

  /** Each member's health by its client URLs (a member not started yet has none: unhealthy). */
  async health(members: EtcdMember[], timeoutMs = 2000): Promise<Record<string, boolean>> {
    const entries = await Promise.all(
      members.map(async (m) => [m.id, m.clientUrls.length > 0 && (await memberHealthy(m.clientUrls[0], this.tls, timeoutMs))] as const),
    );
    return Object.fromEntries(entries);
  }
}

/**
 * GET <clientUrl>/health answers {"health":"true"} once the member is part of a cluster with a leader.
 * One attempt: callers poll it in their own loop.
 */
export async function memberHealthy(clientUrl: string, tls: EtcdTls = {}, timeoutMs = 2000): Promise<boolean> {
  const read = (f: string | undefined) => (f ? fs.readFileSync(f) : undefined);
  const url = new URL("/health", clientUrl);
  const secure = url.protocol === "https:";
  const body = await getJsonOrUndefined<{ health?: unknown }>(url, {
    timeoutMs,
    tls: secure ? { ca: read(tls.caFile), cert: read(tls.certFile), key: read(tls.keyFile) } : undefined,
    retry: NO_RETRY,
  });
  return body?.health === "true";
}
