/**
 * Security groups and their rules (one `aws.vpc.SecurityGroup{Ingress,Egress}Rule` per row of
 * `internalRules`, plus client ingress from the CIDRs and groups the user allowed).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { ResolvedClusterArgs } from "../args/types";
import { childName, resourceTags } from "../naming/names";
import { GroupRole, internalRules } from "./rules";

export type SecurityGroups = Record<GroupRole, aws.ec2.SecurityGroup>;

export function createSecurityGroups(
  name: string,
  args: ResolvedClusterArgs,
  vpcId: pulumi.Input<string>,
  parent: pulumi.Resource,
): SecurityGroups {
  const opts = { parent };
  const group = (role: GroupRole, description: string) =>
    new aws.ec2.SecurityGroup(
      childName(name, `sg-${role}`),
      {
        vpcId,
        description,
        // No inline rules: the provider then removes AWS's default allow-all egress rule, and each
        // allowed flow is a separate rule resource below.
        tags: resourceTags(args.tags, args.clusterName, childName(args.clusterName, role)),
      },
      opts,
    );
  const groups: Partial<SecurityGroups> = {
    clients: group("clients", `Clients of HA PostgreSQL ${args.clusterName}: join to reach the listeners`),
    nlb: group("nlb", `Load balancer of HA PostgreSQL ${args.clusterName}`),
    nodes: group("nodes", `PostgreSQL nodes of HA PostgreSQL ${args.clusterName}`),
  };
  // Colocated etcd runs on the nodes: its rules are on the nodes group.
  groups.etcd = args.etcd.placement === "dedicated" ? group("etcd", `etcd members of HA PostgreSQL ${args.clusterName}`) : groups.nodes;
  const sgs = groups as SecurityGroups;

  const listenerPorts = [args.listenerPorts.primary, args.listenerPorts.replica];
  internalRules({ routing: args.routing, etcdPlacement: args.etcd.placement, listenerPorts, backup: args.backup !== undefined }).forEach(
    (r) => {
      const ruleName = childName(name, `${r.direction === "ingress" ? "in" : "out"}-${r.group}-${r.peer}-${r.fromPort}`);
      const common = {
        securityGroupId: sgs[r.group].id,
        ipProtocol: "tcp",
        fromPort: r.fromPort,
        toPort: r.toPort,
        description: r.description,
        ...(r.peer === "anywhere" ? { cidrIpv4: "0.0.0.0/0" } : { referencedSecurityGroupId: sgs[r.peer].id }),
      };
      if (r.direction === "ingress") new aws.vpc.SecurityGroupIngressRule(ruleName, common, opts);
      else new aws.vpc.SecurityGroupEgressRule(ruleName, common, opts);
    },
  );

  // Client ingress the user asked for. 0.0.0.0/0 only appears here if it is in allowedCidrs.
  listenerPorts.forEach((port) => {
    args.allowedCidrs.forEach((cidr, i) => {
      new aws.vpc.SecurityGroupIngressRule(
        childName(name, `in-nlb-cidr${i}-${port}`),
        {
          securityGroupId: sgs.nlb.id,
          ipProtocol: "tcp",
          fromPort: port,
          toPort: port,
          description: `allowedCidrs[${i}] to listener ${port}`,
          ...(cidr.includes(":") ? { cidrIpv6: cidr } : { cidrIpv4: cidr }),
        },
        opts,
      );
    });
    args.allowedSecurityGroupIds.forEach((sg, i) => {
      new aws.vpc.SecurityGroupIngressRule(
        childName(name, `in-nlb-sg${i}-${port}`),
        {
          securityGroupId: sgs.nlb.id,
          ipProtocol: "tcp",
          fromPort: port,
          toPort: port,
          description: `allowedSecurityGroupIds[${i}] to listener ${port}`,
          referencedSecurityGroupId: sg,
        },
        opts,
      );
    });
  });
  return sgs;
}
