/**
 * `hapg local scale` and `hapg local roll`: day 2 on a local cluster started with `--topology`, the
 * way a second `pulumi up` changes nodeCount or the hosts' launch inputs on AWS.
 */
import * as path from "node:path";
import type { Command } from "commander";

const int = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new Error(`${name}: "${v}" is not an integer`);
  return n;
};

export function registerLocalDay2Commands(local: Command): void {
  local
    .command("scale")
    .description("add or remove PostgreSQL nodes or etcd members (cluster started with --topology): the topology, HAProxy and etcd follow")
    .option("-d, --dir <dir>", "the cluster's directory", "/tmp/hapg-local")
    .option("--nodes <n>", "the number of PostgreSQL nodes", int("--nodes"))
    .option("--etcd <n>", "the number of etcd members (joined by member add, removed by member remove)", int("--etcd"))
    .action(async (o: { dir: string; nodes?: number; etcd?: number }) => {
      if (o.nodes === undefined && o.etcd === undefined) throw new Error("give --nodes N and/or --etcd N");
      if (o.etcd !== undefined) {
        const { localScaleEtcd } = await import("./scale-etcd");
        await localScaleEtcd(path.resolve(o.dir), o.etcd, (l) => console.log(l));
      }
      if (o.nodes !== undefined) {
        const { localScale } = await import("./scale");
        await localScale(path.resolve(o.dir), o.nodes, (l) => console.log(l));
      }
    });
  local
    .command("roll")
    .description("give every host a new revision (cluster started with --topology) and replace them as the leader's roll asks, until done")
    .option("-d, --dir <dir>", "the cluster's directory", "/tmp/hapg-local")
    .option("--revision <rev>", "the new revision (default: r<n+1>)")
    .option("--timeout <seconds>", "give up after this long", int("--timeout"), 900)
    .action(async (o: { dir: string; revision?: string; timeout: number }) => {
      const { localRoll } = await import("./roll");
      const r = await localRoll(path.resolve(o.dir), { revision: o.revision, timeoutMs: o.timeout * 1000, say: (l) => console.log(l) });
      for (const s of r.steps) console.log(`${s.host}: replaced in ${s.ms} ms`);
    });
}
