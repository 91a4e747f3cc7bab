/**
 * Where things live on a node. Shared by the user-data renderer, the agent config renderer and the
 * tests, so a path is spelled once.
 */
export const NODE_PATHS = {
  /** The unpacked agent bundle (dist/sidecar, package.json, node_modules). */
  appDir: "/opt/hapg/app",
  bundleZip: "/opt/hapg/bundle.zip",
  /** The agent CLI entry point inside the bundle. */
  cli: "/opt/hapg/app/dist/sidecar/cli/main.js",
  node: "/usr/bin/node",
  configDir: "/etc/hapg",
  /** What node-init reads: parameter names → files, and the agent config to write. No secrets. */
  nodeInitPlan: "/etc/hapg/node-init.json",
  /** Written by node-init, 0600, owned by postgres. */
  agentConfig: "/etc/hapg/agent.json",
  /**
   * HAProxy's config, in a directory the agent (user postgres) owns: it rewrites the file atomically
   * (write + rename) when the topology's nodes change, and a path unit reloads HAProxy.
   */
  haproxyDir: "/etc/hapg/haproxy",
  haproxyConfig: "/etc/hapg/haproxy/haproxy.cfg",
  /** The operator CLI's default config (no secret, world-readable) and the `hapg` command on PATH. */
  cliConfig: "/etc/hapg/cli.json",
  cliWrapper: "/usr/local/bin/hapg",
  etcdEnv: "/etc/hapg/etcd.env",
  /**
   * Written by node-init's etcd join step (runtime) for a member that joins a running cluster: its
   * ETCD_INITIAL_CLUSTER and ETCD_INITIAL_CLUSTER_STATE=existing override etcdEnv's bootstrap values.
   */
  etcdJoinEnv: "/etc/hapg/etcd-join.env",
  /** Written by the claim at boot: the fixed IP (with the subnet's prefix) and the interface it is on. */
  fixedIpEnv: "/etc/hapg/fixed-ip.env",
  bootScript: "/usr/local/sbin/hapg-boot",
  /** Mount point of the EBS data volume. */
  dataMount: "/srv/hapg",
  pgData: "/srv/hapg/postgres/data",
  etcdData: "/srv/hapg/etcd/data",
  /** Secret and TLS files, written by node-init from SSM (keys and passwords 0600). */
  superuserPasswordFile: "/etc/hapg/secrets/superuser-password",
  replicationPasswordFile: "/etc/hapg/secrets/replication-password",
  apiPasswordFile: "/etc/hapg/secrets/api-password",
  /** pgBackRest's repo-cipher-pass (backups on), 0600 for postgres. */
  backupCipherPassFile: "/etc/hapg/secrets/backup-cipher-pass",
  /** The passphrase of the repository a restored cluster is created from (another cluster's), 0600 for postgres. */
  restoreSourceCipherPassFile: "/etc/hapg/secrets/restore-source-cipher-pass",
  postgresTlsDir: "/etc/hapg/tls/postgres",
  etcdTlsDir: "/etc/hapg/tls/etcd",
  systemdDir: "/etc/systemd/system",
} as const;

/** The `hapg` command on PATH (NODE_PATHS.cliWrapper): the bundle's CLI under Debian's node. */
export const CLI_WRAPPER_SCRIPT = `#!/bin/sh\nexec ${NODE_PATHS.node} ${NODE_PATHS.cli} "$@"\n`;

/** systemd unit names written by the user-data. */
export const UNITS = {
  agent: "hapg-agent.service",
  haproxy: "hapg-haproxy.service",
  etcd: "hapg-etcd.service",
  /** Puts the fixed IP on the interface at every boot (the claim assigned it in EC2 once). */
  fixedIp: "hapg-fixed-ip.service",
  /** Reload HAProxy when the agent rewrites its config. */
  haproxyReloadPath: "hapg-haproxy-reload.path",
  haproxyReload: "hapg-haproxy-reload.service",
  /** Periodic certificate refresh: node-init's file step in refresh mode. */
  certRefresh: "hapg-cert-refresh.service",
  certRefreshTimer: "hapg-cert-refresh.timer",
} as const;
