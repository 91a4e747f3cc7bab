/**
 * The fault suite's workload: like local/writer.ts's Writer (whose behaviour the benchmark
 * relies on and which stays unchanged), but every acknowledged write also records the member and
 * timeline that acknowledged it, and several connections write at once (so acks of two primaries
 * could interleave). Its result is a WriterResult too, so measureOutage works on it.
 */
import { Ack, memberOfPort, timelineOfWalFile } from "../helpers/fault-checker";
import { prepareWritesTable, TABLE, writeLoop, WriterResult } from "../../local/writer";

export interface TrackedResult extends WriterResult {
  acks: Ack[];
}

export class TrackedWriter {
  private readonly acks: Ack[] = [];
  private readonly failures: { at: number; error: string }[] = [];
  private running = false;
  private loops: Promise<void>[] = [];
  private nextId = 1;

  constructor(
    private readonly dsn: string,
    private readonly nodes: readonly { name: string; pgPort: number }[],
    private readonly connections = 2,
  ) {}

  async start(): Promise<void> {
    this.nextId = await prepareWritesTable(this.dsn);
    this.running = true;
    this.loops = Array.from({ length: this.connections }, () => this.run());
  }

  snapshot(): TrackedResult {
    const acks = [...this.acks].sort((a, b) => a.at - b.at);
    return {
      acks,
      ackedIds: acks.map((a) => a.id),
      ackTimes: acks.map((a) => a.at),
      failures: [...this.failures].sort((a, b) => a.at - b.at),
    };
  }

  /** How many writes member acknowledged at or after `since` (cheap: the acks arrive in time order per connection). */
  countAcks(member: string, since: number): number {
    let n = 0;
    for (let i = this.acks.length - 1; i >= 0 && this.acks[i].at >= since - 1000; i--) {
      if (this.acks[i].at >= since && this.acks[i].member === member) n++;
    }
    return n;
  }

  async stop(): Promise<TrackedResult> {
    this.running = false;
    await Promise.all(this.loops);
    return this.snapshot();
  }

  private run(): Promise<void> {
    return writeLoop({
      dsn: this.dsn,
      running: () => this.running,
      nextId: () => this.nextId++,
      insert: async (client, id) => {
        const t0 = Date.now();
        const r = await client.query<{ port: number; wal: string }>(
          `INSERT INTO ${TABLE} (id) VALUES ($1) RETURNING inet_server_port() AS port, pg_walfile_name(pg_current_wal_lsn()) AS wal`,
          [id],
        );
        const row = r.rows[0];
        const at = Date.now();
        this.acks.push({
          id,
          at,
          member: memberOfPort(this.nodes, Number(row.port)),
          timeline: timelineOfWalFile(row.wal),
          latencyMs: at - t0,
        });
      },
      onError: (e) => this.failures.push({ at: Date.now(), error: (e as Error).message ?? String(e) }),
    });
  }
}
