/**
 * Point-in-time restore helpers for local clusters started with `--backup`, shared by the demo
 * (`hapg local demo --pitr`), the integration test and the backup benchmark: wait for the first
 * backup, make sure a moment's WAL is in the archive, and read a stanza's backups.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { Client } from "pg";
import { backupPaths, resolvedRepo } from "../sidecar/contract/backup-config";
import { parseInfo, type StanzaInfo } from "../sidecar/backup/pgbackrest";
import { validateAgentConfig } from "../sidecar/contract/agent-config";
import { runTool } from "../sidecar/postgres/process";
import { serviceOwner } from "./agents";
import { findNode, readClusterFile } from "./state";

/** One query on a fresh connection (the demo and the tests write through the proxy). */
export async function sql<T extends Record<string, unknown>>(dsn: string, text: string, params: unknown[] = []): Promise<T[]> {
  const client = new Client({ connectionString: dsn, connectionTimeoutMillis: 3000 });
  client.on("error", () => undefined);
  await client.connect();
  try {
    return (await client.query<T>(text, params)).rows;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The stanza of a local cluster's backups, read with a node's own pgbackrest.conf as the user the agents run as. */
export async function localBackups(dir: string, node = "node1"): Promise<StanzaInfo> {
  const n = findNode(readClusterFile(dir), node);
  const config = validateAgentConfig(JSON.parse(fs.readFileSync(path.join(path.dirname(n.dataDir), "agent.json"), "utf8")));
  if (!config.backup) throw new Error(`${dir}: the cluster was started without --backup`);
  const stanza = resolvedRepo(config.backup, config.cluster).stanza;
  const owner = serviceOwner();
  const r = await runTool(
    "pgbackrest",
    [`--config=${backupPaths(n.dataDir).confFile}`, `--stanza=${stanza}`, "--log-level-file=off", "--output=json", "info"],
    { runAs: owner ? { uid: owner.uid, gid: owner.gid } : undefined, timeoutMs: 60_000 },
  );
  if (r.code !== 0) throw new Error(`pgbackrest info failed: ${r.stderr.trim() || r.stdout.trim()}`);
  return parseInfo(r.stdout, stanza);
}

/** Waits until the cluster's stanza holds at least `count` backups (the first is taken right after bootstrap). */
export async function waitForBackups(dir: string, count: number, timeoutMs: number): Promise<StanzaInfo> {
  const deadline = Date.now() + timeoutMs;
  let last: string;
  for (;;) {
    try {
      const info = await localBackups(dir);
      if (info.backups.length >= count) return info;
      last = `${info.backups.length} backup(s), status ${info.status.message}`;
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`no backup ${count} in ${dir} within ${timeoutMs} ms (${last})`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/**
 * Closes the current WAL segment on the primary (through `dsn`) and waits until it is in the
 * archive, so every commit made before the call can be restored. Returns the segment's name.
 */
export async function archiveNow(dsn: string, timeoutMs: number): Promise<string> {
  const [{ wal }] = await sql<{ wal: string }>(dsn, "SELECT pg_walfile_name(pg_switch_wal()) AS wal");
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [a] = await sql<{ last: string | null; failed: string | null }>(
      dsn,
      "SELECT last_archived_wal AS last, last_failed_wal AS failed FROM pg_stat_archiver",
    );
    // Same timeline: names compare as segment numbers. A later timeline's segment is archived after ours.
    if (a.last && a.last.slice(0, 24) >= wal) return wal;
    if (Date.now() > deadline)
      throw new Error(`WAL segment ${wal} not archived within ${timeoutMs} ms (last archived ${a.last}, last failed ${a.failed})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
