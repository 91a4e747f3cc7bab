/**
 * Renders the cloud-init user-data of one host. Pure: a `HostSpec` of resolved values in, a
 * `#cloud-config` document out (snapshot-tested, and checked by cloud-init schema, shellcheck,
 * systemd-analyze and haproxy -c). It must stay under EC2's 16 KB limit; the agent itself comes
 * from S3 and the secrets from SSM, so neither is in here.
 */
import { gunzipSync, gzipSync } from "node:zlib";
import { parse, stringify } from "yaml";
import type { NodeInitPlanInput } from "../../sidecar/contract/boot-plan";
import { agentConfigForNode, cliConfigForNode } from "./agent-config";
import { renderBootScript } from "./boot-script";
import { renderDay2Files } from "./day2-units";
import { renderAgentUnit, renderEtcdEnv, renderEtcdUnit, nodeRoutingConfig, renderHaproxyUnit } from "./files";
import { AGENT_NAMESPACE, TOPOLOGY_INTERVAL_S } from "./agent-config";
import { CLI_WRAPPER_SCRIPT, NODE_PATHS, UNITS } from "./paths";
import { HostSpec } from "./spec";
import { renderWatchdogFiles } from "./watchdog";
import type { WrittenFile } from "./written-file";

export type { WrittenFile };

/** EC2 rejects user-data over 16384 bytes (before base64). */
export const USER_DATA_LIMIT_BYTES = 16384;

/**
 * The user-data as EC2 gets it: gzip-compressed (cloud-init decompresses gzip user-data itself), so
 * the 16 KB limit applies to the compressed bytes. Deterministic (gzip header without a time), so an
 * unchanged document is an unchanged launch template.
 */
export function compressUserData(text: string): Buffer {
  return gzipSync(Buffer.from(text, "utf8"), { level: 9 });
}

/** The base64 of the compressed user-data (a launch template's `userData`). Throws over EC2's limit. */
export function ec2UserData(text: string): string {
  const gz = compressUserData(text);
  if (gz.length > USER_DATA_LIMIT_BYTES) {
    throw new Error(`user-data is ${gz.length} bytes compressed, over EC2's ${USER_DATA_LIMIT_BYTES}: move content to the agent bundle`);
  }
  return gz.toString("base64");
}

/** Debian packages a host needs. */
export function hostPackages(spec: HostSpec): string[] {
  return [
    "curl",
    "unzip",
    "awscli",
    "nodejs",
    // pgbackrest on every PostgreSQL node, backups on or off: a node can always restore from a repository.
    ...(spec.postgres ? [`postgresql-${spec.postgres.version}`, "haproxy", "pgbackrest"] : []),
    ...(spec.etcd ? ["etcd-server"] : []),
  ];
}

/**
 * The node-init plan of a host: which SSM parameters go to which files, the agent config, and the day-2
 * fields (docs/day2.md): the host and the revision it boots, the cluster's etcd prefix for its host
 * report, the topology, its etcd member's join, the units a certificate refresh reloads.
 */
export function renderNodeInitPlan(spec: HostSpec): NodeInitPlanInput {
  const tls = NODE_PATHS.etcdTlsDir;
  return {
    version: 1,
    files: spec.secretFiles.map((f) => ({ ...f })),
    ...(spec.revision !== undefined ? { host: { name: spec.hostName, revision: spec.revision } } : {}),
    cluster: { name: spec.clusterName, namespace: AGENT_NAMESPACE },
    topology: { ssmParameter: spec.topologyParameter, intervalSeconds: TOPOLOGY_INTERVAL_S },
    ...(spec.etcd
      ? {
          etcd: {
            name: spec.hostName,
            dataDir: NODE_PATHS.etcdData,
            membershipEnvFile: NODE_PATHS.etcdJoinEnv,
            caFile: `${tls}/ca.crt`,
            certFile: `${tls}/host.crt`,
            keyFile: `${tls}/host.key`,
          },
        }
      : {}),
    // HAProxy's checks read the CA; the agent and etcd pick renewed files up themselves.
    refresh: { reloadUnits: spec.postgres ? [UNITS.haproxy] : [] },
    ...(spec.postgres
      ? { agentConfig: { path: NODE_PATHS.agentConfig, owner: "postgres", mode: "0600", config: agentConfigForNode(spec) } }
      : {}),
  };
}

