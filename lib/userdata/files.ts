/**
 * Config files and systemd units written by the user-data. Pure string renderers; each output is
 * checked by the real tool in the tests (haproxy -c, systemd-analyze verify).
 */
import { renderRoutingConfig } from "../../sidecar/contract/haproxy-config";
import { NODE_PORTS } from "../args/types";
import { unitText } from "./day2-units";
import { NODE_PATHS, UNITS } from "./paths";
import { HostSpec, Member } from "./spec";
import { watchdogExecStartPre } from "./watchdog";

/**
 * HAProxy on every PostgreSQL node: port 5000 goes to the member whose agent answers 200 on
 * `/primary`, port 5001 round robin to those answering 200 on `/replica`. The same renderer and
 * tuning as the local cluster the failover benchmark measures; only addresses, ports and the checks'
 * TLS (the agents serve HTTPS here, verified against the cluster CA and each member's name) differ.
 */
export function nodeRoutingConfig(members: Member[]): string {
  return renderRoutingConfig({
    header: "Written by HaPostgresCluster user-data. Routes to the primary / replicas by the agent's health API.",
    bindHost: "*",
    primaryPort: NODE_PORTS.haproxyPrimary,
    replicaPort: NODE_PORTS.haproxyReplica,
    servers: members.map((m) => ({
      name: m.name,
      host: m.privateIp,
      pgPort: NODE_PORTS.postgres,
      apiPort: NODE_PORTS.agentApi,
      // The agents serve HTTPS with their host certificates, which name the host.
      apiTls: { caFile: `${NODE_PATHS.postgresTlsDir}/ca.crt`, verifyHost: m.name },
    })),
  });
}

/** etcd settings as environment variables (etcd reads ETCD_* itself); TLS everywhere, client certs required. */
export function renderEtcdEnv(spec: HostSpec): string {
  const members = spec.etcd?.members ?? [];
  const tls = NODE_PATHS.etcdTlsDir;
  const ip = spec.privateIp;
  const lines: Array<[string, string]> = [
    ["ETCD_NAME", spec.hostName],
    ["ETCD_DATA_DIR", NODE_PATHS.etcdData],
    ["ETCD_LISTEN_PEER_URLS", `https://${ip}:${NODE_PORTS.etcdPeer}`],
    ["ETCD_LISTEN_CLIENT_URLS", `https://${ip}:${NODE_PORTS.etcdClient},https://127.0.0.1:${NODE_PORTS.etcdClient}`],
    ["ETCD_ADVERTISE_CLIENT_URLS", `https://${ip}:${NODE_PORTS.etcdClient}`],
    ["ETCD_INITIAL_ADVERTISE_PEER_URLS", `https://${ip}:${NODE_PORTS.etcdPeer}`],
    ["ETCD_INITIAL_CLUSTER", members.map((m) => `${m.name}=https://${m.privateIp}:${NODE_PORTS.etcdPeer}`).join(",")],
    // Only the bootstrap members (ETCD_INITIAL_CLUSTER) ever start with "new", with an empty data
    // directory and no running cluster; a replaced instance finds its data on the kept volume.
    ["ETCD_INITIAL_CLUSTER_STATE", "new"],
    ["ETCD_INITIAL_CLUSTER_TOKEN", `hapg-${spec.clusterName}`],
    ["ETCD_CLIENT_CERT_AUTH", "true"],
    ["ETCD_TRUSTED_CA_FILE", `${tls}/ca.crt`],
    ["ETCD_CERT_FILE", `${tls}/host.crt`],
    ["ETCD_KEY_FILE", `${tls}/host.key`],
    ["ETCD_PEER_CLIENT_CERT_AUTH", "true"],
    ["ETCD_PEER_TRUSTED_CA_FILE", `${tls}/ca.crt`],
    ["ETCD_PEER_CERT_FILE", `${tls}/host.crt`],
    ["ETCD_PEER_KEY_FILE", `${tls}/host.key`],
    // Defaults (100 ms / 1000 ms) suit one region; stated so a reader sees the lease floor.
    ["ETCD_HEARTBEAT_INTERVAL", "100"],
    ["ETCD_ELECTION_TIMEOUT", "1000"],
  ];
  return `# Written by HaPostgresCluster user-data.\n${lines.map(([k, v]) => `${k}=${v}`).join("\n")}\n`;
}

