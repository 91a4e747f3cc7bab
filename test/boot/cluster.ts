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
  exposeVolume,
  hideVolume,
  powerOff,
  RUN_DIR,
  startImds,
  startProcess,
  waitFor,
} from "./hosts";
import { renderNlbStandin } from "./nlb-standin";
import { ASG_PORT, EC2_PORT, GATEWAY, rehearsalArgs, REGION, ROLE_NAME, S3_PORT, SSM_PORT, SUBNET, Topology, ZONES } from "./plan";
import { Ec2Hooks, Ec2Standin } from "./ec2-standin";
import { AsgStandin } from "./asg-standin";
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
  /** The EC2 API stand-in the boot claim and the replacer call. */
  ec2: Ec2Standin;
  /** The Auto Scaling API stand-in the roll's replacer calls; its groups replace instances as AWS's would. */
  asg: AsgStandin;
  /** Every replacement of an instance by its group (a roll step's termination, or a failed health check). */
  replacements: Replacement[];
  credentials: Credentials;
  firstVerdicts: CloudInitVerdict[];
  /** The backup repository's S3 stand-in (the component turns backups on by default). */
  backupRepo?: BackupRepo;
  /** The agent bundle the hosts fetched (a second cluster gets the same). */
  bundle: Buffer;
}

export interface Replacement {
  host: string;
  oldInstance?: string;
  newInstance?: string;
  why: "terminated in its group" | "failed its health check";
  /** When the group took the instance out of service, when the old one was gone, when the new one's cloud-init finished. */
  requestedAt: number;
  goneAt?: number;
  bootedAt?: number;
  verdict?: CloudInitVerdict;
  error?: string;
}

const log = (m: string) => process.stdout.write(`boot: ${m}\n`);

function instanceId(): string {
  return `i-0${randomBytes(8).toString("hex")}`;
}

let launches = 0;
/** A new instance's primary private address (DHCP's choice on EC2): listed by its metadata, beside the fixed IP once claimed. */
function primaryAddress(): string {
  return `${SUBNET.split(".").slice(0, 3).join(".")}.${200 + (launches++ % 50)}`;
}

/** The hooks through which EC2's state shows in the containers: the device of an attached volume, the listed addresses. */
export function ec2Hooks(): Ec2Hooks {
  return {
    onAddresses: (i) => {
      mkdirSync(join(RUN_DIR, i.host), { recursive: true });
      writeFileSync(join(RUN_DIR, i.host, "local-ipv4s"), `${i.addresses.join("\n")}\n`);
    },
    onAttach: (v, i) => exposeVolume(i.host, v.device, v.id),
    onDetach: (v) => hideVolume(v.host, v.id),
  };
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
  // A reboot keeps the instance (its id, its addresses, its attached volume); a replacement is a new
  // instance that claims the fixed IP and the volume (an old instance still there is terminated first).
  const previous = rc.ec2.current(h.key);
  let inst = previous;
  if (how !== "reboot" || !inst) {
    if (previous) {
      rc.ec2.shuttingDown(previous.id);
      rc.ec2.terminated(previous.id);
    }
    const id = instanceId();
    inst = rc.ec2.launch({ id, host: h.key, tags: h.instanceTags, eni: `eni-0${id.slice(3, 19)}`, addresses: [primaryAddress()] });
  }
  const id = inst.id;
  rc.instanceIds.set(h.name, id);
  const attached = rc.ec2.volumes.get(h.volumeId)?.attachment;
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
      interfaceId: inst.eni,
      addressesFile: join(RUN_DIR, h.key, "local-ipv4s"),
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
      attached: attached?.instanceId === id && attached.state === "attached",
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
  const tenants = [{ credentials, policies: deployment.rolePolicies }];
  const ec2 = new Ec2Standin(tenants, ec2Hooks());
  await ec2.start(GATEWAY, EC2_PORT);
  cleanup.add("EC2 stand-in", () => ec2.stop());
  // The groups replace an instance terminated in them (the roll) with one from the latest template version.
  const ref: { rc?: RehearsalCluster } = {};
  const asg = new AsgStandin(
    tenants,
    // Only a running instance is in service; one already terminating is the group's own business.
    (host) => (ec2.current(host)?.state === "running" ? ec2.current(host)!.id : undefined),
    (group) => void replaceInstance(ref.rc!, group.host, "terminated in its group", cleanup),
  );
  await asg.start(GATEWAY, ASG_PORT);
  cleanup.add("Auto Scaling stand-in", () => asg.stop());
  const backupRepo = await startBackupRepo(deployment, credentials, cleanup);
  if (backupRepo) for (const h of deployment.hosts) await redirectHttps(h.key);

  const loops = new Map<string, string>();
  for (const h of deployment.hosts) loops.set(h.name, await createVolume(h.key, h.runsPostgres ? 2048 : 512, cleanup));
  registerHosts(deployment, loops, ec2, asg);

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
    asg,
    replacements: [],
    credentials,
    firstVerdicts: [],
    backupRepo,
    bundle,
  };
  ref.rc = rc;
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

/** The hosts' data volumes (EC2) and groups (Auto Scaling) as `pulumi up` created them. */
export function registerHosts(d: Deployment, loops: Map<string, string>, ec2: Ec2Standin, asg: AsgStandin): void {
  for (const h of d.hosts) {
    const loop = loops.get(h.name);
    if (loop) ec2.addVolume(h.volumeId, h.key, h.volumeTags, loop);
    asg.setGroup({ name: h.groupName, host: h.key, tags: h.groupTags });
  }
}

let replacing: Promise<unknown> = Promise.resolve();

/**
 * What a host's group does when its instance is terminated in it or fails its health check: the
 * instance shuts down (a clean power-off; a crashed one is already off), EC2 detaches its volume and
 * deletes its interface, and the group launches a new instance from its launch template's latest
 * version (the host's user-data of the latest render) with a new id, which claims the IP and volume.
 * One at a time, in the order asked.
 */
export function replaceInstance(rc: RehearsalCluster, hostKey: string, why: Replacement["why"], cleanup: Cleanup): Promise<Replacement> {
  const r: Replacement = { host: hostKey, why, requestedAt: Date.now(), oldInstance: rc.ec2.current(hostKey)?.id };
  rc.replacements.push(r);
  // Out of service at once (EC2: shutting-down), though its OS stops only when the group gets to it.
  if (r.oldInstance) rc.ec2.shuttingDown(r.oldInstance);
  const next = replacing.then(async () => {
    const h = rc.deployment.hosts.find((x) => x.key === hostKey);
    try {
      if (!h) throw new Error(`no host ${hostKey} in the latest render`);
      if (cleanup.closing) throw new Error("the rehearsal is ending: no new instance");
      const c = rc.containers.get(h.name);
      log(`${h.name}: ${why} (${r.oldInstance ?? "no instance"}): the group replaces it (launch template version ${h.launchVersion})`);
      if (c && c.nspawn.exitCode === null && c.nspawn.signalCode === null) await powerOff(c, cleanup);
      if (r.oldInstance) rc.ec2.terminated(r.oldInstance);
      r.goneAt = Date.now();
      r.verdict = await bootHost(rc, h, "replace", cleanup);
      r.newInstance = rc.instanceIds.get(h.name);
      r.bootedAt = Date.now();
      log(`${h.name}: ${r.newInstance} booted, cloud-init ${r.verdict.status} in ${((r.bootedAt - r.goneAt) / 1000).toFixed(0)} s`);
    } catch (e) {
      r.error = (e as Error).message;
      log(`${hostKey}: replacement failed: ${r.error}`);
    }
    return r;
  });
  replacing = next;
  return next;
}
