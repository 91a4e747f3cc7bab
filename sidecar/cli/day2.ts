/**
 * Boot-time commands of a host's day 2 (node-init runs them, as root, from the user-data's units):
 *  - `hapg etcd-join --plan FILE`: before etcd starts, join the running cluster by runtime
 *    reconfiguration or bootstrap (../boot/etcd-join.ts); writes the plan's etcd.membershipEnvFile;
 *  - `hapg host-report --plan FILE`: once etcd answers, write what this host booted to `hosts/<name>`.
 * Both read the plan node-init reads (../boot/plan.ts) and exit non-zero naming what is missing.
 */
import { writeFileSync, renameSync } from "node:fs";
import type { Command } from "commander";

async function loadPlan(file: string) {
  const { readFileSync } = await import("node:fs");
  const { parseNodeInitPlan, NodeInitError } = await import("../boot/node-init");
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new NodeInitError(`${file}: cannot read the node-init plan (${(e as Error).message})`);
  }
  return parseNodeInitPlan(raw);
}

const seconds = (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--wait-seconds: "${v}" must be a number of seconds, e.g. 300`);
  return n;
};

export function registerDay2Commands(program: Command): void {
  program
    .command("etcd-join")
    .description("before etcd starts: join the running etcd cluster (member add) or bootstrap it; writes the plan's etcd.membershipEnvFile")
    .requiredOption("--plan <file>", "the node-init plan the user-data wrote (JSON)")
    .option("--wait-seconds <s>", "keep trying this long while no change may be made yet", seconds, 300)
    .action(async (opts: { plan: string; waitSeconds: number }) => {
      const plan = await loadPlan(opts.plan);
      if (!plan.etcd || !plan.topology) throw new Error(`${opts.plan}: the plan has no etcd section (this host runs no etcd member)`);
      const { topologySource } = await import("../topology/source");
      const { etcdJoin, membershipEnv } = await import("../boot/etcd-join");
      const topology = await topologySource({ ...plan.topology, region: plan.topology.region ?? plan.region })!.read();
      const start = await etcdJoin({
        name: plan.etcd.name,
        dataDir: plan.etcd.dataDir,
        scheme: plan.etcd.scheme,
        tls: plan.etcd,
        topology,
        waitMs: opts.waitSeconds * 1000,
        log: (m) => console.error(`etcd-join: ${m}`),
      });
      const tmp = `${plan.etcd.membershipEnvFile}.tmp-${process.pid}`;
      writeFileSync(tmp, membershipEnv(start), { mode: 0o644 });
      renameSync(tmp, plan.etcd.membershipEnvFile);
      console.log(`etcd-join: ${plan.etcd.name} starts with state ${start.state}`);
    });
  program
    .command("host-report")
    .description("write what this host booted (revision, instance id, boot time) to etcd's hosts/<name>")
    .requiredOption("--plan <file>", "the node-init plan the user-data wrote (JSON)")
    .option("--instance-id <id>", "the instance id (default: from IMDSv2)")
    .option("--wait-seconds <s>", "keep trying this long while etcd does not answer", seconds, 300)
    .action(async (opts: { plan: string; instanceId?: string; waitSeconds: number }) => {
      const plan = await loadPlan(opts.plan);
      if (!plan.host) throw new Error(`${opts.plan}: the plan has no host section (name, revision): nothing to report`);
      const { bootedAt, instanceIdFromImds, reportTarget, writeHostReport } = await import("../boot/host-report");
      const { topologySource } = await import("../topology/source");
      const topology =
        plan.etcd && plan.topology
          ? await topologySource({ ...plan.topology, region: plan.topology.region ?? plan.region })!.read()
          : undefined;
      const instanceId = opts.instanceId ?? (await instanceIdFromImds());
      if (!instanceId) throw new Error("host-report: no instance id (not on EC2?): pass --instance-id");
      const report = { revision: plan.host.revision, instanceId, bootedAt: bootedAt() };
      await writeHostReport(reportTarget(plan, topology), plan.host.name, report, opts.waitSeconds * 1000);
      console.log(`host-report: ${plan.host.name} booted revision ${report.revision} on ${instanceId}`);
    });
}
