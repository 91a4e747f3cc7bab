/**
 * The Network Load Balancer: a primary and a replica listener, each forwarding to a target group of
 * the nodes' fixed IPs (IP targets survive instance replacement without re-registration).
 *
 * routing "haproxy" (default): targets are HAProxy on every node (ports 5000/5001); the NLB only
 * checks that HAProxy is up (TCP), and HAProxy follows the agent's /primary every second. The NLB's
 * view never has to change on failover.
 *
 * routing "direct": targets are PostgreSQL (5432), checked over HTTPS on the agent's /primary or
 * /replica (8008). AWS's floor applies: a target is marked down or up only after ≥ 2 checks of
 * ≥ 5 s, so a failover is routed 10–20 s after it happens, and when no target is healthy the NLB
 * sends to all of them (fail open) — the agent's fencing, not the NLB, keeps writes safe then.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { NODE_PORTS, ResolvedClusterArgs, Routing } from "../args/types";
import { elbName } from "../naming/aws-names";
import { childName, resourceTags } from "../naming/names";

export type Pool = "primary" | "replica";

/** Health-check settings, set explicitly because the provider's defaults differ from AWS's. Pure. */
export function healthCheckFor(routing: Routing, pool: Pool): aws.types.input.lb.TargetGroupHealthCheck {
  const timing = { interval: 5, timeout: 3, healthyThreshold: 2, unhealthyThreshold: 2 };
  if (routing === "haproxy") {
    return { enabled: true, protocol: "TCP", port: "traffic-port", ...timing };
  }
  return {
    enabled: true,
    // The agent's API serves HTTPS with the cluster CA's certificate; the NLB checks over TLS without
    // verifying it (AWS documents that), which is all a health check needs.
    protocol: "HTTPS",
    port: String(NODE_PORTS.agentApi),
    path: pool === "primary" ? "/primary" : "/replica",
    matcher: "200",
    ...timing,
  };
}

/** The node port a pool's targets listen on. Pure. */
export function targetPortFor(routing: Routing, pool: Pool): number {
  if (routing === "direct") return NODE_PORTS.postgres;
  return pool === "primary" ? NODE_PORTS.haproxyPrimary : NODE_PORTS.haproxyReplica;
}

export interface LoadBalancer {
  nlb: aws.lb.LoadBalancer;
  targetGroups: Record<Pool, aws.lb.TargetGroup>;
}

export function createLoadBalancer(
  name: string,
  args: ResolvedClusterArgs,
  network: { vpcId: pulumi.Input<string>; subnetIds: pulumi.Input<string[]> },
  securityGroupId: pulumi.Input<string>,
  parent: pulumi.Resource,
): LoadBalancer {
  const tags = resourceTags(args.tags, args.clusterName);
  const nlb = new aws.lb.LoadBalancer(
    childName(name, "nlb"),
    {
      // The scheme and type are what replace a load balancer: only they change its name.
      name: elbName(args.clusterName, "nlb", ["network", args.publicLoadBalancer ? "internet-facing" : "internal"]),
      loadBalancerType: "network",
      internal: !args.publicLoadBalancer,
      subnets: network.subnetIds,
      securityGroups: [securityGroupId],
      // Every node's HAProxy reaches the primary, so any zone's targets serve every client.
      enableCrossZoneLoadBalancing: true,
      tags: resourceTags(args.tags, args.clusterName, childName(args.clusterName, "nlb")),
    },
    { parent },
  );
  const pool = (p: Pool, listenerPort: number): aws.lb.TargetGroup => {
    const tg = new aws.lb.TargetGroup(
      childName(name, `tg-${p}`),
      {
        // Port, protocol, target type and VPC replace a target group: they are in its name's hash.
        name: pulumi
          .output(network.vpcId)
          .apply((vpcId) =>
            elbName(args.clusterName, p === "primary" ? "tgp" : "tgr", [vpcId, "ip", "TCP", targetPortFor(args.routing, p)]),
          ),
        vpcId: network.vpcId,
        targetType: "ip",
        protocol: "TCP",
        port: targetPortFor(args.routing, p),
        healthCheck: healthCheckFor(args.routing, p),
        // Connections to a target are drained for 10 s, not AWS's 300 s: a demoted primary must
        // not keep clients.
        deregistrationDelay: 10,
        connectionTermination: true,
        targetHealthStates: [{ enableUnhealthyConnectionTermination: true }],
        tags,
      },
      { parent },
    );
    new aws.lb.Listener(
      childName(name, `listener-${p}`),
      {
        loadBalancerArn: nlb.arn,
        port: listenerPort,
        protocol: "TCP",
        defaultActions: [{ type: "forward", targetGroupArn: tg.arn }],
        tags,
      },
      { parent },
    );
    return tg;
  };
  return {
    nlb,
    targetGroups: { primary: pool("primary", args.listenerPorts.primary), replica: pool("replica", args.listenerPorts.replica) },
  };
}

/** Registers a node's fixed IP in both target groups. */
export function attachNode(
  name: string,
  host: string,
  ip: pulumi.Input<string>,
  lb: LoadBalancer,
  routing: Routing,
  parent: pulumi.Resource,
  dependsOn: pulumi.Resource[],
): void {
  for (const p of ["primary", "replica"] as const) {
    new aws.lb.TargetGroupAttachment(
      childName(name, `${host}-tg-${p}`),
      { targetGroupArn: lb.targetGroups[p].arn, targetId: ip, port: targetPortFor(routing, p) },
      { parent, dependsOn },
    );
  }
}
