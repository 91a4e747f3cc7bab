/**
 * The operator's read-only commands for a running cluster: `hapg list [--watch] [--json]`,
 * `hapg history`, `hapg topology`, `hapg show-config`. Registration only: the sources and the
 * renderers load when one of these commands runs, so the agent process (same CLI) carries none of it.
 */
import type { Command } from "commander";
import type { ClusterSource, SourceFlags } from "./ops-source";

interface OutputFlags extends SourceFlags {
  json?: boolean;
}

interface ListFlags extends OutputFlags {
  watch?: boolean;
  interval?: string;
}

const ops = () => import("./ops-source");
const render = () => import("./ops-render");

/** The flags that say where the cluster is, shared by every operator command. */
export function withSource(cmd: Command): Command {
  return cmd
    .option("--api <url>", "a member's REST API, e.g. https://10.0.1.10:8008 (reads /cluster, /history, /config)")
    .option("-d, --dir <dir>", "a local cluster's directory (the --dir of `hapg local up`; reads its agents' APIs)")
    .option("-c, --config <file>", "a node's agent config (/etc/hapg/agent.json on AWS): read etcd as that agent does")
    .option("--etcd <urls>", "etcd client URLs, comma-separated (with --cluster; TLS with --cacert, --cert, --key)")
    .option("--cluster <name>", "with --etcd: the cluster's name (the agent config's `cluster`)")
    .option("--namespace <ns>", 'with --etcd: the key namespace (default "service")')
    .option("--cacert <file>", "with --etcd or an https:// --api: the cluster CA certificate (PEM)")
    .option("--cert <file>", "with --etcd: client certificate (PEM)")
    .option("--key <file>", "with --etcd: client key (PEM)")
    .option("--timeout <seconds>", "seconds to wait for an answer (default 3)")
    .option("--json", "print JSON instead of a table")
    .showHelpAfterError(`(run \`hapg ${cmd.name()} --help\` for the options)`);
}

async function withClusterSource<T>(flags: SourceFlags, run: (s: ClusterSource) => Promise<T>): Promise<T> {
  const s = (await ops()).sourceFromFlags(flags);
  try {
    return await run(s);
  } finally {
    await s.close();
  }
}

/** The leader's archiving health from its /patroni (best effort: absent when it does not answer or does not archive). */
async function leaderArchive(view: import("./ops-source").ClusterView, ca: Buffer | undefined) {
  const url = view.members.find((m) => m.role === "leader")?.api_url;
  if (!url) return undefined;
  const { httpRequest } = await import("../http/client");
  type Body = { archive?: import("../backup/archive-status").ArchiveStatus };
  try {
    const r = await httpRequest(url.replace(/\/patroni\/?$/, "") + "/patroni", { timeoutMs: 1500, tls: ca ? { ca } : undefined });
    return (JSON.parse(r.text) as Body).archive;
  } catch {
    return undefined;
  }
}

const print = (json: boolean | undefined, value: unknown, text: () => string) =>
  console.log(json ? JSON.stringify(value, null, 2) : text());

export function registerOpsCommands(program: Command): void {
  withSource(
    program.command("list").description("list the members: role, state, timeline, lag, pending restart, tags (like patronictl list)"),
  )
    .option("-W, --watch", "print the list again every --interval seconds until interrupted")
    .option("--interval <seconds>", "with --watch: seconds between two lists (default 2)")
    .action(async (o: ListFlags) => {
      const interval = o.interval === undefined ? 2 : Number(o.interval);
      if (!(interval > 0))
        throw new (await ops()).FlagError(`--interval "${o.interval}": give the seconds between two lists, a number above 0`);
      const { listJson, listText } = await render();
      await withClusterSource(o, async (s) => {
        for (;;) {
          const [view, config] = await Promise.all([s.cluster(), s.config()]);
          const j = listJson(view, config, await leaderArchive(view, s.ca));
          if (o.watch && !o.json && process.stdout.isTTY) process.stdout.write("\x1b[2J\x1b[H");
          if (o.watch && !o.json) console.log(new Date().toISOString());
          print(o.json, j, () => listText(j));
          if (!o.watch) return;
          await new Promise((r) => setTimeout(r, interval * 1000));
        }
      });
    });

  withSource(program.command("history").description("the cluster's timeline history: each earlier timeline and where it ended")).action(
    async (o: OutputFlags) => {
      const { historyJson, historyText } = await render();
      await withClusterSource(o, async (s) => {
        const [rows, view] = await Promise.all([s.history(), s.cluster()]);
        const j = historyJson(rows);
        const current = view.members.find((m) => m.role === "leader")?.timeline;
        print(o.json, j, () => historyText(j, current));
      });
    },
  );

  withSource(program.command("topology").description("the replication tree: the leader and the members streaming from it")).action(
    async (o: OutputFlags) => {
      const { topologyJson, topologyText } = await render();
      await withClusterSource(o, async (s) => {
        const view = await s.cluster();
        const j = topologyJson(view);
        print(o.json, j, () => topologyText(view.scope, j));
      });
    },
  );

  withSource(program.command("show-config").description("the cluster's dynamic configuration (etcd's config key), as YAML")).action(
    async (o: OutputFlags) => {
      const { configText } = await render();
      await withClusterSource(o, async (s) => {
        const config = await s.config();
        if (o.json) console.log(JSON.stringify(config, null, 2));
        else process.stdout.write(configText(config));
      });
    },
  );
}
