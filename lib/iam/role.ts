/**
 * The instance roles, with least privilege. The PostgreSQL nodes' role may: read this cluster's
 * SSM parameters (exact ARNs) and the agent bundle object, decrypt them, use the backup repository
 * (only the cluster's prefix of its bucket, ../backup/policies.ts), read the backups a restored cluster
 * is created from (the source's prefix and passphrase, ../restore/source.ts), and — when Session Manager is on —
 * the messaging actions the SSM agent needs. Not `AmazonSSMManagedInstanceCore`: that
 * managed policy also grants ssm:GetParameter on every parameter of the account.
 * Dedicated etcd hosts have a role of their own (`createEtcdIdentity`): their certificates and keys,
 * the CA, the agent bundle — no password, no passphrase, no backup.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { ResolvedClusterArgs } from "../args/types";
import { backupRoleStatements } from "../backup/policies";
import { childName, resourceTags } from "../naming/names";
import { restoreSourceStatements, type RestoreSourceGrant } from "../restore/source";

import type { PolicyStatement } from "./statement";

export type { PolicyStatement };

/** Session Manager's actions (the messaging channel of the SSM agent), nothing else of SSM. */
export const SESSION_MANAGER_ACTIONS = [
  "ssm:UpdateInstanceInformation",
  "ssmmessages:CreateControlChannel",
  "ssmmessages:CreateDataChannel",
  "ssmmessages:OpenControlChannel",
  "ssmmessages:OpenDataChannel",
  "ec2messages:AcknowledgeMessage",
  "ec2messages:DeleteMessage",
  "ec2messages:FailMessage",
  "ec2messages:GetEndpoint",
  "ec2messages:GetMessages",
  "ec2messages:SendReply",
];

/** The backup repository the role may use: its bucket, the cluster's prefix in it, and the bucket's KMS key if any. */
export interface BackupGrant {
  bucketArn: string;
  prefix: string;
  kmsKeyArn?: string;
  region: string;
}

/** The node policy document. Pure, so tests check it without a cloud. */
export function nodePolicyDocument(p: {
  parameterArns: string[];
  bundleObjectArn: string;
  kmsKeyArn?: string;
  sessionManager: boolean;
  backup?: BackupGrant;
  /** The source of a restored cluster (arg `bootstrap`): read only. */
  restoreSource?: RestoreSourceGrant;
}) {
  const statements: PolicyStatement[] = [
    { Sid: "ReadClusterParameters", Effect: "Allow", Action: ["ssm:GetParameter"], Resource: [...p.parameterArns].sort() },
    { Sid: "ReadAgentBundle", Effect: "Allow", Action: ["s3:GetObject"], Resource: [p.bundleObjectArn] },
  ];
  if (p.kmsKeyArn) {
    statements.push({ Sid: "DecryptClusterParameters", Effect: "Allow", Action: ["kms:Decrypt"], Resource: [p.kmsKeyArn] });
  }
  if (p.backup) statements.push(...backupRoleStatements(p.backup));
  if (p.restoreSource) statements.push(...restoreSourceStatements(p.restoreSource));
  if (p.sessionManager) {
    statements.push({ Sid: "SessionManager", Effect: "Allow", Action: SESSION_MANAGER_ACTIONS, Resource: "*" });
  }
  return { Version: "2012-10-17", Statement: statements };
}

export const EC2_ASSUME_ROLE_POLICY = JSON.stringify({
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
});

export interface NodeIdentity {
  role: aws.iam.Role;
  instanceProfile: aws.iam.InstanceProfile;
  /** The inline policy: instances must not boot before it exists. */
  policy: aws.iam.RolePolicy;
}

/**
 * The ARN of the customer KMS key, if one is given (as id, alias or ARN): EBS and IAM need the ARN.
 */
export function resolveKmsKeyArn(kmsKeyId: pulumi.Input<string> | undefined, parent: pulumi.Resource): pulumi.Output<string> | undefined {
  return kmsKeyId !== undefined ? aws.kms.getKeyOutput({ keyId: kmsKeyId }, { parent }).arn : undefined;
}

/** What a role's policy grants (see `nodePolicyDocument`). */
export interface IdentityGrants {
  parameterArns: pulumi.Input<string>[];
  bundleObjectArn: pulumi.Input<string>;
  kmsKeyArn?: pulumi.Input<string>;
  backup?: pulumi.Input<BackupGrant>;
  restoreSource?: pulumi.Input<RestoreSourceGrant | undefined>;
}

/** The dedicated etcd hosts' role: reads their TLS parameters (certificates, keys, the CA) and the agent bundle. */
export function createEtcdIdentity(
  name: string,
  args: ResolvedClusterArgs,
  grants: Pick<IdentityGrants, "parameterArns" | "bundleObjectArn" | "kmsKeyArn">,
  parent: pulumi.Resource,
): NodeIdentity {
  return createIdentity(name, "etcd", `etcd members of HA PostgreSQL ${args.clusterName}`, args, grants, parent);
}

export function createNodeIdentity(name: string, args: ResolvedClusterArgs, grants: IdentityGrants, parent: pulumi.Resource): NodeIdentity {
  return createIdentity(name, "node", `Hosts of HA PostgreSQL ${args.clusterName}`, args, grants, parent);
}

function createIdentity(
  name: string,
  kind: "node" | "etcd",
  description: string,
  args: ResolvedClusterArgs,
  grants: {
    parameterArns: pulumi.Input<string>[];
    bundleObjectArn: pulumi.Input<string>;
    kmsKeyArn?: pulumi.Input<string>;
    backup?: pulumi.Input<BackupGrant>;
    restoreSource?: pulumi.Input<RestoreSourceGrant | undefined>;
  },
  parent: pulumi.Resource,
): NodeIdentity {
  const tags = resourceTags(args.tags, args.clusterName);
  const role = new aws.iam.Role(
    childName(name, `${kind}-role`),
    { assumeRolePolicy: EC2_ASSUME_ROLE_POLICY, description, tags },
    { parent },
  );
  const policy = new aws.iam.RolePolicy(
    childName(name, `${kind}-policy`),
    {
      role: role.id,
      policy: pulumi
        .all([pulumi.all(grants.parameterArns), grants.bundleObjectArn, grants.kmsKeyArn, grants.backup, grants.restoreSource])
        .apply(([parameterArns, bundleObjectArn, kms, backup, restoreSource]) =>
          JSON.stringify(
            nodePolicyDocument({
              parameterArns,
              bundleObjectArn,
              kmsKeyArn: kms,
              sessionManager: args.sessionManager,
              backup,
              ...(restoreSource ? { restoreSource } : {}),
            }),
          ),
        ),
    },
    { parent },
  );
  const instanceProfile = new aws.iam.InstanceProfile(childName(name, `${kind}-profile`), { role: role.name, tags }, { parent });
  return { role, instanceProfile, policy };
}
