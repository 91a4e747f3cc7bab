/**
 * The local cluster's stand-in for the Auto Scaling groups (one per host on AWS): the leader's roll
 * asks for a host's replacement by a file in DIR/asg-requests (../roll/replacer.ts); this terminates
 * the host's "instance" (SIGTERM: the agent stops PostgreSQL, as a shutdown does; an etcd member
 * stops) and launches it again on the same data (the kept volume) as the topology's revision, which
 * it reports as the new instance's boot (hosts/<name>). Runs in `hapg local roll` or a test, as the
 * user that started the cluster.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { isRunning } from "../postgres/process";
import { findEtcdBinary, spawnEtcd, stopProcess, waitMemberHealthy } from "./etcd";
import { restartNode, waitAgentGone } from "./faults";
import { reportLocalBoot } from "./host-reports";
import { readClusterFile, writeClusterFile } from "./state";
import { asgRequestDir, readLocalTopology } from "./topology";

export interface Replacement {
  host: string;
  /** When the request was seen, the old instance gone, the new one started. */
  requestedAt: number;
  stoppedAt: number;
  startedAt: number;
}

export class LocalAsg {
  readonly replacements: Replacement[] = [];
  private timer?: NodeJS.Timeout;
  private busy?: Promise<void>;
  private running = false;
  private seq = 1;

  constructor(
    private readonly dir: string,
    private readonly say: (line: string) => void = () => undefined,
  ) {}

  start(): void {
    this.running = true;
    const tick = () => {
      if (!this.running) return;
      this.busy = this.poll()
        .catch((e: unknown) => this.say(`asg: ${(e as Error).message}`))
        .finally(() => {
          if (this.running) this.timer = setTimeout(tick, 200);
        });
    };
    tick();
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.busy;
  }

  private async poll(): Promise<void> {
    const dir = asgRequestDir(this.dir);
    for (const host of fs.readdirSync(dir).filter((f) => !f.startsWith("."))) {
      await this.replace(host);
      fs.rmSync(path.join(dir, host), { force: true });
    }
  }

  private async replace(host: string): Promise<void> {
    const requestedAt = Date.now();
    const c = readClusterFile(this.dir);
    const revision = [...readLocalTopology(this.dir).nodes, ...readLocalTopology(this.dir).etcd].find((h) => h.name === host)?.revision;
    if (!revision) return this.say(`asg: ${host} is not a host of the topology: request ignored`);
    const node = c.nodes.find((n) => n.name === host);
    const member = c.etcd.find((e) => e.name === host);
    let stoppedAt: number;
    let pid: number;
    if (node) {
      if (isRunning(node.agentPid)) process.kill(node.agentPid, "SIGTERM");
      await waitAgentGone(this.dir, host, 120_000);
      stoppedAt = Date.now();
      pid = restartNode(this.dir, host);
    } else if (member) {
      // Its command line is what it was started with (local/etcd.ts), on the same data directory.
      const args = fs.readFileSync(`/proc/${member.pid}/cmdline`, "utf8").split("\0").filter(Boolean).slice(1);
      const dataDir = args.find((a) => a.startsWith("--data-dir="))!.slice("--data-dir=".length);
      await stopProcess(member.pid, 10_000);
      stoppedAt = Date.now();
      const info = {
        name: member.name,
        clientUrl: member.clientUrl,
        peerUrl: "",
        pid: 0,
        dataDir,
        logFile: path.join(path.dirname(dataDir), `${member.name}.log`),
        pidFile: path.join(path.dirname(dataDir), `${member.name}.pid`),
        args,
      };
      pid = info.pid = spawnEtcd(findEtcdBinary(), info);
      member.pid = pid;
      writeClusterFile(this.dir, c);
      await waitMemberHealthy(info, 30_000);
    } else {
      return this.say(`asg: ${host} is not a host of this local cluster: request ignored`);
    }
    await reportLocalBoot(readClusterFile(this.dir), host, revision, `local-${host}-${pid}-${this.seq++}`);
    const r = { host, requestedAt, stoppedAt, startedAt: Date.now() };
    this.replacements.push(r);
    this.say(`asg: ${host} replaced (revision ${revision}, pid ${pid}) in ${r.startedAt - requestedAt} ms`);
  }
}
