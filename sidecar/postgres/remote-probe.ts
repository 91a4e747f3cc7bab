/**
 * Asks another cluster's primary endpoint (a standby cluster's source) whether it takes writes: one
 * TCP connection with this cluster's replication role (a standby cluster is a copy of its source, so
 * the source has the same roles and passwords), `SELECT pg_is_in_recovery()`, closed at once.
 */
import { Client } from "pg";
/** What the endpoint says: a writable primary, a server in recovery, or nothing. */
export type SourceProbe = { state: "writable" | "read-only" } | { state: "unreachable"; error: string };

export async function probePrimaryEndpoint(
  host: string,
  port: number,
  credentials: { username: string; password: string },
  timeoutMs = 3000,
): Promise<SourceProbe> {
  const client = new Client({
    host,
    port,
    user: credentials.username,
    password: credentials.password,
    database: "postgres",
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs,
    application_name: "hapg-promote-cluster",
  });
  client.on("error", () => undefined);
  try {
    await client.connect();
    const r = await client.query<{ r: boolean }>("SELECT pg_is_in_recovery() AS r");
    return { state: r.rows[0].r ? "read-only" : "writable" };
  } catch (e) {
    return { state: "unreachable", error: (e as Error).message };
  } finally {
    await client.end().catch(() => undefined);
  }
}
