/** Helpers for the backup tests: pgBackRest as a node's agent runs it, the local S3 server, the API's backup views. */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { backupPaths } from "../../sidecar/contract/backup-config";
import type { StanzaInfo } from "../../sidecar/backup/pgbackrest";
import type { BackupView } from "../../sidecar/backup/service";
import { restartS3, stopS3, type S3Server } from "../../local/s3";
import { type ClusterFile, findNode, httpGet, readClusterFile, writeClusterFile } from "../../local/state";

/** Runs pgbackrest with a node's config, as the owner of its data directory (the agent's user). */
export function pgbackrest(c: ClusterFile, node: string, args: string[]): { code: number | null; out: string } {
  const n = findNode(c, node);
  const st = fs.statSync(path.dirname(n.dataDir));
  const r = spawnSync(
    "setpriv",
    [
      "--reuid",
      String(st.uid),
      "--regid",
      String(st.gid),
      "--clear-groups",
      "pgbackrest",
      `--config=${backupPaths(n.dataDir).confFile}`,
      "--stanza=local",
      ...args,
    ],
    { encoding: "utf8", timeout: 120_000, cwd: "/" },
  );
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

export async function backupView(c: ClusterFile, node: string): Promise<BackupView> {
  return (await httpGet(`${findNode(c, node).apiUrl}/backup`, 3000)).body as BackupView;
}

export async function repoInfo(c: ClusterFile, node: string): Promise<StanzaInfo> {
  const r = await httpGet(`${findNode(c, node).apiUrl}/backups`, 30_000);
  if (r.status !== 200) throw new Error(`GET /backups: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as StanzaInfo;
}

/** The local cluster's S3 server, as startS3 returned it (rebuilt from cluster.json and the layout). */
function s3Of(dir: string): S3Server {
  const c = readClusterFile(dir);
  if (!c.s3) throw new Error("the cluster runs without --backup");
  const d = c.s3.dir;
  return {
    pid: c.s3.pid,
    endpoint: "localhost",
    host: "127.0.0.1",
    port: c.s3.port,
    bucket: c.s3.bucket,
    caFile: path.join(d, "tls", "ca.pem"),
    keyFile: path.join(d, "s3-keys.json"),
    dataDir: path.join(d, "data"),
    logFile: path.join(d, "s3rver.log"),
    pidFile: path.join(d, "s3rver.pid"),
  };
}

/** Stops the cluster's S3 server by its pid: an outage of the backup repository. */
export async function stopClusterS3(dir: string): Promise<void> {
  await stopS3(s3Of(dir).pid);
}

/** Starts it again on the same port and objects, and records the new pid for teardown. */
export async function startClusterS3(dir: string): Promise<void> {
  const again = await restartS3(s3Of(dir));
  const c = readClusterFile(dir);
  c.s3!.pid = again.pid;
  writeClusterFile(dir, c);
}

/** The agent log of a node from byte `from` on (what it logged since then). */
export function logSince(c: ClusterFile, node: string, from: number): string {
  const file = path.join(path.dirname(findNode(c, node).dataDir), "agent.log");
  const fd = fs.openSync(file, "r");
  try {
    const size = fs.fstatSync(fd).size;
    const buf = Buffer.alloc(Math.max(0, size - from));
    fs.readSync(fd, buf, 0, buf.length, from);
    return buf.toString("utf8");
  } finally {
    fs.closeSync(fd);
  }
}

export function logSize(c: ClusterFile, node: string): number {
  return fs.statSync(path.join(path.dirname(findNode(c, node).dataDir), "agent.log")).size;
}
