/**
 * A second cluster, deployed from the component with `bootstrap.fromBackup` pointing at the first
 * one's backups: rendered under the same mocks (as another stack of the same account would be), its
 * hosts booted as containers of their own on the same bridge (keys rpg-N, addresses .31+), its role
 * given credentials and policies of its own by the S3, SSM and repository stand-ins. The first
 * cluster's stand-ins serve it: one account, one bucket, each role held to its own policy.
 */
import { randomBytes } from "node:crypto";
import { HaPostgresClusterArgs } from "../../lib";
import { redirectHttps } from "./backup-repo";
import { bootHost, RehearsalCluster, registerHosts } from "./cluster";
import { Cleanup } from "./cleanup";
import { renderDeployment } from "./deployment";
import { createNamespace, createVolume } from "./hosts";
import { RESTORED_CLUSTER } from "./plan";

const log = (m: string) => process.stdout.write(`boot: ${m}\n`);

export async function startRestoredCluster(
  source: RehearsalCluster,
  args: HaPostgresClusterArgs,
  cleanup: Cleanup,
  /** Boot only these hosts (names, e.g. ["pg-0"]); default: every host. */
  only?: string[],
): Promise<RehearsalCluster> {
  if (!source.backupRepo) throw new Error("rehearsal: the first cluster has no backup repository to restore from");
  log(`rendering ${RESTORED_CLUSTER} (bootstrap.fromBackup) under mocks`);
  const deployment = await renderDeployment(RESTORED_CLUSTER, args);
  const hosts = deployment.hosts.filter((h) => !only || only.includes(h.name));
  for (const h of hosts) await createNamespace(h.key, h.address, cleanup);
  const credentials = {
    accessKeyId: `ASIA${randomBytes(8).toString("hex").toUpperCase()}`,
    secretAccessKey: randomBytes(30).toString("base64"),
    token: randomBytes(48).toString("base64"),
  };
  source.standins.addTenant({
    bucket: deployment.bundle.bucket,
    objects: new Map([[deployment.bundle.key, source.bundle]]),
    parameters: new Map(deployment.parameters.map((p) => [p.name, { type: p.type, value: p.value }])),
    policies: deployment.rolePolicies,
    credentials,
    accountId: "123456789012",
  });
  source.backupRepo.standin.addRole(credentials, deployment.rolePolicies);
  source.ec2.addTenant({ credentials, policies: deployment.rolePolicies });
  for (const h of hosts) await redirectHttps(h.key);
  const loops = new Map<string, string>();
  for (const h of hosts) loops.set(h.name, await createVolume(h.key, 2048, cleanup));
  registerHosts({ ...deployment, hosts }, loops, source.ec2, source.asg);
  const rc: RehearsalCluster = {
    ...source,
    deployment,
    containers: new Map(),
    loops,
    bootCount: new Map(),
    instanceIds: new Map(),
    credentials,
    firstVerdicts: [],
    replacements: [],
  };
  log(`booting ${hosts.length} of the ${deployment.hosts.length} hosts of ${RESTORED_CLUSTER}`);
  rc.firstVerdicts = await Promise.all(hosts.map((h) => bootHost(rc, h, "first", cleanup)));
  hosts.forEach((h, i) => log(`${h.key}: cloud-init ${rc.firstVerdicts[i].status} ${rc.firstVerdicts[i].errors.join("; ")}`));
  return rc;
}
