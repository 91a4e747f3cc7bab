/** SQL to the local server over the Unix socket in the data directory (trusted: no password needed). */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import { Client, type QueryResultRow } from "pg";

export interface LocalSqlOptions {
  /** Directory holding the socket: the data directory. */
  socketDir: string;
  port: number;
  user: string;
  /** Server-side statement_timeout; 0 = none. */
  statementTimeoutMs: number;
  /** Client-side limit for connect + query: a frozen (SIGSTOPped) server never answers, a timer does. 0 = none. */
  clientTimeoutMs: number;
  applicationName: string;
}

/** SQLSTATE classes that mean the session is gone (08 connection exception, 57 operator intervention e.g. shutdown). */
function sessionLost(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code !== "string" || !/^[0-9A-Z]{5}$/.test(code) || code.startsWith("08") || code.startsWith("57");
}

/** One lazily (re)connected client. Queries are serialised by node-postgres itself. */
export class LocalSql {
  private client?: Client;
  private connecting?: Promise<Client>;

  constructor(private readonly o: LocalSqlOptions) {}

  private connect(): Promise<Client> {
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= (async () => {
      const client = new Client({
        host: this.o.socketDir,
        port: this.o.port,
        user: this.o.user,
        database: "postgres",
        application_name: this.o.applicationName,
        statement_timeout: this.o.statementTimeoutMs || undefined,
        connectionTimeoutMillis: this.o.clientTimeoutMs || undefined,
      });
      // Without a listener a broken socket would crash the agent; the next query reconnects.
      client.on("error", () => this.drop(client));
      client.on("end", () => this.drop(client));
      try {
        await client.connect();
      } catch (e) {
        void client.end().catch(() => undefined);
        throw e;
      }
      this.client = client;
      return client;
    })().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private drop(client: Client): void {
    if (this.client === client) this.client = undefined;
    void client.end().catch(() => undefined);
  }

  async query<R extends QueryResultRow = QueryResultRow>(text: string, params: unknown[] = []): Promise<R[]> {
    const work = (async () => {
      const client = await this.connect();
      try {
        return (await client.query<R>(text, params)).rows;
      } catch (e) {
        if (sessionLost(e)) this.drop(client);
        throw e;
      }
    })();
    if (!this.o.clientTimeoutMs) return work;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        if (this.client) this.drop(this.client);
        reject(new Error(`local SQL did not answer within ${this.o.clientTimeoutMs} ms`));
      }, this.o.clientTimeoutMs);
    });
    work.catch(() => undefined); // the loser of the race must not become an unhandled rejection
    try {
      return await Promise.race([work, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    if (c) await c.end().catch(() => undefined);
  }
}

/** One fresh connection attempt: the readiness probe (accepting connections, consistent if a standby). */
export async function canConnect(
  o: Pick<LocalSqlOptions, "socketDir" | "port" | "user">,
  timeoutMs: number,
): Promise<{ ok: boolean; error?: string }> {
  const client = new Client({ host: o.socketDir, port: o.port, user: o.user, database: "postgres", connectionTimeoutMillis: timeoutMs });
  client.on("error", () => undefined);
  try {
    await client.connect();
    return { ok: true };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for a password (RFC 5802/7677, as libpq's
 * PQencryptPasswordConn). Sending the verifier instead of the password keeps the password out of the
 * server log even with log_statement = ddl. NFKC stands in for SASLprep; they agree for ASCII passwords.
 */
export function scramVerifier(password: string, salt: Buffer = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(password.normalize("NFKC"), salt, iterations, 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  const storedKey = createHash("sha256").update(clientKey).digest();
  const serverKey = createHmac("sha256", salted).update("Server Key").digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString("base64")}$${storedKey.toString("base64")}:${serverKey.toString("base64")}`;
}

/** CREATE (or ALTER) the replication role, sending the SCRAM verifier: the password never reaches the server log. */
export async function ensureReplicationRole(sql: LocalSql, c: { username: string; password: string }): Promise<void> {
  const exists = (await sql.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [c.username])).length > 0;
  // format() quotes server-side (%I identifier, %L literal): DDL cannot take bind parameters.
  const [r] = await sql.query<{ sql: string }>(
    `SELECT format('${exists ? "ALTER" : "CREATE"} ROLE %I WITH LOGIN REPLICATION PASSWORD %L', $1::text, $2::text) AS sql`,
    [c.username, scramVerifier(c.password)],
  );
  await sql.query(r.sql);
}

/**
 * Sets the superuser's password to this cluster's (a cluster restored from another's backup starts
 * with the source's passwords). The role exists: the agent is connected as it.
 */
export async function setPassword(sql: LocalSql, c: { username: string; password: string }): Promise<void> {
  const [r] = await sql.query<{ sql: string }>("SELECT format('ALTER ROLE %I WITH PASSWORD %L', $1::text, $2::text) AS sql", [
    c.username,
    scramVerifier(c.password),
  ]);
  await sql.query(r.sql);
}
