/**
 * DIR/cluster.json, what `hapg local up` writes (local/state.ts) and the operator commands read with
 * `--dir DIR` (`hapg switchover`, `hapg restart`): the nodes' API URLs and the API credentials. It ships
 * with the CLI; the local cluster that writes it does not.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { SYNCHRONOUS_MODES, type SynchronousMode } from "../contract/settings/schema";

/** `Network`: the local cluster's network plan (--netns), opaque to the CLI. */
export interface ClusterFile<Network = unknown> {
  proxy: { host: string; port: number };
  replicaProxy: { host: string; port: number };
  /** postgresql://postgres:<password>@127.0.0.1:<proxy port>/postgres */
  dsn: string;
  /** Credentials for the agents' API calls that change something (switchover, failover): the user and the password's file. */
  api?: { username: string; passwordFile: string };
  /** The agents' synchronousMode: "off", "on", "strict" or "quorum". */
  synchronousMode: SynchronousMode;
  etcd: { name: string; clientUrl: string; pid: number; netns?: string }[];
  nodes: { name: string; host: string; pgPort: number; apiUrl: string; dataDir: string; agentPid: number; netns?: string }[];
  /** With --netns: the bridge and namespaces `down` removes. */
  network?: Network;
  /** With --backup: the local S3 server (s3rver) holding the backup repository. */
  s3?: { pid: number; port: number; dir: string; bucket: string };
}

export function clusterJsonPath(dir: string): string {
  return path.join(path.resolve(dir), "cluster.json");
}

export function readClusterFile<Network = unknown>(dir: string): ClusterFile<Network> {
  const file = clusterJsonPath(dir);
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new Error(`${file}: cannot read it (${(e as Error).message}): is a local cluster running there (hapg local up --dir ${dir})?`, {
      cause: e,
    });
  }
  const c = JSON.parse(text) as ClusterFile<Network>;
  if (!Array.isArray(c.nodes) || !Array.isArray(c.etcd) || typeof c.dsn !== "string") {
    throw new Error(`${file}: not a cluster.json written by hapg local up`);
  }
  // A cluster.json from before --sync existed: its agents ran asynchronously.
  c.synchronousMode ??= "off";
  if (!SYNCHRONOUS_MODES.includes(c.synchronousMode)) {
    throw new Error(`${file}: synchronousMode "${String(c.synchronousMode)}" is not one of ${SYNCHRONOUS_MODES.join(", ")}`);
  }
  return c;
}
