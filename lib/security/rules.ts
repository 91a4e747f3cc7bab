/**
 * Who may talk to whom, as data: each port is opened only to the group that needs it. Pure, so the
 * tests read the table and the component turns each row into one rule resource.
 *
 * Groups: `clients` (egress to the listeners only; clients join it), `nlb` (the load balancer), `nodes` (PostgreSQL
 * hosts: PostgreSQL, agent API, HAProxy, and etcd when colocated), `etcd` (dedicated etcd members).
 */
import { NODE_PORTS, Routing } from "../args/types";

export type GroupRole = "clients" | "nlb" | "nodes" | "etcd";

export interface RuleSpec {
  /** The group the rule belongs to. */
  group: GroupRole;
  direction: "ingress" | "egress";
  fromPort: number;
  toPort: number;
  /** The other side: another of our groups, or "anywhere" (egress only: apt, S3, SSM over 80/443). */
  peer: GroupRole | "anywhere";
  description: string;
}

/** Ports on the nodes that the NLB sends traffic to (and checks). */
export function nlbTargetPorts(routing: Routing): number[] {
  return routing === "haproxy" ? [NODE_PORTS.haproxyPrimary, NODE_PORTS.haproxyReplica] : [NODE_PORTS.postgres, NODE_PORTS.agentApi];
}

/** Rules between our own groups. Client ingress from user CIDRs and groups is added by the component. */
export function internalRules(opts: {
  routing: Routing;
  etcdPlacement: "dedicated" | "colocated";
  listenerPorts: number[];
  /** Backups on: the nodes reach each other's pgBackRest TLS server (backups taken on a replica). */
  backup?: boolean;
}): RuleSpec[] {
  const rules: RuleSpec[] = [];
  // An egress rule on the sender and an ingress rule on the receiver: our groups deny both by default.
  const both = (receiver: GroupRole, sender: GroupRole, port: number, description: string) => {
    rules.push({ group: sender, direction: "egress", fromPort: port, toPort: port, peer: receiver, description });
    rules.push({ group: receiver, direction: "ingress", fromPort: port, toPort: port, peer: sender, description });
  };
  // The clients' group gets the egress too: a group without egress rules sends nothing, and an
  // application instance may have no other group that allows it.
  for (const port of opts.listenerPorts) both("nlb", "clients", port, `clients to listener ${port}`);
  for (const port of nlbTargetPorts(opts.routing)) {
    both("nodes", "nlb", port, port === NODE_PORTS.agentApi ? "NLB health check of the agent /primary" : `NLB to node port ${port}`);
  }
  both("nodes", "nodes", NODE_PORTS.postgres, "replication, and HAProxy forwarding to the primary");
  both("nodes", "nodes", NODE_PORTS.agentApi, "HAProxy and peer checks of the agent API");
  if (opts.backup) both("nodes", "nodes", NODE_PORTS.pgbackrestServer, "pgBackRest TLS server: a replica's backup reaches the primary");
  if (opts.etcdPlacement === "dedicated") {
    both("etcd", "nodes", NODE_PORTS.etcdClient, "agents to etcd clients port");
    both("etcd", "etcd", NODE_PORTS.etcdClient, "etcd members to each other's client port");
    both("etcd", "etcd", NODE_PORTS.etcdPeer, "etcd peer traffic");
  } else {
    both("nodes", "nodes", NODE_PORTS.etcdClient, "agents to etcd client port");
    both("nodes", "nodes", NODE_PORTS.etcdPeer, "etcd peer traffic");
  }
  const hosts: GroupRole[] = opts.etcdPlacement === "dedicated" ? ["nodes", "etcd"] : ["nodes"];
  for (const group of hosts) {
    // Debian mirrors (http), S3, SSM and the SSM agent download (https), by whichever way out `egress`
    // chose: an Elastic IP, the subnets' NAT, or VPC endpoints (their addresses are in the VPC).
    rules.push({ group, direction: "egress", fromPort: 80, toPort: 80, peer: "anywhere", description: "apt mirrors" });
    rules.push({ group, direction: "egress", fromPort: 443, toPort: 443, peer: "anywhere", description: "S3, SSM and apt over HTTPS" });
  }
  return rules;
}
