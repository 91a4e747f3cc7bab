/**
 * `hapg host-report --plan FILE`: what this host booted (the plan's `host.revision`, the EC2 instance
 * id from IMDSv2, the boot time) written to etcd's `hosts/<name>` (not leased), once etcd answers.
 * The roll coordinator compares it with the topology's revision (../roll/decide.ts).
 */
import { readFileSync } from "node:fs";
import { EtcdDcs } from "../dcs/etcd";
import { clusterPrefix } from "../dcs/types";
import { etcdEndpoints } from "../topology/addresses";
import type { HostReport } from "../topology/schema";
import type { NodeInitPlan } from "./plan";

/** The boot time from /proc/uptime (ISO). */
export function bootedAt(now = Date.now()): string {
  const uptime = Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]);
  return new Date(now - uptime * 1000).toISOString();
}

/** This instance's id from IMDSv2; undefined off EC2. */
export async function instanceIdFromImds(): Promise<string | undefined> {
  const imds = "http://169.254.169.254/latest";
  try {
    const token = await fetch(`${imds}/api/token`, {
      method: "PUT",
      headers: { "X-aws-ec2-metadata-token-ttl-seconds": "60" },
      signal: AbortSignal.timeout(2000),
    }).then((r) => r.text());
    const r = await fetch(`${imds}/meta-data/instance-id`, {
      headers: { "X-aws-ec2-metadata-token": token },
      signal: AbortSignal.timeout(2000),
    });
    return r.ok ? (await r.text()).trim() : undefined;
  } catch {
    return undefined;
  }
}

export interface HostReportTarget {
  endpoints: string[];
  prefix: string;
  tls: { caFile?: string; certFile?: string; keyFile?: string };
}

/**
 * Where the report goes: the agent config's etcd client settings on a PostgreSQL node; on a host
 * with only an etcd member, the topology's members with the plan's etcd scheme and TLS files.
 */
export function reportTarget(plan: NodeInitPlan, topology: Parameters<typeof etcdEndpoints>[0] | undefined): HostReportTarget {
  if (!plan.cluster) throw new Error("host-report: the plan has no `cluster` (the etcd prefix to write under)");
  const prefix = clusterPrefix(plan.cluster.namespace, plan.cluster.name);
  const agentEtcd = (plan.agentConfig?.config as { etcd?: { endpoints?: string[]; caFile?: string; certFile?: string; keyFile?: string } })
    ?.etcd;
  if (agentEtcd?.endpoints?.length) return { endpoints: agentEtcd.endpoints, prefix, tls: agentEtcd };
  if (plan.etcd && topology) return { endpoints: etcdEndpoints(topology, plan.etcd.scheme), prefix, tls: plan.etcd };
  throw new Error("host-report: the plan names no etcd to write to (agentConfig.config.etcd, or etcd with topology)");
}

/** Writes the report, trying again until etcd takes it or waitMs passes. */
export async function writeHostReport(t: HostReportTarget, name: string, report: HostReport, waitMs: number): Promise<void> {
  const dcs = new EtcdDcs({ endpoints: t.endpoints, prefix: t.prefix, timeoutMs: 5000, ...t.tls });
  const deadline = Date.now() + waitMs;
  try {
    for (;;) {
      try {
        await dcs.putHostReport(name, report);
        return;
      } catch (e) {
        if (Date.now() >= deadline) throw new Error(`host-report: etcd did not take hosts/${name}: ${(e as Error).message}`, { cause: e });
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
  } finally {
    await dcs.close().catch(() => undefined);
  }
}
