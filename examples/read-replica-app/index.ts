/**
 * An application that sends writes to the primary listener and reads to the replica listener. It
 * joins the cluster's client security group (that is all it takes to reach the listeners) and
 * reads the password from SSM at start with its own role: no secret in its user-data either.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { HaPostgresCluster } from "../../lib";

const db = new HaPostgresCluster("shop", { nodeCount: 3 });

const identity = aws.getCallerIdentityOutput();
const region = aws.getRegionOutput();
const passwordArn = pulumi.interpolate`arn:aws:ssm:${region.region}:${identity.accountId}:parameter${db.superuserPasswordParameterName}`;

const role = new aws.iam.Role("shop-app", {
  assumeRolePolicy: JSON.stringify({
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
  }),
});
new aws.iam.RolePolicy("shop-app-db-password", {
  role: role.id,
  policy: passwordArn.apply((arn) =>
    JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "ssm:GetParameter", Resource: arn }] }),
  ),
});
const profile = new aws.iam.InstanceProfile("shop-app", { role: role.name });

// The app's environment: two endpoints, one for writes, one for reads. The password stays in SSM.
const env = pulumi.interpolate`DATABASE_WRITE_URL=postgresql://postgres@${db.primaryEndpoint}:${db.primaryPort}/postgres?sslmode=require
DATABASE_READ_URL=postgresql://postgres@${db.replicaEndpoint}:${db.replicaPort}/postgres?sslmode=require
DATABASE_PASSWORD_PARAMETER=${db.superuserPasswordParameterName}
`;

const ami = aws.ec2.getAmiOutput({
  owners: ["136693071363"],
  mostRecent: true,
  filters: [{ name: "name", values: ["debian-13-amd64-*"] }],
});

const app = new aws.ec2.Instance("shop-app", {
  ami: ami.id,
  instanceType: "t3.small",
  iamInstanceProfile: profile.name,
  vpcSecurityGroupIds: [db.clientSecurityGroupId],
  metadataOptions: { httpTokens: "required" },
  rootBlockDevice: { encrypted: true },
  userData: pulumi.interpolate`#cloud-config
write_files:
  - path: /etc/shop/database.env
    permissions: "0644"
    content: |
${env.apply((e) =>
  e
    .split("\n")
    .map((l) => `      ${l}`)
    .join("\n"),
)}
`,
  tags: { Name: "shop-app" },
});

export const writeUrl = pulumi.interpolate`${db.primaryEndpoint}:${db.primaryPort}`;
export const readUrl = pulumi.interpolate`${db.replicaEndpoint}:${db.replicaPort}`;
export const appInstanceId = app.id;
