/**
 * `hapg local demo`: the README's first command. Brings a cluster up, writes through the proxy, kills
 * the primary (agent and PostgreSQL, kill -9), shows the failover, the outage and the lost writes,
 * brings the killed node back as a replica, and tears everything down (unless --keep).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { sleep } from "../sidecar/postgres/process";
import { formatStatus, newTable, localDown, localStatus, localUp } from "./cluster";
import { keepNodeLogs, killNode, reinitNode, restartNode, waitForPrimary, waitHealthy } from "./faults";
import { HA_DEFAULTS, type SynchronousMode } from "../sidecar/contract/settings/schema";
import { countLost, measureOutage, Writer, WriterProgress } from "./writer";

export interface DemoOptions {
  dir?: string;
  basePort?: number;
  keep: boolean;
  /** `--sync` / `--sync-strict`. Default "off". */
  synchronousMode?: SynchronousMode;
  out?: (line: string) => void;
}

/** A progress line redrawn in place on a terminal, one line per second otherwise (logs, CI). */
function liveLine(): { update: (s: string) => void; done: () => void } {
  const tty = process.stdout.isTTY === true;
  let lastPrint = 0;
  let shown = false;
  return {
    update(s) {
      if (tty) {
        process.stdout.write(`\r\x1b[2K    ${s}`);
        shown = true;
      } else if (Date.now() - lastPrint >= 1000) {
        console.log(`    ${s}`);
        lastPrint = Date.now();
      }
    },
    done() {
      if (tty && shown) process.stdout.write("\n");
      shown = false;
    },
  };
}

const fmt = (p: WriterProgress) =>
  `writes acknowledged: ${p.acked}   failed attempts: ${p.failures}` +
  (p.sinceLastAckMs > 300 ? `   no ack for ${p.sinceLastAckMs} ms${p.lastError ? ` (${p.lastError.slice(0, 60)})` : ""}` : "");

/** DIR inside a new temp dir; mkdtemp's 0700 is opened to o+x so the service user can reach DIR. */
export function tempClusterDir(prefix = "hapg-demo-"): string {
  const parent = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(parent, 0o711);
  return path.join(parent, "cluster");
}

