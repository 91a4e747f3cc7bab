/**
 * A write workload through the proxy and the checks made on it: which acknowledged writes were lost,
 * and how long writes were unavailable around a fault.
 */
import { Client } from "pg";
import { sleep } from "../sidecar/postgres/process";

export const TABLE = "hapg_writes";

export interface WriterProgress {
  acked: number;
  failures: number;
  /** ms since the last acknowledged write (0 while writes flow). */
  sinceLastAckMs: number;
  lastError?: string;
}

export interface WriterResult {
  /** Acknowledged ids, in order, with the time (Date.now()) each ack arrived. */
  ackedIds: number[];
  ackTimes: number[];
  failures: { at: number; error: string }[];
}

export interface WriterOptions {
  /** Called every progressMs with the running counts (e.g. to redraw a progress line). */
  onProgress?: (p: WriterProgress) => void;
  progressMs?: number;
}

function newClient(dsn: string): Client {
  return new Client({
    connectionString: dsn,
    connectionTimeoutMillis: 1000,
    statement_timeout: 2000,
    // Client-side bound too: a frozen server never answers, and statement_timeout runs on the server.
    query_timeout: 2500,
  });
}

/**
 * Creates the writes table if absent; returns the next free id (after the highest already there).
 * Right after a switchover HAProxy may still send a connection to the demoted (read-only) primary
 * until its next check, so this tries again for up to retryMs, as the write loops themselves reconnect.
 */
export async function prepareWritesTable(dsn: string, retryMs = 10_000): Promise<number> {
  const deadline = Date.now() + retryMs;
  for (;;) {
    try {
      return await createWritesTable(dsn);
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await sleep(200);
    }
  }
}

async function createWritesTable(dsn: string): Promise<number> {
  const c = newClient(dsn);
  await c.connect();
  try {
    await c.query(`CREATE TABLE IF NOT EXISTS ${TABLE} (id bigint PRIMARY KEY, at timestamptz DEFAULT now())`);
    const r = await c.query<{ next: string }>(`SELECT coalesce(max(id), 0) + 1 AS next FROM ${TABLE}`);
    return Number(r.rows[0].next);
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** One connection inserting sequential ids; reconnects 50 ms after any error. */
export class Writer {
  private readonly result: WriterResult = { ackedIds: [], ackTimes: [], failures: [] };
  private running = false;
  private loop?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private nextId = 1;

  constructor(
    private readonly dsn: string,
    private readonly opts: WriterOptions = {},
  ) {}

  /** Creates the table (if absent), continues after the highest id already there, and starts writing. */
  async start(): Promise<void> {
    this.nextId = await prepareWritesTable(this.dsn);
    this.running = true;
    this.loop = this.run();
    if (this.opts.onProgress) this.timer = setInterval(() => this.opts.onProgress?.(this.progress()), this.opts.progressMs ?? 250);
  }

  progress(): WriterProgress {
    const last = this.result.ackTimes[this.result.ackTimes.length - 1];
    return {
      acked: this.result.ackedIds.length,
      failures: this.result.failures.length,
      sinceLastAckMs: last === undefined ? 0 : Math.max(0, Date.now() - last),
      lastError: this.result.failures[this.result.failures.length - 1]?.error,
    };
  }

  /** Snapshot of what has been recorded so far (the writer keeps running). */
  snapshot(): WriterResult {
    return { ackedIds: [...this.result.ackedIds], ackTimes: [...this.result.ackTimes], failures: [...this.result.failures] };
  }

  async stop(): Promise<WriterResult> {
    this.running = false;
    if (this.timer) clearInterval(this.timer);
    await this.loop;
    return this.snapshot();
  }

  private fail(e: unknown): void {
    this.result.failures.push({ at: Date.now(), error: (e as Error).message ?? String(e) });
  }

  private run(): Promise<void> {
    return writeLoop({
      dsn: this.dsn,
      running: () => this.running,
      nextId: () => this.nextId++,
      insert: async (client, id) => {
        await client.query(`INSERT INTO ${TABLE} (id) VALUES ($1)`, [id]);
        this.result.ackedIds.push(id);
        this.result.ackTimes.push(Date.now());
      },
      onError: (e) => this.fail(e),
    });
  }
}

/**
 * One connection's insert loop while running(): connects lazily, reconnects 50 ms after any error.
 * An id is never reused: a failed insert may still have committed.
 */
export async function writeLoop(o: {
  dsn: string;
  running: () => boolean;
  nextId: () => number;
  insert: (client: Client, id: number) => Promise<void>;
  onError: (e: unknown) => void;
}): Promise<void> {
  let client: Client | undefined;
  while (o.running()) {
    try {
      if (!client) {
        client = newClient(o.dsn);
        client.on("error", () => undefined); // a dropped idle connection surfaces on the next query
        await client.connect();
      }
      await o.insert(client, o.nextId());
    } catch (e) {
      o.onError(e);
      const dead = client;
      client = undefined;
      dead?.end().catch(() => undefined);
      await sleep(50);
    }
  }
  await client?.end().catch(() => undefined);
}

/**
 * Acknowledged ids missing on the server behind dsn (the final primary). Retries the connection for
 * up to timeoutMs because the proxy may still be switching over.
 */
export async function countLost(dsn: string, ackedIds: readonly number[], timeoutMs = 15_000): Promise<{ lost: number; sample: number[] }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const c = newClient(dsn);
    try {
      await c.connect();
      const r = await c.query<{ id: string }>(
        `SELECT a.id FROM unnest($1::bigint[]) AS a(id) WHERE NOT EXISTS (SELECT 1 FROM ${TABLE} w WHERE w.id = a.id) ORDER BY a.id`,
        [ackedIds],
      );
      return { lost: r.rows.length, sample: r.rows.slice(0, 10).map((x) => Number(x.id)) };
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`cannot check lost writes through ${redact(dsn)}: ${(e as Error).message}`, { cause: e });
      await sleep(200);
    } finally {
      await c.end().catch(() => undefined);
    }
  }
}

export interface Outage {
  /** From the fault to the first ack that ended the longest pause in writes (undefined: writes never resumed). */
  outageMs?: number;
  /** The longest pause between two acks (or the fault and an ack) in the window. */
  gapMs?: number;
  /** Failed statements/connections in the window. */
  failures: number;
}

/**
 * Outage around a fault at faultAt, looking at acks in [faultAt, until]. The longest pause is the
 * outage (a gracefully stopping primary may still ack a few writes right after the fault, so the
 * first ack after the fault is not always the end of the outage). Pure.
 */
export function measureOutage(r: WriterResult, faultAt: number, until: number = Infinity): Outage {
  const acks = r.ackTimes.filter((t) => t > faultAt && t <= until);
  const failures = r.failures.filter((f) => f.at >= faultAt && f.at <= until).length;
  if (acks.length === 0) return { failures };
  const lastBefore = [...r.ackTimes].reverse().find((t) => t <= faultAt);
  let prev = faultAt;
  let gapMs = -1;
  let end = acks[0];
  for (const t of acks) {
    const gap = t - (prev === faultAt && lastBefore !== undefined ? lastBefore : prev);
    if (gap > gapMs) {
      gapMs = gap;
      end = t;
    }
    prev = t;
  }
  return { outageMs: end - faultAt, gapMs, failures };
}

/** The DSN with its password masked, for messages. */
export function redact(dsn: string): string {
  return dsn.replace(/(\/\/[^:/@]+:)[^@]*@/, "$1***@");
}
