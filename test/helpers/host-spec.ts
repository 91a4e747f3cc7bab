/** The first host of a 3-node colocated cluster "orders", as `hostSpecs` resolves it, with the given HA settings. */
import { hostSpecs } from "../../lib/userdata/hosts";
import type { HaSettings } from "../../sidecar/contract/settings/schema";

export function colocatedPgNode(settings: HaSettings, sessionManager = false) {
  const nodes = [0, 1, 2].map((i) => ({ name: `pg-${i}`, privateIp: `10.0.0.${i + 1}` }));
  return hostSpecs({
    clusterName: "orders",
    ssmParameterPrefix: "/ha-postgres",
    architecture: "x86_64",
    sessionManager,
    bundle: { bucket: "b", key: "k" },
    nodes,
    etcdMembers: nodes,
    etcdPlacement: "colocated",
    volumeIds: { "pg-0": "vol-1", "pg-1": "vol-2", "pg-2": "vol-3" },
    postgres: { version: 17, allowedCidrs: ["10.0.0.0/16"], settings, routing: "haproxy" },
  })[0];
}
