/**
 * Renders a whole deployment with the component under the rehearsal's mocks and returns what the
 * rehearsal boots from: each instance's user-data exactly as the component produced it, its
 * address and data volume (followed through the declared ENI and volume attachment), the SSM
 * parameters and the agent bundle as declared, the NLB's listeners and health checks, and the
 * component's outputs.
 */
import { gunzipSync } from "node:zlib";
import "./mocks"; // before the component is loaded
import * as pulumi from "@pulumi/pulumi";
import { HaPostgresCluster, HaPostgresClusterArgs } from "../../lib";
import { parse as parseYaml } from "yaml";
import { declared, RecordedResource, secretValues } from "./mocks";
import { hostKey } from "./plan";

/** The node-init plan in a host's user-data. */
export function nodeInitPlanOf(userData: string): any {
  const doc = parseYaml(userData) as { write_files: Array<{ path: string; content: string }> };
  return JSON.parse(doc.write_files.find((f) => f.path === "/etc/hapg/node-init.json")?.content ?? "{}");
}

/** The backup repository a node's agent config names (from its user-data's node-init plan), if any. */
function backupSectionOf(userData: string): Deployment["backup"] {
  const b = nodeInitPlanOf(userData).agentConfig?.config?.backup;
  if (!b) return undefined;
  return {
    bucket: b.repo.bucket,
    region: b.repo.region,
    endpoint: b.repo.endpoint,
    path: b.repo.path,
    cipherPassFile: b.cipherPassphraseFile,
  };
}

export interface BootHost {
  /** pg-N or etcd-N. */
  name: string;
  /** The rehearsal-wide key of the host (./plan.ts hostKey): its machine, namespace and volume are named by it. */
  key: string;
  address: string;
  volumeId: string;
  userData: string;
  runsPostgres: boolean;
  /** The launch template version the host's group launches now (a change of what it launches from adds one). */
  launchVersion: number;
  /** Tags of what a launch creates (the instance), of the data volume and of the group: IAM conditions read them. */
  instanceTags: Record<string, string>;
  volumeTags: Record<string, string>;
  groupName: string;
  groupTags: Record<string, string>;
}

export interface DeclaredParameter {
  name: string;
  type: string;
  value: string;
}

export interface Deployment {
  clusterName: string;
  hosts: BootHost[];
  parameters: DeclaredParameter[];
  bundle: { bucket: string; key: string; source: unknown };
  /** Listener port → the target port and health check of its target group. */
  listeners: Array<{ port: number; targetPort: number; healthCheck: Record<string, any> }>;
  caCertificatePem: string;
  primaryEndpoint: string;
  primaryPort: number;
  superuserPasswordParameterName: string;
  /** Instance role policy documents (JSON), for the stand-ins to enforce. */
  rolePolicies: string[];
  /** The backup repository the component declared (backups are on by default), as the nodes' agent config names it. */
  backup?: { bucket: string; region: string; endpoint: string; path: string; cipherPassFile: string };
  secretValues: string[];
}

function valueOf<T>(o: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => o.apply((v) => resolve(v)));
}

/** Waits until no resource has been declared for a while (the mocks resolve everything). */
async function settle(): Promise<void> {
  let last = -1;
  for (let stable = 0; stable < 5;) {
    await new Promise((r) => setTimeout(r, 100));
    if (declared.length === last) stable++;
    else [stable, last] = [0, declared.length];
  }
}

function one(type: string, pred: (r: RecordedResource) => boolean, what: string): RecordedResource {
  const found = declared.filter((r) => r.type === type && pred(r));
  if (found.length !== 1) throw new Error(`rehearsal: expected one ${type} (${what}), the component declared ${found.length}`);
  return found[0];
}

