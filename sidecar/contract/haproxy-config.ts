/**
 * The HAProxy config that routes clients to the primary (and round robin to the replicas) by the
 * agents' health API. One renderer for every place HAProxy runs: each EC2 node (lib/userdata) and
 * the local cluster (`hapg local up`, where the failover benchmark measures it). The callers give
 * addresses, ports, the header and an optional stats page; every check interval, timeout, retry and
 * limit is written here only, so what is deployed is what was benchmarked.
 */

export interface RoutedServer {
  /** The member name (HAProxy's server name: shows in its logs and stats). */
  name: string;
  host: string;
  pgPort: number;
  apiPort: number;
  /**
   * The agent's API serves HTTPS (AWS): checks go over TLS, the certificate must chain to `caFile` and
   * name `verifyHost` (the member's host name, in its certificate). Absent: plain HTTP checks (local).
   */
  apiTls?: { caFile: string; verifyHost: string };
}

export interface RoutingConfigInput {
  /** First line(s), without '#': who writes the file. */
  header: string;
  /** Address the two client listeners bind: "*" on a node (the NLB reaches every node), 127.0.0.1 locally. */
  bindHost: string;
  primaryPort: number;
  replicaPort: number;
  servers: RoutedServer[];
  /** An HTTP stats page (the local cluster waits for it at start, and shows it). */
  stats?: { host: string; port: number };
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/**
 * Checks run every second (`inter 1s`); while a server changes state every 250 ms (`fastinter`) and
 * while it is DOWN every 100 ms (`downinter`), so a newly promoted primary is picked up within ~0.1 s.
 * The agents answer from a 100 ms status cache, so this costs little even with one HAProxy per node
 * checking every member (5 nodes: about 50 small requests a second per agent, inside the VPC).
 * A dead server is dropped within ~1.25 s (fall 2). Until then `option redispatch` sends a
 * connection that the dead server refused to another UP server on the last retry.
 * `on-marked-down shutdown-sessions` cuts clients still attached to a demoted primary, so they
 * reconnect to the new one instead of writing into a dead or read-only server.
 */
const DEFAULT_SERVER = "default-server inter 1s fastinter 250ms downinter 100ms fall 2 rise 1 on-marked-down shutdown-sessions";

/** TLS for a server's health checks only: client traffic to PostgreSQL stays TCP (PostgreSQL does its own TLS). */
function checkTls(s: RoutedServer): string {
  if (!s.apiTls) return "";
  if (!NAME.test(s.apiTls.verifyHost)) throw new Error(`HAProxy verifyhost "${s.apiTls.verifyHost}": use a host name`);
  if (!/^\/\S+$/.test(s.apiTls.caFile)) throw new Error(`HAProxy ca-file "${s.apiTls.caFile}": use an absolute path without spaces`);
  return ` check-ssl verify required ca-file ${s.apiTls.caFile} verifyhost ${s.apiTls.verifyHost}`;
}

export function renderRoutingConfig(c: RoutingConfigInput): string {
  if (c.servers.length === 0) throw new Error("HAProxy needs at least one server to route to");
  for (const s of c.servers) {
    if (!NAME.test(s.name)) throw new Error(`HAProxy server name "${s.name}": use letters, digits, '.', '_' or '-'`);
  }
  const servers = c.servers.map((s) => `    server ${s.name} ${s.host}:${s.pgPort} check port ${s.apiPort}${checkTls(s)}`);
  const listener = (name: string, port: number, check: string, extra: string[]) => [
    `listen ${name}`,
    `    bind ${c.bindHost}:${port}`,
    ...extra,
    "    option httpchk",
    `    http-check send meth GET uri ${check}`,
    "    http-check expect status 200",
    `    ${DEFAULT_SERVER}`,
    ...servers,
    "",
  ];
  const stats = c.stats
    ? [
        "listen stats",
        "    mode http",
        `    bind ${c.stats.host}:${c.stats.port}`,
        "    stats enable",
        "    stats uri /stats",
        "    stats refresh 2s",
        "",
      ]
    : [];
  return [
    ...c.header.split("\n").map((l) => `# ${l}`),
    "global",
    // Each proxied connection holds two descriptors; HAProxy raises its own fd limit to match.
    "    maxconn 4096",
    // No log target: HAProxy prints server state changes on stderr both in the foreground (`-db`,
    // the local cluster's haproxy.log) and in systemd mode (`-Ws`, the journal). A log target would
    // print each twice, and per-connection lines would flood the log during a writer run.
    "",
    "defaults",
    "    mode tcp",
    // HAProxy waits min(timeout connect, 1 s) before retrying a refused connection: short, and one
    // retry (redispatched to another UP server), so a client never sits 1 s in HAProxy during failover.
    "    retries 1",
    "    option redispatch",
    // A connect is one round trip: well under a millisecond on loopback, 1-2 ms between AZs of one
    // region, so 250 ms is generous everywhere. A dead host (no RST) then fails fast and the client
    // retries instead of waiting seconds; a lost SYN (the kernel resends it only after 1 s) costs
    // one HAProxy retry.
    "    timeout connect 250ms",
    // PostgreSQL connections idle for minutes (pools) and must survive.
    "    timeout client 30m",
    "    timeout server 30m",
    "    timeout check 1s",
    "",
    ...listener("primary", c.primaryPort, "/primary", []),
    ...listener("replicas", c.replicaPort, "/replica", ["    balance roundrobin"]),
    ...stats,
  ].join("\n");
}
