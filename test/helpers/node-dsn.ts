/** The local cluster's DSN pointed at one node directly instead of the proxy. */
import type { ClusterFile, NodeEntry } from "../../local/state";

export function nodeDsn(c: ClusterFile, node: Pick<NodeEntry, "host" | "pgPort">): string {
  const u = new URL(c.dsn);
  u.hostname = node.host;
  u.port = String(node.pgPort);
  return u.toString();
}