export async function renderDeployment(name: string, args: HaPostgresClusterArgs): Promise<Deployment> {
  // A second render of the same name (day 2) registers everything again: only this render's resources count.
  const start = declared.length;
  const cluster = new HaPostgresCluster(name, args);
  const [caCertificatePem, primaryEndpoint, primaryPort, superuserPasswordParameterName] = await Promise.all([
    valueOf(cluster.caCertificatePem),
    valueOf(cluster.primaryEndpoint),
    valueOf(cluster.primaryPort),
    valueOf(cluster.superuserPasswordParameterName),
    valueOf(cluster.nodePrivateIps),
  ]);
  await settle();
  const mine = (r: RecordedResource) => r.name.startsWith(`${name}-`) && declared.indexOf(r, start) >= 0;

  // A host is an Auto Scaling group of one launching from its launch template; its fixed IP is a /32
  // subnet CIDR reservation and its data volume a volume of its own (docs/day2.md). The rehearsal boots
  // the instance its group would launch: the template's user-data (gzip + base64), at the fixed IP.
  const hosts: BootHost[] = declared
    .filter((r) => mine(r) && r.type === "aws:ec2/launchTemplate:LaunchTemplate")
    .map((lt) => {
      const host = lt.name.slice(name.length + 1).replace(/-lt$/, "");
      const reservation = one(
        "aws:ec2/subnetCidrReservation:SubnetCidrReservation",
        (r) => mine(r) && r.name === `${name}-${host}-ip`,
        `of ${host}`,
      );
      const volume = one("aws:ebs/volume:Volume", (r) => mine(r) && r.name === `${name}-${host}-data`, `of ${host}`);
      const group = one("aws:autoscaling/group:Group", (r) => mine(r) && r.name === `${name}-${host}-asg`, `of ${host}`);
      const instanceTags = (lt.inputs.tagSpecifications as Array<{ resourceType: string; tags: Record<string, string> }>).find(
        (t) => t.resourceType === "instance",
      )!.tags;
      return {
        name: host,
        key: hostKey(name, host),
        address: String(reservation.inputs.cidrBlock).replace(/\/32$/, ""),
        volumeId: volume.id,
        userData: gunzipSync(Buffer.from(String(lt.inputs.userData), "base64")).toString("utf8"),
        runsPostgres: host.startsWith("pg-"),
        launchVersion: Number(lt.state.latestVersion),
        instanceTags,
        volumeTags: volume.inputs.tags ?? {},
        groupName: group.id,
        groupTags: Object.fromEntries((group.inputs.tags as Array<{ key: string; value: string }>).map((t) => [t.key, t.value])),
      };
    });
  const parameters = declared
    .filter((r) => mine(r) && r.type === "aws:ssm/parameter:Parameter")
    // A non-secret parameter (the desired dynamic config) is given as insecureValue.
    .map((r) => ({ name: r.inputs.name, type: r.inputs.type, value: String(r.inputs.value ?? r.inputs.insecureValue) }));
  const object = one("aws:s3/bucketObjectv2:BucketObjectv2", mine, "the agent bundle");
  const bucket = one("aws:s3/bucket:Bucket", (r) => mine(r) && r.id === object.inputs.bucket, "the bundle bucket");
  const backupBucket = declared.find((r) => mine(r) && r.type === "aws:s3/bucket:Bucket" && r.name === `${name}-backup`);
  const listeners = declared
    .filter((r) => mine(r) && r.type === "aws:lb/listener:Listener")
    .map((l) => {
      const tgArn = l.inputs.defaultActions[0].targetGroupArn;
      const tg = one("aws:lb/targetGroup:TargetGroup", (r) => mine(r) && r.state.arn === tgArn, `of listener ${l.name}`);
      return { port: Number(l.inputs.port), targetPort: Number(tg.inputs.port), healthCheck: tg.inputs.healthCheck };
    });
  const rolePolicies = declared.filter((r) => mine(r) && r.type === "aws:iam/rolePolicy:RolePolicy").map((r) => String(r.inputs.policy));
  const repo = backupSectionOf(hosts.find((h) => h.runsPostgres)!.userData);
  if (repo && backupBucket && repo.bucket !== backupBucket.state.bucket)
    throw new Error(`rehearsal: the agent config names bucket ${repo.bucket}, not the backup bucket ${backupBucket.state.bucket}`);
  return {
    clusterName: name,
    hosts,
    parameters,
    bundle: { bucket: bucket.state.bucket, key: object.inputs.key, source: object.inputs.source },
    listeners,
    caCertificatePem,
    primaryEndpoint,
    primaryPort,
    superuserPasswordParameterName,
    rolePolicies,
    backup: repo,
    // Every secret generated in this process (an earlier topology's too): none may leak anywhere.
    secretValues: [...secretValues],
  };
}