/** Every file the user-data writes (what the tool checks run on). */
export function renderFiles(spec: HostSpec): WrittenFile[] {
  const files: WrittenFile[] = [
    // Keeps the packages' own services (etcd, haproxy) from starting with their defaults during
    // the install; the boot script removes it.
    { path: "/usr/sbin/policy-rc.d", content: "#!/bin/sh\nexit 101\n", permissions: "0755" },
    { path: NODE_PATHS.nodeInitPlan, content: `${JSON.stringify(renderNodeInitPlan(spec))}\n`, permissions: "0600" },
    { path: NODE_PATHS.bootScript, content: renderBootScript(spec), permissions: "0755" },
    ...renderDay2Files(spec),
  ];
  if (spec.postgres) {
    files.push(
      // The agent creates the cluster itself; Debian's package would otherwise initdb a "main" cluster.
      { path: "/etc/postgresql-common/createcluster.d/hapg.conf", content: "create_main_cluster = false\n", permissions: "0644" },
      { path: NODE_PATHS.haproxyConfig, content: nodeRoutingConfig(spec.postgres.members), permissions: "0644" },
      // `hapg` on PATH for every user (a Session Manager shell), reading the cluster from cli.json.
      { path: NODE_PATHS.cliWrapper, content: CLI_WRAPPER_SCRIPT, permissions: "0755" },
      { path: NODE_PATHS.cliConfig, content: `${JSON.stringify(cliConfigForNode(spec))}\n`, permissions: "0644" },
      { path: `${NODE_PATHS.systemdDir}/${UNITS.haproxy}`, content: renderHaproxyUnit(spec), permissions: "0644" },
      { path: `${NODE_PATHS.systemdDir}/${UNITS.agent}`, content: renderAgentUnit(spec), permissions: "0644" },
      ...renderWatchdogFiles(spec),
    );
  }
  if (spec.etcd) {
    files.push(
      { path: NODE_PATHS.etcdEnv, content: renderEtcdEnv(spec), permissions: "0644" },
      { path: `${NODE_PATHS.systemdDir}/${UNITS.etcd}`, content: renderEtcdUnit(spec), permissions: "0644" },
    );
  }
  return files;
}

/**
 * The `#cloud-config` user-data of one host, as plain text (readable in review and in the snapshots).
 * EC2 gets it gzip-compressed (`ec2UserData`), so EC2's 16 KB limit applies to the compressed bytes:
 * that holds every layout the arguments' validation accepts (test/component/aws-property.test.ts).
 */
export function renderUserData(spec: HostSpec): string {
  const doc = {
    // write_files runs before package installs, so policy-rc.d and createcluster.d take effect.
    write_files: renderFiles(spec).map((f) => ({ path: f.path, permissions: f.permissions, content: f.content })),
    // With the packages on the AMI (no mirror reachable) even `apt-get update` would fail the boot.
    ...(spec.packagesPreinstalled ? {} : { package_update: true, packages: hostPackages(spec) }),
    runcmd: [[NODE_PATHS.bootScript]],
  };
  const text = `#cloud-config\n${stringify(doc, { lineWidth: 0 })}`;
  const bytes = compressUserData(text).length;
  if (bytes > USER_DATA_LIMIT_BYTES) {
    throw new Error(
      `user-data of ${spec.hostName} is ${bytes} bytes compressed, over EC2's ${USER_DATA_LIMIT_BYTES}: move content to the agent bundle`,
    );
  }
  return text;
}

/** The files a user-data document writes, as EC2 gets it (base64 of gzip) or as rendered: what cloud-init puts on the node. */
export function readWrittenFiles(userData: string): WrittenFile[] {
  const text = userData.startsWith("#cloud-config") ? userData : gunzipSync(Buffer.from(userData, "base64")).toString("utf8");
  const doc = parse(text) as { write_files: WrittenFile[] };
  return doc.write_files.map((f) => ({ path: f.path, permissions: f.permissions, content: f.content }));
}
