/**
 * One booted rehearsal cluster: renders the deployment, prepares the rootfs and the bundle, creates
 * the bridge, namespaces, volumes, stand-ins and containers, and boots every host. Also boots a
 * host again (reboot: same root and volume; replace: fresh root, new instance id, same volume and
 * address). Everything it creates is registered with the Cleanup.
 */
import { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AwsStandins, Credentials } from "./aws-standins";
import { BackupRepo, redirectHttps, startBackupRepo } from "./backup-repo";
import { agentBundleZip } from "./bundle";
import { cloudInitDone, CloudInitVerdict } from "./checks";
import { Cleanup } from "./cleanup";
import { BootHost, Deployment, renderDeployment } from "./deployment";
import {
  removeCgroupRoot,
  removeRoots,
  assertSubnetFree,
  bootContainer,
  Container,
  createBridge,
  createNamespace,
  createVolume,
  RUN_DIR,
  startImds,
  startProcess,
  waitFor,
} from "./hosts";
import { renderNlbStandin } from "./nlb-standin";
import { EC2_PORT, GATEWAY, rehearsalArgs, REGION, ROLE_NAME, S3_PORT, SSM_PORT, SUBNET, Topology, ZONES } from "./plan";
import { Ec2Standin } from "./ec2-standin";
import { preparedRootfs } from "./rootfs";

export interface RehearsalCluster {
  deployment: Deployment;
  rootfs: string;
  containers: Map<string, Container>;
  loops: Map<string, string>;
  standins: AwsStandins;
  nlb: ChildProcess;
  bootCount: Map<string, number>;
  instanceIds: Map<string, string>;
  /** The EC2 API stand-in the boot claim calls. */
  ec2: Ec2Standin;
  credentials: Credentials;
  firstVerdicts: CloudInitVerdict[];
  /** The backup repository's S3 stand-in (the component turns backups on by default). */
  backupRepo?: BackupRepo;
  /** The agent bundle the hosts fetched (a second cluster gets the same). */
  bundle: Buffer;
}

const log = (m: string) => process.stdout.write(`boot: ${m}\n`);

function instanceId(): string {
  return `i-0${randomBytes(8).toString("hex")}`;
}

/** Boots one host and waits for cloud-init's verdict. */
export async function bootHost(
  rc: RehearsalCluster,
  h: BootHost,
  how: "first" | "reboot" | "replace",
  cleanup: Cleanup,
): Promise<CloudInitVerdict> {
  const n = (rc.bootCount.get(h.name) ?? 0) + 1;
  rc.bootCount.set(h.name, n);
  // A reboot keeps the instance (and its id); a replacement is a new instance on the same ENI and volume.
  const id = how === "reboot" ? rc.instanceIds.get(h.name)! : instanceId();
  rc.instanceIds.set(h.name, id);
  // The host's data volume is this instance's (what the boot claim sees in DescribeVolumes).
  rc.ec2.attachments.set(h.volumeId, id);
  const i = rc.deployment.hosts.indexOf(h);
  startImds(
    h.key,
    {
      instanceId: id,
      region: REGION,
      availabilityZone: ZONES[i % ZONES.length],
      privateIp: h.address,
      subnetCidr: SUBNET,
      hostname: `ip-${h.address.replace(/\./g, "-")}.${REGION}.compute.internal`,
      roleName: ROLE_NAME,
      accountId: "123456789012",
      credentials: rc.credentials,
    },
    cleanup,
  );
  const c = await bootContainer(
    {
      host: h.key,
      rootfs: rc.rootfs,
      userData: h.userData,
      instanceId: id,
      hostname: `ip-${h.address.replace(/\./g, "-")}`,
      volumeId: h.volumeId,
      loop: rc.loops.get(h.name)!,
      fresh: how !== "reboot",
      backupRepo: rc.backupRepo?.seed,
    },
    cleanup,
  );
  rc.containers.set(h.name, c);
  return waitFor(`cloud-init on ${h.name}`, 600_000, () => cloudInitDone(c), 2000);
}

export async function startCluster(topology: Topology, cleanup: Cleanup): Promise<RehearsalCluster> {
  rmSync(RUN_DIR, { recursive: true, force: true });
  mkdirSync(RUN_DIR, { recursive: true });
  log(`rendering the ${topology} deployment under mocks`);
  // One component name per topology: both render in one process, and each takes only its own resources.
  const deployment = await renderDeployment(`rehearsal-${topology}`, rehearsalArgs(topology));
  const rootfs = await preparedRootfs(
    deployment.hosts.map((h) => h.userData),
    log,
  );
  log(`rootfs ${rootfs}`);
  const bundle = await agentBundleZip();
  log(`agent bundle ${(bundle.length / 1e6).toFixed(1)} MB`);

  cleanup.add("containers' roots", removeRoots);
  cleanup.add("cgroup parents", removeCgroupRoot);
  await assertSubnetFree();
  await createBridge(cleanup);
  for (const h of deployment.hosts) await createNamespace(h.key, h.address, cleanup);

  const credentials = {
    accessKeyId: `ASIA${randomBytes(8).toString("hex").toUpperCase()}`,
    secretAccessKey: randomBytes(30).toString("base64"),
    token: randomBytes(48).toString("base64"),
  };
  const standins = new AwsStandins({
    bucket: deployment.bundle.bucket,
    objects: new Map([[deployment.bundle.key, bundle]]),
    parameters: new Map(deployment.parameters.map((p) => [p.name, { type: p.type, value: p.value }])),
    policies: deployment.rolePolicies,
    credentials,
    accountId: "123456789012",
  });
  await standins.start(GATEWAY, S3_PORT, SSM_PORT);
  cleanup.add("S3 and SSM stand-ins", () => standins.stop());
  const ec2 = new Ec2Standin(() => [{ credentials, policies: deployment.rolePolicies }]);
  await ec2.start(GATEWAY, EC2_PORT);
  cleanup.add("EC2 stand-in", () => ec2.stop());
  const backupRepo = await startBackupRepo(deployment, credentials, cleanup);
  if (backupRepo) for (const h of deployment.hosts) await redirectHttps(h.key);

  const loops = new Map<string, string>();
  for (const h of deployment.hosts) loops.set(h.name, await createVolume(h.key, h.runsPostgres ? 2048 : 512, cleanup));

  const nlbConfig = join(RUN_DIR, "nlb-standin.cfg");
  const rc: RehearsalCluster = {
    deployment,
    rootfs,
    containers: new Map(),
    loops,
    standins,
    nlb: undefined as unknown as ChildProcess,
    bootCount: new Map(),
    instanceIds: new Map(),
    ec2,
    credentials,
    firstVerdicts: [],
    backupRepo,
    bundle,
  };
  log(`booting ${deployment.hosts.length} containers`);
  const verdicts = await Promise.all(deployment.hosts.map((h) => bootHost(rc, h, "first", cleanup)));
  deployment.hosts.forEach((h, i) =>
    log(`${h.name}: cloud-init ${verdicts[i].status}${verdicts[i].errors.length ? ` errors: ${verdicts[i].errors.join("; ")}` : ""}`),
  );
  writeFileSync(
    nlbConfig,
    renderNlbStandin(
      deployment.listeners,
      GATEWAY,
      deployment.hosts.filter((h) => h.runsPostgres).map((h) => ({ name: h.name, address: h.address })),
    ),
  );
  rc.nlb = startProcess("NLB stand-in (HAProxy)", "haproxy", ["-db", "-f", nlbConfig], join(RUN_DIR, "nlb-standin.log"), cleanup);
  rc.firstVerdicts = verdicts;
  return rc;
}
