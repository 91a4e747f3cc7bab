/** The local cluster's stand-in for `hapg host-report`: what a (re)started local host booted, in etcd's hosts/<name>. */
import { EtcdDcs } from "../dcs/etcd";
import { clusterPrefix } from "../dcs/types";
import { CLUSTER_NAME } from "./agents";
import type { ClusterFile } from "./state";

/** Writes hosts/<name> as a booting host does (hapg host-report on AWS): the revision it runs, a new instance id. */
export async function reportLocalBoot(c: Pick<ClusterFile, "etcd">, name: string, revision: string, instanceId: string): Promise<void> {
  const dcs = new EtcdDcs({ endpoints: c.etcd.map((e) => e.clientUrl), prefix: clusterPrefix("service", CLUSTER_NAME), timeoutMs: 5000 });
  try {
    await dcs.putHostReport(name, { revision, instanceId, bootedAt: new Date().toISOString() });
  } finally {
    await dcs.close().catch(() => undefined);
  }
}
