/**
 * From the cluster's layout (resolved args plus the addresses and ids AWS assigned) to one
 * `HostSpec` per host. Pure, so the tests render the very specs the component renders.
 */
import { NODE_PORTS } from "../args/types";
import { parameterNames } from "../naming/names";
import { etcdInitialMembers, ROUTING_SEED_NODES } from "../topology/document";
import { NODE_PATHS } from "./paths";
import { HostSpec, Member, PostgresHostSpec, SecretFile } from "./spec";

export interface ClusterLayout {
  clusterName: string;
  ssmParameterPrefix: string;
  architecture: "x86_64" | "arm64";
  sessionManager: boolean;
  /** See `HostSpec.packagesPreinstalled`. Default: false. */
  packagesPreinstalled?: boolean;
  bundle: { bucket: string; key: string };
  /** PostgreSQL nodes in index order. */
  nodes: Member[];
  /** etcd members: dedicated hosts, or the first nodes when colocated. */
  etcdMembers: Member[];
  etcdPlacement: "dedicated" | "colocated";
  /** Data volume id per host name. */
  volumeIds: Record<string, string>;
  postgres: Omit<PostgresHostSpec, "members" | "desiredConfigParameter">;
}

function tlsFiles(prefix: string, cluster: string, host: string, dir: string, owner: string): SecretFile[] {
  const p = parameterNames(prefix, cluster);
  return [
    { parameter: p.caCertificate, path: `${dir}/ca.crt`, owner, mode: "0644" },
    { parameter: p.hostCertificate(host), path: `${dir}/host.crt`, owner, mode: "0644" },
    { parameter: p.hostKey(host), path: `${dir}/host.key`, owner, mode: "0600" },
  ];
}

export function hostSpecs(layout: ClusterLayout): HostSpec[] {
  const p = parameterNames(layout.ssmParameterPrefix, layout.clusterName);
  // Only what stays the same when the cluster grows or shrinks goes into a host's user-data (its
  // revision digests it): the etcd members it bootstraps with and the first nodes as seeds. The rest
  // comes from the topology parameter at run time.
  const initial = new Set(etcdInitialMembers(layout.etcdMembers));
  const bootstrapMembers = layout.etcdMembers.filter((m) => initial.has(m.name));
  const seedNodes = layout.nodes.slice(0, ROUTING_SEED_NODES);
  const etcdEndpoints = bootstrapMembers.map((m) => `https://${m.privateIp}:${NODE_PORTS.etcdClient}`);
  const etcdNames = new Set(layout.etcdMembers.map((m) => m.name));
  const base = (m: Member) => ({
    clusterName: layout.clusterName,
    hostName: m.name,
    privateIp: m.privateIp,
    architecture: layout.architecture,
    bundle: layout.bundle,
    dataVolumeId: layout.volumeIds[m.name],
    sessionManager: layout.sessionManager,
    ...(layout.packagesPreinstalled ? { packagesPreinstalled: true } : {}),
    etcdEndpoints,
    topologyParameter: p.topology,
  });
  const etcdOn = (m: Member, colocated: boolean): Pick<HostSpec, "etcd"> => (colocated ? { etcd: { members: bootstrapMembers } } : {});

  const nodeSpecs: HostSpec[] = layout.nodes.map((m) => {
    const colocated = layout.etcdPlacement === "colocated" && etcdNames.has(m.name);
    return {
      ...base(m),
      secretFiles: [
        { parameter: p.superuserPassword, path: NODE_PATHS.superuserPasswordFile, owner: "postgres", mode: "0600" },
        { parameter: p.replicationPassword, path: NODE_PATHS.replicationPasswordFile, owner: "postgres", mode: "0600" },
        { parameter: p.apiPassword, path: NODE_PATHS.apiPasswordFile, owner: "postgres", mode: "0600" },
        ...(layout.postgres.backup
          ? [{ parameter: p.backupCipherPass, path: NODE_PATHS.backupCipherPassFile, owner: "postgres", mode: "0600" }]
          : []),
        ...(layout.postgres.restore
          ? [
              {
                parameter: layout.postgres.restore.cipherPassParameter,
                path: NODE_PATHS.restoreSourceCipherPassFile,
                owner: "postgres",
                mode: "0600",
                region: layout.postgres.restore.region,
              },
            ]
          : []),
        ...tlsFiles(layout.ssmParameterPrefix, layout.clusterName, m.name, NODE_PATHS.postgresTlsDir, "postgres"),
        ...(colocated ? tlsFiles(layout.ssmParameterPrefix, layout.clusterName, m.name, NODE_PATHS.etcdTlsDir, "etcd") : []),
      ],
      postgres: { ...layout.postgres, members: seedNodes, desiredConfigParameter: p.dynamicConfig },
      ...etcdOn(m, colocated),
    };
  });
  const etcdSpecs: HostSpec[] =
    layout.etcdPlacement === "dedicated"
      ? layout.etcdMembers.map((m) => ({
          ...base(m),
          secretFiles: tlsFiles(layout.ssmParameterPrefix, layout.clusterName, m.name, NODE_PATHS.etcdTlsDir, "etcd"),
          ...etcdOn(m, true),
        }))
      : [];
  return [...nodeSpecs, ...etcdSpecs];
}
