/**
 * The agent config the component renders for its first PostgreSQL node, from args as a user writes
 * them: validateClusterArgs, then the same hostSpecs and agent-config renderer the component uses,
 * with made-up addresses (the HA settings in the config do not depend on them).
 */
import { HaPostgresClusterArgs } from "../../lib";
import { agentConfigForNode } from "../../lib/userdata/agent-config";
import { hostSpecs } from "../../lib/userdata/hosts";
import { validateClusterArgs } from "../../lib/args/validate";

const nodes = [0, 1, 2].map((i) => ({ name: `pg-${i}`, privateIp: `10.0.1.${10 + i}` }));

/** Throws ClusterArgsError when the component refuses the args. */
export function renderedNodeConfig(args: HaPostgresClusterArgs): unknown {
  const r = validateClusterArgs("db", args);
  const specs = hostSpecs({
    clusterName: r.clusterName,
    ssmParameterPrefix: r.ssmParameterPrefix,
    architecture: r.architecture,
    sessionManager: r.sessionManager,
    bundle: { bucket: "b", key: "k" },
    nodes,
    etcdMembers: nodes,
    etcdPlacement: "colocated",
    volumeIds: Object.fromEntries(nodes.map((n) => [n.name, `vol-${n.name}`])),
    postgres: { version: r.postgres.version, allowedCidrs: ["10.0.0.0/16"], settings: r.settings, routing: r.routing },
  });
  return agentConfigForNode(specs[0]);
}
