/** `hapg local up|status|down|demo`: a whole cluster on this machine (see local/layout.ts for ports). */
import * as path from "node:path";
import type { Command } from "commander";
import { DEFAULTS, type LocalOptions, syncModeFromFlags } from "./layout";
import type { RestoreFlags } from "./restore";
import { registerLocalDay2Commands } from "./day2-cli";

// The cluster, demo and writer modules load only when a `local` command runs: the other commands of
// the development CLI start without them.
const cluster = () => import("./cluster");

const DEFAULT_DIR = "/tmp/hapg-local";

function num(name: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isFinite(n)) throw new Error(`${name}: "${v}" is not a number`);
    return n;
  };
}

const progress = (line: string) => console.log(`  ${line}`);

interface SyncFlags {
  synchronousMode?: string;
  sync?: boolean;
  syncStrict?: boolean;
  async?: boolean;
}

/** `up`'s flags: the local options, with the synchronous mode still in flag form. */
type UpFlags = Omit<LocalOptions, "synchronousMode" | "netns"> & SyncFlags & { netns?: boolean };

const SYNC_MODE_HELP =
  'synchronous mode: "off", "on" (a commit is acknowledged once a standby has it, so no failover loses it), "strict" ' +
  '(as on, and writes block rather than go asynchronous when no standby is available) or "quorum" (any k of the standbys)';
const SYNC_HELP = "short for --synchronous-mode on";
const SYNC_STRICT_HELP = "short for --synchronous-mode strict";
const ASYNC_HELP = "short for --synchronous-mode off: asynchronous replication (a failover may lose the last acknowledged commits)";

