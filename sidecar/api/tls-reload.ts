/**
 * Renewed certificates reach the running agent (defect 11): node-init --refresh rewrites the files
 * (atomically) when their SSM parameters change; this notices, every few seconds, that the API's
 * certificate, key or CA changed and swaps the server's TLS context in place
 * (`server.setSecureContext`: new connections get the new certificate, no restart, no dropped
 * listener), then asks PostgreSQL to reload (it re-reads its ssl files on reload).
 */
import * as fs from "node:fs";
import type { Logger } from "../log";
import type { ApiTlsFiles, ApiTlsMaterial } from "../http/transport";
import { loadApiTls } from "../http/transport";

export interface TlsReloadDeps {
  files: ApiTlsFiles;
  /** The material the server runs on now. */
  current: ApiTlsMaterial;
  apply(material: ApiTlsMaterial): void;
  /** PostgreSQL's reload through its owner (the same files serve its TLS on AWS). */
  reloadPostgres?: () => Promise<unknown>;
  log: Logger;
  intervalMs?: number;
}

/** The files' mtimes and sizes: a cheap check before reading them. */
function stamp(files: ApiTlsFiles): string {
  return [files.certFile, files.keyFile, files.caFile]
    .map((f) => {
      try {
        const s = fs.statSync(f);
        return `${s.mtimeMs}:${s.size}:${s.ino}`;
      } catch {
        return "absent";
      }
    })
    .join("|");
}

/** Starts watching; returns a function that stops. */
export function watchApiTls(d: TlsReloadDeps): () => void {
  let last = stamp(d.files);
  let current = d.current;
  const timer = setInterval(() => {
    const now = stamp(d.files);
    if (now === last) return;
    last = now;
    let next: ApiTlsMaterial;
    try {
      next = loadApiTls(d.files);
    } catch (e) {
      // A half-renewed set (the key written, not yet the certificate): keep serving the old one, look again later.
      d.log.warn({ err: (e as Error).message }, "TLS files changed but cannot be loaded yet: keeping the current ones");
      last = "retry";
      return;
    }
    if (next.cert.equals(current.cert) && next.key.equals(current.key) && next.ca.equals(current.ca)) return;
    try {
      d.apply(next);
    } catch (e) {
      d.log.warn({ err: (e as Error).message }, "the renewed certificate and key do not go together: keeping the current ones");
      last = "retry";
      return;
    }
    current = next;
    d.log.info("renewed TLS certificate loaded: the API serves it to new connections; reloading PostgreSQL");
    void d.reloadPostgres?.().catch((e: unknown) => d.log.warn({ err: String(e) }, "PostgreSQL reload after the renewal failed"));
  }, d.intervalMs ?? 5000);
  timer.unref();
  return () => clearInterval(timer);
}
