/**
 * `HaPostgresCluster`: a highly available PostgreSQL cluster on EC2 (see docs/architecture.md). This class only
 * wires the pieces together in dependency order; each concern lives in its own module.
 */
import * as pulumi from "@pulumi/pulumi";
import { HaPostgresClusterArgs } from "../args/types";
import { validateClusterArgs } from "../args/validate";
import { createBackupRepository } from "../backup/repository";
import { repoPath, s3Endpoint } from "../backup/policies";
import { createAgentBundle, BUNDLE_KEY } from "../bundle/agent-bundle";
import { createHostPolicies } from "../iam/host-policies";
import { createEtcdIdentity, createNodeIdentity, resolveKmsKeyArn } from "../iam/role";
import { createDesiredConfigParameter } from "../dynamic/desired-config";
import { COMPONENT_TYPE, etcdHostName, nodeHostName, parameterNames } from "../naming/names";
import { ResolvedEgress } from "../network/egress";
import { createEndpoints, createHostEgress } from "../network/egress-resources";
import { resolveNetwork } from "../network/network";
import { Placement, planEgress } from "../network/routes";
import { attachNode, createLoadBalancer } from "../nlb/nlb";
import { resolveAmi } from "../nodes/ami";
import { createHostGroup, createHostSlot, HostSlot } from "../nodes/host";
import { hostLaunch, topologyFromLaunches } from "../nodes/launch-plan";
import { resolveRestoreSource } from "../restore/source";
import { createPasswords } from "../secrets/passwords";
import { createCa, createHostCertificate } from "../secrets/tls";
import { createSecurityGroups } from "../security/groups";
import { hostSpecs } from "../userdata/hosts";
import { createTopologyParameter } from "../topology/parameter";

export class HaPostgresCluster extends pulumi.ComponentResource {
  /** DNS name of the load balancer; connect here on `primaryPort` for reads and writes. */
  public readonly primaryEndpoint: pulumi.Output<string>;
  public readonly primaryPort: pulumi.Output<number>;
  /** DNS name for read-only traffic (the same load balancer) on `replicaPort`. */
  public readonly replicaEndpoint: pulumi.Output<string>;
  public readonly replicaPort: pulumi.Output<number>;
  /** SSM parameter (SecureString) holding the `postgres` superuser password. */
  public readonly superuserPasswordParameterName: pulumi.Output<string>;
  /**
   * SSM parameter (String) holding the desired dynamic configuration (timing, lag limit, synchronous
   * mode, PostgreSQL parameters) that the leader applies to the running cluster.
   */
  public readonly dynamicConfigParameterName: pulumi.Output<string>;
  /** SSM parameter (SecureString) holding the `replicator` password. */
  public readonly replicationPasswordParameterName: pulumi.Output<string>;
  /** The cluster CA certificate (public): use it as `sslrootcert` with sslmode=verify-full. */
  public readonly caCertificatePem: pulumi.Output<string>;
  /** Fixed private IPs of the PostgreSQL nodes, by index. */
  public readonly nodePrivateIps: pulumi.Output<string[]>;
  /** Fixed private IPs of the etcd members. */
  public readonly etcdPrivateIps: pulumi.Output<string[]>;
  /**
   * Whether each host's instances get an auto-assigned public IPv4 (egress "publicIp": outbound only,
   * no security group admits traffic from the internet), by host name (`pg-0`, `etcd-0`...). The
   * address itself belongs to the instance of the moment (EC2 assigns a new one to a replacement).
   */
  public readonly publicIps: pulumi.Output<Record<string, boolean>>;
  /** SSM parameter (String) holding the topology: hosts, fixed IPs, revisions, etcd members. */
  public readonly topologyParameterName: pulumi.Output<string>;
  /** How each host reaches S3, SSM and the Debian mirror, by host name: what `egress: "auto"` chose. */
  public readonly egress: pulumi.Output<Record<string, ResolvedEgress>>;
  /** Security group that clients join to reach the listeners. */
  public readonly clientSecurityGroupId: pulumi.Output<string>;
  /** The S3 bucket of the backup repository (undefined with backups off); the repository is under `backup.prefix`. */
  public readonly backupBucketName: pulumi.Output<string | undefined>;
  /**
   * SSM parameter (SecureString) holding the repository's passphrase (undefined with backups off):
   * a restore from these backups, in this cluster or another, needs it.
   */
  public readonly backupCipherPassParameterName: pulumi.Output<string | undefined>;