export function registerLocalCommands(program: Command): void {
  const local = program
    .command("local")
    .description("run a whole HA cluster on 127.0.0.1: etcd, PostgreSQL nodes with their agents, HAProxy");
  registerLocalDay2Commands(local);

  local
    .command("up")
    .description("start etcd, the nodes and HAProxy; return when a primary and all replicas stream")
    .option("-d, --dir <dir>", "directory for data, logs, secrets and cluster.json (must be new or empty)", DEFAULT_DIR)
    .option("--nodes <n>", "PostgreSQL nodes", num("--nodes"), DEFAULTS.nodes)
    .option("--etcd <n>", "etcd members", num("--etcd"), DEFAULTS.etcd)
    .option(
      "--base-port <port>",
      "first of the ports the cluster uses (P..P+299, layout in local/layout.ts)",
      num("--base-port"),
      DEFAULTS.basePort,
    )
    .option("--ttl <seconds>", "leader lease TTL", num("--ttl"), DEFAULTS.ttl)
    .option("--loop-wait <seconds>", "seconds between HA loop runs", num("--loop-wait"), DEFAULTS.loopWait)
    .option("--retry-timeout <seconds>", "seconds an etcd or PostgreSQL call may take", num("--retry-timeout"), DEFAULTS.retryTimeout)
    .option("--synchronous-mode <mode>", `${SYNC_MODE_HELP} (default "${DEFAULTS.synchronousMode}")`)
    .option(
      "--synchronous-quorum <k>",
      "with --synchronous-mode quorum: a commit waits for any k standbys (1 ≤ k ≤ nodes − 1)",
      num("--synchronous-quorum"),
      DEFAULTS.synchronousQuorum,
    )
    .option("--sync", SYNC_HELP)
    .option("--sync-strict", SYNC_STRICT_HELP)
    .option("--async", ASYNC_HELP)
    .option(
      "--desired-config <file>",
      "desired dynamic config (JSON or YAML, Patroni's layout), copied to DIR/desired-config.json: the leader converges etcd's config key to it; edit that file to change the running cluster",
    )
    .option(
      "--netns",
      "root only: every node and etcd member in a network namespace of its own (own address on a bridge), so `hapg local cut` can partition them",
    )
    .option(
      "--topology",
      "publish the cluster's topology in DIR/topology.json: the agents follow it, and `hapg local scale` / `roll` change it",
    )
    .option("--backup", "continuous WAL archiving and backups with pgBackRest to a local S3 server (s3rver on 127.0.0.1)")
    .option(
      "--restore-from <dir|file>",
      "create the cluster from the backups of the local cluster in DIR (started with --backup, still running), " +
        'or of the repository a JSON FILE describes ({"repo": {...}, "stanza": "..."}); implies --backup (its own repository)',
    )
    .option(
      "--target-time <time>",
      "with --restore-from: restore up to this time, with a zone, e.g. 2026-11-27T16:05:00Z (default: the latest point)",
    )
    .option("--target-lsn <lsn>", "with --restore-from: restore up to this WAL position, e.g. 0/3000028")
    .option("--target-name <name>", "with --restore-from: restore up to this restore point (pg_create_restore_point)")
    .option(
      "--standby-of <dir>",
      "a standby cluster of the running local cluster in DIR: its leader follows DIR's proxy (and its WAL archive, with --backup there); promote it with hapg promote-cluster",
    )
    .action(async (opts: UpFlags & RestoreFlags & { standbyOf?: string }) => {
      const {
        sync,
        syncStrict,
        async,
        synchronousMode: modeFlag,
        restoreFrom,
        targetTime,
        targetLsn,
        targetName,
        standbyOf: of,
        ...o
      } = opts;
      const { localFromBackup } = await import("./restore");
      const restore = localFromBackup({ restoreFrom, targetTime, targetLsn, targetName });
      const standbyOf = of === undefined ? undefined : (await import("./standby")).localStandbySource(of);
      const dir = path.resolve(o.dir);
      const synchronousMode = syncModeFromFlags({ sync, syncStrict, async, synchronousMode: modeFlag });
      console.log(`Starting a local cluster in ${dir}${synchronousMode === "off" ? "" : ` (synchronous mode: ${synchronousMode})`}`);
      // The processes run detached (they outlive this command), so a Ctrl-C while starting stops them here.
      const onInt = () => {
        console.log("\ninterrupted: stopping what was started (files stay for reading)");
        void cluster()
          .then(({ localDown }) => localDown(dir, progress, { keepFiles: true }))
          .finally(() => process.exit(130));
      };
      process.once("SIGINT", onInt);
      const { formatStatus, localStatus, localUp, newTable } = await cluster();
      const { redact } = await import("./writer");
      const desiredConfig = o.desiredConfig === undefined ? undefined : path.resolve(o.desiredConfig);
      const c = await localUp({ ...o, netns: o.netns ?? false, dir, synchronousMode, desiredConfig, restore, standbyOf, progress });
      process.removeListener("SIGINT", onInt);
      console.log(formatStatus(await localStatus(dir)));
      const t = newTable();
      t.push(
        { "connect (primary)": `psql '${redact(c.dsn)}'` },
        { "connect (replicas)": `${c.replicaProxy.host}:${c.replicaProxy.port}` },
        { password: `${dir}/secrets/superuser.password (also in ${dir}/cluster.json)` },
        { stop: `hapg local down --dir ${dir}` },
      );
      console.log(t.toString());
    });

  local
    .command("status")
    .description("show each node's role, state, timeline, lag and pids")
    .option("-d, --dir <dir>", "the cluster's directory", DEFAULT_DIR)
    .option("--json", "print JSON instead of a table")
    .action(async (o: { dir: string; json?: boolean }) => {
      const { formatStatus, localStatus } = await cluster();
      const s = await localStatus(path.resolve(o.dir));
      console.log(o.json ? JSON.stringify(s, null, 2) : formatStatus(s));
    });

  local
    .command("down")
    .description("stop exactly what `up` started (by pid) and remove the directory")
    .option("-d, --dir <dir>", "the cluster's directory", DEFAULT_DIR)
    .action(async (o: { dir: string }) => {
      const { localDown } = await cluster();
      const stopped = await localDown(path.resolve(o.dir), progress);
      if (stopped.length === 0) console.log("nothing was running");
    });

  local
    .command("cut")
    .description(
      "network partition (cluster started with --netns): drop all traffic between NODE and every etcd member, or the other nodes",
    )
    .argument("<node>", "the node to cut off, e.g. node1")
    .requiredOption("--from <group>", "etcd | peers")
    .option("-d, --dir <dir>", "the cluster's directory", DEFAULT_DIR)
    .action(async (node: string, o: { dir: string; from: string }) => {
      const { CUT_FROM, cutNode } = await import("./partition");
      if (!(CUT_FROM as readonly string[]).includes(o.from)) throw new Error(`--from: "${o.from}" must be one of ${CUT_FROM.join(", ")}`);
      cutNode(path.resolve(o.dir), node, o.from as (typeof CUT_FROM)[number]);
      console.log(
        `${node} is cut off from ${o.from === "etcd" ? "every etcd member" : "the other nodes"}; undo with: hapg local heal ${node} --dir ${o.dir}`,
      );
    });

  local
    .command("heal")
    .description("remove every network partition of NODE (see cut)")
    .argument("<node>", "the node, e.g. node1")
    .option("-d, --dir <dir>", "the cluster's directory", DEFAULT_DIR)
    .action(async (node: string, o: { dir: string }) => {
      const { healNode } = await import("./partition");
      healNode(path.resolve(o.dir), node);
      console.log(`${node}: network healed`);
    });

  local
    .command("demo")
    .description("up → writer through the proxy → kill -9 the primary → failover, outage and lost writes → rejoin → down")
    .option("-d, --dir <dir>", "directory for the cluster (default: a new temporary directory)")
    .option("--base-port <port>", "first of the ports the cluster uses", num("--base-port"), DEFAULTS.basePort)
    .option("--keep", "leave the cluster running at the end")
    .option(
      "--pitr",
      "the point-in-time restore instead: a cluster with backups, a table filled then dropped, a new cluster restored to a second before the DROP",
    )
    .option("--synchronous-mode <mode>", `${SYNC_MODE_HELP} (default "${DEFAULTS.synchronousMode}")`)
    .option("--sync", SYNC_HELP)
    .option("--sync-strict", SYNC_STRICT_HELP)
    .option("--async", ASYNC_HELP)
    .action(async (o: { dir?: string; basePort: number; keep?: boolean; pitr?: boolean } & SyncFlags) => {
      if (o.pitr) {
        const { runPitrDemo } = await import("./demo-pitr");
        await runPitrDemo({ dir: o.dir ? path.resolve(o.dir) : undefined, basePort: o.basePort, keep: o.keep ?? false });
        return;
      }
      const { runDemo } = await import("./demo");
      await runDemo({
        dir: o.dir ? path.resolve(o.dir) : undefined,
        basePort: o.basePort,
        keep: o.keep ?? false,
        synchronousMode: syncModeFromFlags(o),
      });
    });
}