export async function runDemo(o: DemoOptions): Promise<void> {
  const out = o.out ?? ((l: string) => console.log(l));
  const dir = o.dir ?? tempClusterDir();
  const t0 = Date.now();
  const step = (n: number, s: string) => out(`\n[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${n}/6 ${s}`);
  let upDone = false;
  let failed = true;
  const warnings: string[] = [];
  let writer: Writer | undefined;
  // Ctrl-C must not leave processes behind: stop what was started, then exit.
  const interrupted = () => {
    out("\ninterrupted: tearing down");
    const down = fs.existsSync(path.join(dir, "cluster.json")) ? localDown(dir) : Promise.resolve([]);
    void down.finally(() => process.exit(130));
  };
  process.once("SIGINT", interrupted);
  try {
    const sync = o.synchronousMode ?? HA_DEFAULTS.synchronousMode;
    step(
      1,
      `Starting etcd ×3, PostgreSQL + agent ×3 and HAProxy on 127.0.0.1 (${dir})${sync === "off" ? "" : `, synchronous mode ${sync}`}`,
    );
    const c = await localUp({ dir, basePort: o.basePort, synchronousMode: sync, progress: (l) => out(`    ${l}`) });
    upDone = true;
    out(formatStatus(await localStatus(dir)));

    step(2, `Writing through the proxy ${c.proxy.host}:${c.proxy.port} (one connection, sequential inserts)`);
    const line = liveLine();
    writer = new Writer(c.dsn, { onProgress: (p) => line.update(fmt(p)) });
    await writer.start();
    await sleep(3000);
    const oldPrimary = await waitForPrimary(dir, { timeoutMs: 5000 });

    line.done();
    step(3, `kill -9 of the primary ${oldPrimary}: its agent and its PostgreSQL`);
    const fault = killNode(dir, oldPrimary);
    out(`    killed agent pid ${fault.agentPid} and postmaster pid ${fault.postmasterPid ?? "-"}`);
    const newPrimary = await waitForPrimary(dir, { exclude: [oldPrimary], timeoutMs: 60_000 });
    const promotedMs = Date.now() - fault.at;
    // Let writes flow again for a moment so the outage is measured from real acks.
    const resumeDeadline = Date.now() + 60_000;
    while (writer.snapshot().ackTimes.filter((t) => t > fault.at).length < 50 && Date.now() < resumeDeadline) await sleep(100);
    await sleep(1000);
    line.done();
    const result = await writer.stop();
    writer = undefined;
    const outage = measureOutage(result, fault.at);
    const lost = await countLost(c.dsn, result.ackedIds);

    step(4, "Failover");
    const t = newTable();
    t.push(
      { "old primary (killed)": oldPrimary },
      { "new primary": newPrimary },
      { "new primary's /primary = 200 after": `${promotedMs} ms` },
      { "write outage (fault → first ack)": outage.outageMs === undefined ? "writes did not resume" : `${outage.outageMs} ms` },
      { "writes acknowledged": result.ackedIds.length },
      { "acknowledged writes lost": lost.lost === 0 ? "0" : `${lost.lost} (e.g. ids ${lost.sample.join(", ")})` },
      { "synchronous mode": sync },
    );
    out(t.toString());
    if (lost.lost > 0) {
      warnings.push(
        sync === "off"
          ? `${lost.lost} acknowledged write(s) lost: they were committed on ${oldPrimary} but had not reached ${newPrimary} (you chose asynchronous replication; the default synchronous mode prevents this)`
          : `${lost.lost} acknowledged write(s) lost although synchronous mode (${sync}) is on: committed on ${oldPrimary} but not on ${newPrimary}`,
      );
      out(`    WARNING: ${warnings[warnings.length - 1]}`);
    }

    step(5, `Restarting ${oldPrimary}: it must rejoin as a replica of ${newPrimary}`);
    const pid = restartNode(dir, oldPrimary);
    out(`    ${oldPrimary}: agent started again (pid ${pid}) on its existing data directory`);
    const tRejoin = Date.now();
    try {
      await waitHealthy(dir, 60_000, (l) => out(`    ${l}`));
      out(`    ${oldPrimary} streams from ${newPrimary} again after ${((Date.now() - tRejoin) / 1000).toFixed(1)} s`);
    } catch (e) {
      // Shown, not hidden: the agent failed to rejoin on its own. Re-initialising lets the demo finish.
      const logs = keepNodeLogs(dir, oldPrimary, "demo");
      warnings.push(`${oldPrimary} did not rejoin on its own (${(e as Error).message}); its logs are kept in ${logs}`);
      out(`    WARNING: ${warnings[warnings.length - 1]}`);
      out(`    re-initialising ${oldPrimary} from a fresh base backup`);
      await reinitNode(dir, oldPrimary);
      await waitHealthy(dir, 120_000, (l) => out(`    ${l}`));
      out(`    ${oldPrimary} streams from ${newPrimary} after re-initialisation (${((Date.now() - tRejoin) / 1000).toFixed(1)} s in all)`);
    }
    out(formatStatus(await localStatus(dir)));

    failed = false;
    if (o.keep) {
      step(6, `Leaving the cluster running (--keep): hapg local status --dir ${dir}; stop it with hapg local down --dir ${dir}`);
    }
  } finally {
    process.removeListener("SIGINT", interrupted);
    await writer?.stop().catch(() => undefined);
    if (!upDone) {
      out(`\nlogs kept in ${dir}; remove them with: rm -rf ${dir}`);
    } else if (failed) {
      step(6, "Stopping everything (the demo failed; data and logs stay for reading)");
      await localDown(dir, (l) => out(`    ${l}`), { keepFiles: true });
      out(`    logs: ${dir}/node*/agent.log, ${dir}/haproxy/haproxy.log, ${dir}/etcd/*.log; remove with: rm -rf ${dir}`);
    } else if (!o.keep) {
      step(6, "Tearing down");
      await localDown(dir, (l) => out(`    ${l}`));
      if (!o.dir) fs.rmSync(path.dirname(dir), { recursive: true, force: true });
    }
    if (!failed)
      out(warnings.length ? `\nDone, with ${warnings.length} warning(s):\n${warnings.map((w) => `  - ${w}`).join("\n")}` : "\nDone.");
  }
}
