/**
 * The agent's run-time membership (thin driver): reads the published topology every interval and
 *  - points the etcd client at the topology's members (endpoints refresh);
 *  - rewrites this node's HAProxy config from the topology's nodes when they change (whoever watches
 *    the file reloads HAProxy: a systemd path unit on AWS);
 *  - on the leader, every couple of seconds, asks the roll coordinator (../roll/decide.ts, pure) for
 *    one action and executes it: drop keys of removed hosts, remove an etcd member, start, end or
 *    stall a roll step (the replacer replaces the host), or hand over when only the leader is stale.
 */
import * as fs from "node:fs";
import type { EtcdDcs } from "../dcs/etcd";
import type { CandidateRules } from "../ha/switchover";
import type { Logger } from "../log";
import { EtcdMembers, type EtcdTls } from "../membership/etcd-members";
import { decideRoll, type RollAction } from "../roll/decide";
import type { HostReplacer } from "../roll/replacer";
import type { RollState } from "../dcs/roll-state";
import { etcdEndpoints, type Scheme } from "./addresses";
import { routingFromTopology, type TopologyRouting } from "./routing";
import type { Topology } from "../contract/topology";
import type { TopologySource } from "./source";

export interface KeeperOptions {
  name: string;
  source: TopologySource;
  readIntervalMs: number;
  /** How often the leader's coordinator decides. Default 2 s. */
  coordinateIntervalMs?: number;
  dcs: EtcdDcs;
  etcdScheme: Scheme;
  etcdTls: EtcdTls;
  haproxy?: { configFile: string; routing: TopologyRouting };
  isLeader: () => boolean;
  rules: () => CandidateRules;
  replacer?: HostReplacer;
  stepLimitMs: number;
  healthyLagBytes: number;
  log: Logger;
}

/** Writes `file` only when its content differs, through a temp file and a rename. True when written. */
export function writeIfChanged(file: string, content: string): boolean {
  try {
    if (fs.readFileSync(file, "utf8") === content) return false;
  } catch {
    // absent: write it
  }
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, content, { mode: 0o644 });
  fs.renameSync(tmp, file);
  return true;
}

/** How long the coordinator waits before it asks again after a replacement request failed. */
export const REPLACE_RETRY_MS = 30_000;

/**
 * Starts a roll step: records it (create-if-absent), then asks the replacer. When the request fails
 * (the AWS CLI's error, a throttled or refused call), nothing may have been replaced: the step is
 * withdrawn (only if it is still the one just written) so a later decision starts it again, instead
 * of waiting out the step's time limit and stalling the roll with no replacement under way. False
 * when the step was not started (another one is recorded, or the request failed).
 */
export async function startRollStep(
  dcs: Pick<EtcdDcs, "attemptWriteRoll">,
  replacer: HostReplacer,
  step: RollState,
  log: Pick<Logger, "error">,
): Promise<boolean> {
  if (!(await dcs.attemptWriteRoll(undefined, step))) return false;
  try {
    await replacer.replace(step.host);
    return true;
  } catch (e) {
    log.error({ err: String(e), host: step.host }, "roll: replacing the host failed; the step is withdrawn and tried again later");
    await dcs.attemptWriteRoll(JSON.stringify(step), undefined).catch(() => false);
    return false;
  }
}

export class TopologyKeeper {
  topology?: Topology;
  lastAction?: RollAction;
  private timer?: NodeJS.Timeout;
  private nextReadAt = 0;
  private nextCoordinateAt = 0;
  private running = false;
  private busy?: Promise<void>;
  /** After a replacement request failed: no new step before this time (the API is not asked every loop). */
  private replaceRetryAt = 0;

  constructor(private readonly o: KeeperOptions) {}

  start(): void {
    this.running = true;
    const tick = () => {
      if (!this.running) return;
      this.busy = this.tick()
        .catch((e: unknown) => this.o.log.warn({ err: String(e) }, "topology: tick failed"))
        .finally(() => {
          if (this.running) this.timer = setTimeout(tick, 250);
        });
    };
    tick();
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.busy;
  }

  private async tick(): Promise<void> {
    const now = Date.now();
    if (now >= this.nextReadAt) {
      this.nextReadAt = now + this.o.readIntervalMs;
      await this.read();
    }
    if (this.topology && now >= this.nextCoordinateAt && this.o.isLeader()) {
      this.nextCoordinateAt = now + (this.o.coordinateIntervalMs ?? 2000);
      await this.coordinate(this.topology);
    }
  }

  private async read(): Promise<void> {
    let t: Topology;
    try {
      t = await this.o.source.read();
    } catch (e) {
      this.o.log.warn({ err: (e as Error).message }, `topology: cannot read ${this.o.source.where}: keeping the last one`);
      return;
    }
    const changed = JSON.stringify(t) !== JSON.stringify(this.topology);
    this.topology = t;
    if (!changed) return;
    this.o.log.info({ nodes: t.nodes.map((n) => n.name), etcd: t.etcd.map((e) => e.name) }, "topology: read");
    const endpoints = etcdEndpoints(t, this.o.etcdScheme);
    if (this.o.dcs.setEndpoints(endpoints)) this.o.log.info({ endpoints }, "topology: etcd endpoints changed");
    if (this.o.haproxy && writeIfChanged(this.o.haproxy.configFile, routingFromTopology(t, this.o.haproxy.routing))) {
      this.o.log.info({ file: this.o.haproxy.configFile, servers: t.nodes.map((n) => n.name) }, "topology: HAProxy config rewritten");
    }
  }

  private async coordinate(t: Topology): Promise<void> {
    const { dcs, log } = this.o;
    const cluster = await dcs.load();
    if (cluster.leader?.name !== this.o.name) return;
    const api = new EtcdMembers(dcs.endpoints, this.o.etcdTls, 3000);
    const members = await api.list().catch(() => undefined);
    const etcd = members && { members, health: await api.health(members) };
    const action = decideRoll({
      now: Date.now(),
      self: this.o.name,
      topology: t,
      cluster,
      etcd,
      rules: this.o.rules(),
      stepLimitMs: this.o.stepLimitMs,
      healthyLagBytes: this.o.healthyLagBytes,
      rollEnabled: this.o.replacer !== undefined,
    });
    const quiet = action.type === "none" && action.reason === this.lastAction?.reason;
    this.lastAction = action;
    if (!quiet) log.info({ action: action.type }, `roll: ${action.reason}`);
    switch (action.type) {
      case "none":
        return;
      case "dropHostKeys":
        return dcs.deleteHostKeys(action.name);
      case "removeEtcdMember":
        return api.remove(action.id);
      case "switchover":
        await dcs.attemptCreateFailover({ leader: this.o.name, member: action.candidate });
        return;
      case "startStep":
        if (Date.now() < this.replaceRetryAt) return;
        if (!(await startRollStep(dcs, this.o.replacer!, action.step, log))) this.replaceRetryAt = Date.now() + REPLACE_RETRY_MS;
        return;
      case "endStep":
        await dcs.attemptWriteRoll(cluster.roll?.raw, undefined);
        return;
      case "stall":
        log.error({ host: action.host }, `roll stopped: ${action.reason}`);
        await dcs.attemptWriteRoll(cluster.roll?.raw, { ...cluster.roll!.state, stalled: action.reason });
        return;
    }
  }
}
