/** Small helpers for integration tests: one-shot queries with node-postgres, and polling. */
import { Client } from "pg";

export async function query<T extends Record<string, unknown>>(dsn: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new Client({ connectionString: dsn, connectionTimeoutMillis: 2000, query_timeout: 5000 });
  client.on("error", () => undefined);
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Polls `f` every 200 ms until it returns a value (not undefined); fails after timeoutMs with the last error. */
export async function eventually<T>(what: string, timeoutMs: number, f: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    try {
      const v = await f();
      if (v !== undefined) return v;
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (last error: ${last})` : ""}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The same DSN pointed at another port (a node directly instead of the proxy). */
export function dsnWithPort(dsn: string, port: number): string {
  const u = new URL(dsn);
  u.port = String(port);
  return u.toString();
}
