/** The agent config's `topology`, `haproxy` and `roll` sections made into a TopologyKeeper (none without `topology`). */
import type { AgentConfig } from "../config/schema";
import type { EtcdDcs } from "../dcs/etcd";
import type { CandidateRules } from "../ha/switchover";
import type { Logger } from "../log";
import { awsReplacer, requestDirReplacer } from "../roll/replacer";
import { TopologyKeeper } from "./keeper";
import { topologySource } from "./source";

export function topologyKeeper(
  config: AgentConfig,
  dcs: EtcdDcs,
  isLeader: () => boolean,
  rules: () => CandidateRules,
  log: Logger,
): TopologyKeeper | undefined {
  const source = topologySource(config.topology);
  if (!source || !config.topology) return undefined;
  const r = config.roll;
  const replacer = !r ? undefined : "aws" in r.replacer ? awsReplacer(r.replacer.aws) : requestDirReplacer(r.replacer.requestDir);
  const h = config.haproxy;
  return new TopologyKeeper({
    name: config.name,
    source,
    readIntervalMs: config.topology.intervalSeconds * 1000,
    dcs,
    etcdScheme: config.etcd.endpoints[0].startsWith("https:") ? "https" : "http",
    etcdTls: { caFile: config.etcd.caFile, certFile: config.etcd.certFile, keyFile: config.etcd.keyFile },
    haproxy: h && {
      configFile: h.configFile,
      routing: {
        header: "Written by the hapg agent from the cluster's topology: edits are overwritten.",
        bindHost: h.bindHost,
        primaryPort: h.primaryPort,
        replicaPort: h.replicaPort,
        checkCaFile: h.checkCaFile,
      },
    },
    isLeader,
    rules,
    replacer,
    stepLimitMs: (r?.stepTimeoutSeconds ?? 900) * 1000,
    healthyLagBytes: r?.healthyLagBytes ?? 16 * 1024 * 1024,
    log,
  });
}
