/**
 * What the day-2 part watches while the cluster rolls: a writer through the NLB stand-in (./faults.ts
 * writeLoop) and a sampler that asks, every 1.5 s, each PostgreSQL node directly (is it up, is it the
 * primary) and each etcd member (`/health` over mutual TLS). A host counts as down in a sample when it
 * failed this sample and the one before (one slow answer on two shared cores is not an outage); hosts
 * are watched from the first time they answered (a new host is not "down" before it ever booted).
 */
import { request } from "node:https";
import { NODE_PORTS } from "../../lib/args/types";
import { parameter, query, verifyFull } from "./checks";
import { RehearsalCluster } from "./cluster";
import { WriteLog, writeLoop } from "./faults";

export interface Sample {
  at: number;
  pgDown: string[];
  etcdDown: string[];
  /** The node that answered as primary (undefined: none did). */
  primary?: string;
}

function etcdHealthy(rc: RehearsalCluster, address: string): Promise<boolean> {
  const d = rc.deployment;
  const client = d.hosts.find((h) => h.runsPostgres)!.name;
  return new Promise((resolve) => {
    const req = request(
      {
        host: address,
        port: NODE_PORTS.etcdClient,
        path: "/health",
        ca: d.caCertificatePem,
        cert: parameter(d, `/tls/${client}.crt`),
        key: parameter(d, `/tls/${client}.key`),
        timeout: 5000,
      },
      (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => resolve(res.statusCode === 200 && /"health":\s*"true"/.test(body)));
      },
    );
    req.on("error", () => resolve(false));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}

export class Day2Monitor {
  readonly writes: WriteLog = { acked: [], ackTimes: [], ackedBy: [], running: true, errors: [] };
  readonly samples: Sample[] = [];
  private readonly seen = new Set<string>();
  private readonly failedLast = new Set<string>();
  private writer?: Promise<void>;
  private sampler?: Promise<void>;
  private running = true;

  constructor(private readonly rc: RehearsalCluster) {}

  start(firstId: number): void {
    this.writer = writeLoop(this.rc, this.writes, firstId);
    this.sampler = this.sampleLoop();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.writes.running = false;
    await Promise.all([this.writer, this.sampler]);
  }

  private async sampleLoop(): Promise<void> {
    while (this.running) {
      const started = Date.now();
      await this.sample().catch(() => undefined);
      await new Promise((r) => setTimeout(r, Math.max(0, 1500 - (Date.now() - started))));
    }
  }

  private async sample(): Promise<void> {
    const d = this.rc.deployment;
    const pg = d.hosts.filter((h) => h.runsPostgres);
    const etcd = d.hosts.filter((h) => !h.runsPostgres);
    const pgUp = await Promise.all(
      pg.map((h) =>
        query<{ rec: boolean }>(
          { ...verifyFull(d, h.address, NODE_PORTS.postgres, h.address), connectionTimeoutMillis: 5000, query_timeout: 5000 },
          "SELECT pg_is_in_recovery() AS rec",
        ).then(
          ([r]) => ({ name: h.name, up: true, primary: !r.rec }),
          () => ({ name: h.name, up: false, primary: false }),
        ),
      ),
    );
    const etcdUp = await Promise.all(etcd.map(async (h) => ({ name: h.name, up: await etcdHealthy(this.rc, h.address) })));
    const down = (rows: Array<{ name: string; up: boolean }>) => {
      const out: string[] = [];
      for (const r of rows) {
        if (r.up) {
          this.seen.add(r.name);
          this.failedLast.delete(r.name);
        } else if (this.seen.has(r.name)) {
          if (this.failedLast.has(r.name)) out.push(r.name);
          this.failedLast.add(r.name);
        }
      }
      return out;
    };
    this.samples.push({
      at: Date.now(),
      pgDown: down(pgUp),
      etcdDown: down(etcdUp),
      primary: pgUp.find((r) => r.primary)?.name,
    });
  }

  /** The samples taken between two times. */
  between(from: number, to: number): Sample[] {
    return this.samples.filter((s) => s.at >= from && s.at <= to);
  }

  /** The longest pause between two acknowledged writes that ended in [from, to] (ms). */
  longestPause(from: number, to: number): number {
    const t = this.writes.ackTimes;
    let pause = 0;
    for (let i = 1; i < t.length; i++) if (t[i] >= from && t[i] <= to) pause = Math.max(pause, t[i] - t[i - 1]);
    // Still paused at the end of the window: count up to its end.
    const last = t.filter((x) => x <= to).pop();
    if (last !== undefined) pause = Math.max(pause, to - Math.max(last, from));
    return pause;
  }
}
