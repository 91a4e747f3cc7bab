/**
 * The two tools that copy a data directory from another member: pg_basebackup (a fresh replica) and
 * pg_rewind (a former primary). PostgresManager decides when; these run the tool and log its output.
 */
import * as net from "node:net";
import { conninfo } from "./conf";
import type { Logger } from "./postmaster";
import { lastLines, parseCopyProgress, runTool, runToolChecked, type RunAs } from "./process";
import type { HostPort, RewindResult } from "./types";

export interface CopyOptions {
  /** Path of the tool binary (pg_basebackup or pg_rewind). */
  tool: string;
  dataDir: string;
  source: HostPort;
  /** Role used on the source: replication for pg_basebackup, a superuser for pg_rewind. */
  user: string;
  passfile: string;
  runAs?: RunAs;
  log: Logger;
}

/** pg_basebackup -X stream into an (empty) data directory, logging progress every 2 s. Throws on failure. */
export async function runBaseBackup(o: CopyOptions & { applicationName: string }): Promise<void> {
  let lastLog = 0;
  const onStderr = (chunk: string) => {
    const progress = parseCopyProgress(chunk);
    if (progress && Date.now() - lastLog > 2000) {
      lastLog = Date.now();
      o.log.info(progress, "base backup progress");
    }
  };
  await runToolChecked(
    o.tool,
    ["-D", o.dataDir, "-X", "stream", "-c", "fast", "-P", "-w", "-h", o.source.host, "-p", String(o.source.port), "-U", o.user],
    { runAs: o.runAs, env: { PGPASSFILE: o.passfile, PGAPPNAME: o.applicationName }, onStderr },
  );
}

/** pg_rewind --source-server over TCP. Resolves false (and logs why) when it fails. */
export async function runRewind(o: CopyOptions): Promise<RewindResult> {
  const src = conninfo({
    host: o.source.host,
    port: o.source.port,
    user: o.user,
    dbname: "postgres",
    passfile: o.passfile,
    connect_timeout: 5,
  });
  const r = await runTool(o.tool, ["-D", o.dataDir, `--source-server=${src}`, "-P"], { runAs: o.runAs });
  if (r.code !== 0) {
    const output = lastLines(r.stderr || r.stdout, 8);
    // pg_rewind connects before it touches anything: a source that does not answer (a leader that
    // just died) is no reason to give up on this data directory and copy it afresh.
    if (/connection to server .* failed|could not connect to server|timeout expired/.test(output)) {
      o.log.warn({ code: r.code, output }, "pg_rewind could not reach the source; nothing changed, retrying later");
      return "unreachable";
    }
    o.log.error({ code: r.code, signal: r.signal, output }, "pg_rewind failed");
    return "failed";
  }
  o.log.info({ output: lastLines(r.stderr, 2) }, "pg_rewind succeeded");
  return "done";
}

/** Whether host:port accepts a TCP connection within timeoutMs (nothing is sent). */
export function tcpAnswers(source: HostPort, timeoutMs = 3000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: source.host, port: source.port, timeout: timeoutMs });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once("connect", () => done(true));
    socket.once("timeout", () => done(false));
    socket.once("error", () => done(false));
  });
}