/**
 * RequiresMountsFor only binds to a mount unit that exists: when the data volume's mount is missing
 * (an fstab line lost, a mount that never came up), etcd and the agent would start against the root
 * disk's empty /srv/hapg — the agent then rebuilds its replica there, on the wrong disk.
 * The assertion keeps them stopped, saying why, until the volume is mounted.
 */
const dataVolumeAssert: Array<[string, string]> = [["AssertPathIsMountPoint", NODE_PATHS.dataMount]];

export function renderEtcdUnit(spec: HostSpec): string {
  return unitText({
    Unit: [
      ["Description", `etcd member ${spec.hostName} of HA PostgreSQL cluster ${spec.clusterName}`],
      // etcd listens on the fixed IP: it must be on the interface first.
      ["After", `network-online.target ${UNITS.fixedIp}`],
      ["Wants", `network-online.target ${UNITS.fixedIp}`],
      ["RequiresMountsFor", NODE_PATHS.dataMount],
      ...dataVolumeAssert,
    ],
    Service: [
      ["Type", "notify"],
      ["User", "etcd"],
      ["EnvironmentFile", NODE_PATHS.etcdEnv],
      // A member that joined a running cluster (node-init's join step) overrides the bootstrap values.
      ["EnvironmentFile", `-${NODE_PATHS.etcdJoinEnv}`],
      ["ExecStart", "/usr/bin/etcd"],
      ["Restart", "always"],
      ["RestartSec", "1"],
      ["LimitNOFILE", "65536"],
      // etcd's heartbeats must not wait behind a busy PostgreSQL on a colocated node.
      ["Nice", "-5"],
      ["IOSchedulingClass", "best-effort"],
      ["IOSchedulingPriority", "0"],
    ],
    Install: [["WantedBy", "multi-user.target"]],
  });
}

export function renderHaproxyUnit(spec: HostSpec): string {
  return unitText({
    Unit: [
      ["Description", `HAProxy routing to the primary of HA PostgreSQL cluster ${spec.clusterName}`],
      ["After", "network-online.target"],
      ["Wants", "network-online.target"],
    ],
    Service: [
      ["Type", "notify"],
      ["ExecStartPre", `/usr/sbin/haproxy -c -q -f ${NODE_PATHS.haproxyConfig}`],
      ["ExecStart", `/usr/sbin/haproxy -Ws -f ${NODE_PATHS.haproxyConfig}`],
      // A file the agent rewrote is checked before the reload: a bad one leaves the running HAProxy as is.
      ["ExecReload", `/usr/sbin/haproxy -c -q -f ${NODE_PATHS.haproxyConfig}`],
      ["ExecReload", "/bin/kill -USR2 $MAINPID"],
      ["Restart", "always"],
      ["RestartSec", "1"],
      // Ports 5000/5001 need no privilege: run as a throwaway user.
      ["DynamicUser", "yes"],
    ],
    Install: [["WantedBy", "multi-user.target"]],
  });
}

export function renderAgentUnit(spec: HostSpec): string {
  const after = ["network-online.target", UNITS.fixedIp, ...(spec.etcd ? [UNITS.etcd] : [])].join(" ");
  return unitText({
    Unit: [
      ["Description", `HA PostgreSQL agent ${spec.hostName} of cluster ${spec.clusterName}`],
      ["After", after],
      ["Wants", `network-online.target ${UNITS.fixedIp}`],
      ["RequiresMountsFor", NODE_PATHS.dataMount],
      ...dataVolumeAssert,
    ],
    Service: [
      ["Type", "simple"],
      ["User", "postgres"],
      ["Group", "postgres"],
      ...watchdogExecStartPre(spec),
      ["ExecStart", `${NODE_PATHS.node} ${NODE_PATHS.cli} agent --config ${NODE_PATHS.agentConfig}`],
      ["Restart", "always"],
      ["RestartSec", "1"],
      // The agent adopts a running postmaster on restart (postmaster.pid), so a crash or upgrade
      // of the agent must not take PostgreSQL down with it: only the agent's own process is signalled.
      ["KillMode", "process"],
      // Time for the agent's smart → fast → immediate shutdown escalation.
      ["TimeoutStopSec", "60"],
      ["LimitNOFILE", "65536"],
    ],
    Install: [["WantedBy", "multi-user.target"]],
  });
}
