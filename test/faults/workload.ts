/**
 * The fault suite's workload: like sidecar/local/writer.ts's Writer (whose behaviour the benchmark
 * relies on and which stays unchanged), but every acknowledged write also records the member and
 * timeline that acknowledged it, and several connections write at once (so acks of two primaries
 * could interleave). Its result is a WriterResult too, so measureOutage works on it.
 */
import { Client } from "pg";
import { sleep } from "../../sidecar/postgres/process";
import { Ack, memberOfPort, timelineOfWalFile } from "../../sidecar/local/checker";
import { TABLE, WriterResult } from "../../sidecar/local/writer";

export interface TrackedResult extends WriterResult {
  acks: Ack[];
}

function newClient(dsn: string): Client {
  return new Client({ connectionString: dsn, connectionTimeoutMillis: 1000, statement_timeout: 2000, query_timeout: 2500 });
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
    const c = newClient(this.dsn);
    await c.connect();
    try {
      await c.query(`CREATE TABLE IF NOT EXISTS ${TABLE} (id bigint PRIMARY KEY, at timestamptz DEFAULT now())`);
      const r = await c.query<{ next: string }>(`SELECT coalesce(max(id), 0) + 1 AS next FROM ${TABLE}`);
      this.nextId = Number(r.rows[0].next);
    } finally {
      await c.end().catch(() => undefined);
    }
    this.running = true;
    this.loops = Array.from({ length: this.connections }, () => this.run());
  }

  snapshot(): TrackedResult {
    const acks = [...this.acks].sort((a, b) => a.at - b.at);
    return { acks, ackedIds: acks.map((a) => a.id), ackTimes: acks.map((a) => a.at), failures: [...this.failures].sort((a, b) => a.at - b.at) };
  }

  async stop(): Promise<TrackedResult> {
    this.running = false;
    await Promise.all(this.loops);
    return this.snapshot();
  }

  private async run(): Promise<void> {
    let client: Client | undefined;
    while (this.running) {
      try {
        if (!client) {
          client = newClient(this.dsn);
          client.on("error", () => undefined);
          await client.connect();
        }
        const id = this.nextId++; // never reused: a failed insert may still have committed
        const r = await client.query<{ port: number; wal: string }>(
          `INSERT INTO ${TABLE} (id) VALUES ($1) RETURNING inet_server_port() AS port, pg_walfile_name(pg_current_wal_lsn()) AS wal`,
          [id],
        );
        const at = Date.now();
        const row = r.rows[0];
        this.acks.push({ id, at, member: memberOfPort(this.nodes, Number(row.port)), timeline: timelineOfWalFile(row.wal) });
      } catch (e) {
        this.failures.push({ at: Date.now(), error: (e as Error).message ?? String(e) });
        const dead = client;
        client = undefined;
        dead?.end().catch(() => undefined);
        await sleep(50);
      }
    }
    await client?.end().catch(() => undefined);
  }
}
