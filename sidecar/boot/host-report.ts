/**
 * `hapg host-report --plan FILE`: what this host booted (the plan's `host.revision`, the EC2 instance
 * id from IMDSv2, the boot time) written to etcd's `hosts/<name>` (not leased), once etcd answers.
 * The roll coordinator compares it with the topology's revision (../roll/decide.ts).
 */
import { readFileSync } from "node:fs";
import { EtcdDcs } from "../dcs/etcd";
import { clusterPrefix } from "../dcs/types";
import { etcdEndpoints } from "../topology/addresses";
import type { HostReport } from "../contract/topology";
import { imdsGet } from "./imds";
import type { NodeInitPlan } from "../contract/boot-plan";

/** The boot time from /proc/uptime (ISO). */
export function bootedAt(now = Date.now()): string {
  const uptime = Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]);
  return new Date(now - uptime * 1000).toISOString();
}

/** This instance's id from IMDSv2; undefined off EC2. */
export const instanceIdFromImds = () => imdsGet("meta-data/instance-id");

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