  constructor(name: string, rawArgs: HaPostgresClusterArgs = {}, opts?: pulumi.ComponentResourceOptions) {
    super(COMPONENT_TYPE, name, {}, opts);
    // Before any child: bad args create nothing.
    const args = validateClusterArgs(name, rawArgs);
    const ssmNames = parameterNames(args.ssmParameterPrefix, args.clusterName);

    const network = resolveNetwork(args, this);
    // Hosts are placed only once every placement subnet has a way out to S3, SSM and the mirror.
    const egressPlan = planEgress(args, network, this);
    const placement = egressPlan.placement;
    const sgs = createSecurityGroups(name, args, network.vpcId, this);
    const lb = createLoadBalancer(name, args, network, sgs.nlb.id, this);
    const kmsKeyArn = resolveKmsKeyArn(args.kmsKeyId, this);

    // Fixed addresses and data volumes first: every host's user-data lists every other host.
    const nodeSlots: HostSlot[] = Array.from({ length: args.nodeCount }, (_, i) =>
      createHostSlot(
        name,
        nodeHostName(i),
        placement.apply((p) => p.nodes[i]),
        args.dataVolume,
        kmsKeyArn,
        args,
        this,
      ),
    );
    const etcdSlots: HostSlot[] =
      args.etcd.placement === "dedicated"
        ? Array.from({ length: args.etcd.members }, (_, i) =>
            createHostSlot(
              name,
              etcdHostName(i),
              placement.apply((p) => p.etcd[i]),
              args.etcd.dataVolume,
              kmsKeyArn,
              args,
              this,
            ),
          )
        : [];
    const etcdMemberSlots = args.etcd.placement === "dedicated" ? etcdSlots : nodeSlots.slice(0, args.etcd.members);
    const allSlots = [...nodeSlots, ...etcdSlots];
    // Slots are nodes then dedicated etcd members, as in the placement.
    const subnetOf = (p: Placement, i: number) => (i < nodeSlots.length ? p.nodes[i] : p.etcd[i - nodeSlots.length]);
    const slotSubnet = (i: number) => placement.apply((p) => subnetOf(p, i));
    const hostEgress = allSlots.map((_, i) => createHostEgress(slotSubnet(i), egressPlan, args));
    const endpoints = createEndpoints(name, args, network.vpcId, egressPlan, sgs, this);

    const passwords = createPasswords(name, args, this);
    const ca = createCa(name, args, this);
    const certs = allSlots.map((s) =>
      createHostCertificate(name, s.host, s.privateIp, nodeSlots.includes(s) ? [lb.nlb.dnsName] : [], ca, args, this),
    );
    // Not secret, and not in the user-data: a changed setting changes only this parameter's value.
    const desiredConfig = createDesiredConfigParameter(name, args, this);
    const backup = createBackupRepository(name, args, kmsKeyArn, this);
    const tlsOf = (from: number, to?: number) => certs.slice(from, to).flatMap((c) => [c.certParameter, c.keyParameter]);
    const nodeParameters = [
      desiredConfig,
      passwords.superuser,
      passwords.replication,
      passwords.api,
      ca.parameter,
      ...tlsOf(0, nodeSlots.length),
      ...(backup ? [backup.cipherPass] : []),
    ];
    // Dedicated etcd hosts read only their TLS files: no password, no passphrase (their own role below).
    const etcdParameters = [ca.parameter, ...tlsOf(nodeSlots.length)];
    const parameters = [...nodeParameters, ...etcdParameters.slice(1)];

    // A restored cluster reads another cluster's backups: its prefix and passphrase, read only.
    const restoreSource = resolveRestoreSource(args.bootstrap, this);

    const bundle = createAgentBundle(name, args, this);
    const backupGrant = backup
      ? pulumi
          .all([backup.bucketArn, backup.kmsKeyArn, backup.region])
          .apply(([bucketArn, key, region]) => ({ bucketArn, prefix: backup.prefix, region, ...(key ? { kmsKeyArn: key } : {}) }))
      : undefined;
    // The repository as the nodes' pgBackRest addresses it (no credentials: the instance role's, from IMDS).
    const backupTarget = backup
      ? pulumi.all([backup.bucketName, backup.region, backup.kmsKeyArn]).apply(([bucket, region, key]) => ({
          bucket,
          region,
          endpoint: s3Endpoint(region),
          path: repoPath(backup.prefix),
          ...(key ? { kmsKeyId: key } : {}),
        }))
      : pulumi.output(undefined);

    const slotMembers = (slots: HostSlot[]) =>
      pulumi.all(slots.map((s) => s.privateIp.apply((privateIp) => ({ name: s.host, privateIp }))));
    const specs = pulumi
      .all([
        slotMembers(nodeSlots),
        slotMembers(etcdMemberSlots),
        pulumi.all(allSlots.map((s) => s.volume.id)),
        network.vpcCidrs,
        bundle.bucket.bucket,
        backupTarget,
        restoreSource,
      ])
      .apply(([nodes, etcdMembers, volumeIds, vpcCidrs, bucket, backupRepo, source]) =>
        hostSpecs({
          clusterName: args.clusterName,
          ssmParameterPrefix: args.ssmParameterPrefix,
          architecture: args.architecture,
          sessionManager: args.sessionManager,
          packagesPreinstalled: args.egress === "endpoints",
          bundle: { bucket, key: BUNDLE_KEY },
          nodes,
          etcdMembers,
          etcdPlacement: args.etcd.placement,
          volumeIds: Object.fromEntries(allSlots.map((s, i) => [s.host, volumeIds[i]])),
          postgres: {
            version: args.postgres.version,
            allowedCidrs: vpcCidrs,
            settings: args.settings,
            routing: args.routing,
            ...(backupRepo ? { backup: backupRepo } : {}),
            ...(source ? { restore: source.host } : {}),
          },
        }),
      );

    const ami = resolveAmi(args.amiId, args.architecture, this);
    const isNode = (i: number) => i < nodeSlots.length;
    const instanceTypeOf = (i: number) => (isNode(i) ? args.instanceType : args.etcd.instanceType);
    // Each host's revision and final user-data (../nodes/launch-plan.ts), and the topology from them.
    const launches = pulumi
      .all([specs, ami])
      .apply(([all, image]) =>
        all.map((spec, i) => hostLaunch(spec, image, instanceTypeOf(i), isNode(i) ? args.dataVolume : args.etcd.dataVolume)),
      );
    const topology = createTopologyParameter(
      name,
      args,
      launches.apply((l) =>
        topologyFromLaunches(
          l,
          nodeSlots.map((s) => s.host),
          etcdMemberSlots.map((s) => s.host),
        ),
      ),
      this,
    );
    const identity = createNodeIdentity(
      name,
      args,
      {
        parameterArns: [...nodeParameters, topology].map((p) => p.arn),
        bundleObjectArn: bundle.objectArn,
        kmsKeyArn,
        backup: backupGrant,
        restoreSource: restoreSource.apply((s) => s?.grant),
      },
      this,
    );
    // Dedicated etcd hosts have a role of their own: their certificates, the CA, the topology and the bundle.
    const etcdIdentity = etcdSlots.length
      ? createEtcdIdentity(
          name,
          args,
          { parameterArns: [...etcdParameters, topology].map((p) => p.arn), bundleObjectArn: bundle.objectArn, kmsKeyArn },
          this,
        )
      : undefined;
    const hostPolicies = createHostPolicies(name, args, { nodes: identity.role, etcd: etcdIdentity?.role }, this);
    // Hosts boot only once their parameters, the bundle and their permissions exist, so the first boot finds them.
    const bootDeps = [
      ...parameters,
      topology,
      bundle.object,
      identity.instanceProfile,
      identity.policy,
      ...(etcdIdentity ? [etcdIdentity.instanceProfile, etcdIdentity.policy] : []),
      ...hostPolicies,
      ...(backup?.ready ?? []),
    ];
    allSlots.forEach((slot, i) => {
      const { group } = createHostGroup(
        name,
        slot,
        {
          instanceType: instanceTypeOf(i),
          ami,
          instanceProfileArn: (isNode(i) || !etcdIdentity ? identity : etcdIdentity).instanceProfile.arn,
          securityGroupIds: [isNode(i) ? sgs.nodes.id : sgs.etcd.id],
          userData: launches.apply((l) => l[i].userData),
          publicIp: hostEgress[i].publicIp,
          kmsKeyArn,
        },
        args,
        this,
        // Through the egress plan (a refused placement holds every host back) and after the VPC endpoints.
        pulumi.all([hostEgress[i].publicIp, endpoints]).apply(([, ep]) => [...bootDeps, ...ep]),
      );
      if (isNode(i)) attachNode(name, slot.host, slot.privateIp, lb, args.routing, this, [group]);
    });

    this.primaryEndpoint = lb.nlb.dnsName;
    this.replicaEndpoint = lb.nlb.dnsName;
    this.primaryPort = pulumi.output(args.listenerPorts.primary);
    this.replicaPort = pulumi.output(args.listenerPorts.replica);
    this.superuserPasswordParameterName = pulumi.output(ssmNames.superuserPassword);
    this.dynamicConfigParameterName = desiredConfig.name;
    this.replicationPasswordParameterName = pulumi.output(ssmNames.replicationPassword);
    this.caCertificatePem = ca.certPem;
    this.nodePrivateIps = pulumi.all(nodeSlots.map((s) => s.privateIp));
    this.etcdPrivateIps = pulumi.all(etcdMemberSlots.map((s) => s.privateIp));
    this.topologyParameterName = topology.name;
    this.clientSecurityGroupId = sgs.clients.id;
    this.backupBucketName = backup ? backup.bucketName : pulumi.output(undefined);
    this.backupCipherPassParameterName = pulumi.output(backup ? ssmNames.backupCipherPass : undefined);
    this.publicIps = pulumi
      .all(hostEgress.map((e) => e.publicIp))
      .apply((flags) => Object.fromEntries(allSlots.map((s, i) => [s.host, flags[i]])));
    this.egress = pulumi
      .all([placement, egressPlan.bySubnet])
      .apply(([p, modes]) => Object.fromEntries(allSlots.map((s, i) => [s.host, modes[subnetOf(p, i).id]])));
    this.registerOutputs({
      primaryEndpoint: this.primaryEndpoint,
      primaryPort: this.primaryPort,
      replicaEndpoint: this.replicaEndpoint,
      replicaPort: this.replicaPort,
      superuserPasswordParameterName: this.superuserPasswordParameterName,
      dynamicConfigParameterName: this.dynamicConfigParameterName,
      replicationPasswordParameterName: this.replicationPasswordParameterName,
      caCertificatePem: this.caCertificatePem,
      nodePrivateIps: this.nodePrivateIps,
      etcdPrivateIps: this.etcdPrivateIps,
      clientSecurityGroupId: this.clientSecurityGroupId,
      publicIps: this.publicIps,
      topologyParameterName: this.topologyParameterName,
      egress: this.egress,
      backupBucketName: this.backupBucketName,
      backupCipherPassParameterName: this.backupCipherPassParameterName,
    });
  }
}
