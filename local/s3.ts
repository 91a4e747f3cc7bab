/**
 * A real S3 API on 127.0.0.1 for `hapg local up --backup` and the tests: npm's s3rver over HTTPS,
 * with a certificate made at run time by openssl (a CA and a server certificate for "localhost":
 * pgBackRest 2.45 checks the host name and ignores IP SANs, so the endpoint is "localhost" with the
 * CA file). s3rver accepts only the key S3RVER / S3RVER. The server runs detached, recorded by pid;
 * `stopS3` stops it by that pid.
 */
import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { httpRequest } from "../sidecar/http/client";
import { NO_RETRY } from "../sidecar/http/retry";
import { isRunning } from "../sidecar/postgres/process";
import { stopProcess } from "./etcd";

/** The only credentials s3rver accepts. */
export const S3RVER_KEY = "S3RVER";
export const LOCAL_BUCKET = "hapg-local";

export interface S3Server {
  pid: number;
  /** The host name pgBackRest connects to (it resolves to 127.0.0.1; the certificate names it). */
  endpoint: string;
  host: string;
  port: number;
  bucket: string;
  /** CA certificate to verify the server with. */
  caFile: string;
  /** JSON {"accessKeyId","secretAccessKey"} for the agent config's backup.repo.credentials. */
  keyFile: string;
  /** Where s3rver keeps the objects. */
  dataDir: string;
  logFile: string;
  pidFile: string;
}

export interface S3Options {
  /** Directory for the certificate, the key file, the objects, the log and the pid file. */
  dir: string;
  port: number;
  bucket?: string;
  /** Owner of the key file (the agents read it as the service user). */
  owner?: { uid: number; gid: number };
}

/** s3rver's command-line entry point, from the installed package. */
function s3rverBin(): string {
  let pkg: string;
  try {
    pkg = require.resolve("s3rver/package.json");
  } catch {
    throw new Error("s3rver is not installed: run npm install (it is a development dependency of ha-postgres-cluster)");
  }
  return path.join(path.dirname(pkg), "bin", "s3rver.js");
}

/** A CA and a server certificate for localhost (and 127.0.0.1), valid for a year, in dir. Returns the files. */
export function makeTestCa(dir: string): { caFile: string; certFile: string; keyFile: string } {
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  const f = (n: string) => path.join(dir, n);
  const run = (args: string[]) => execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
  run([
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    f("ca.key"),
    "-out",
    f("ca.pem"),
    "-days",
    "365",
    "-subj",
    "/CN=hapg test CA",
  ]);
  run(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", f("server.key"), "-out", f("server.csr"), "-subj", "/CN=localhost"]);
  fs.writeFileSync(f("server.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n");
  run([
    "x509", "-req", "-in", f("server.csr"), "-CA", f("ca.pem"), "-CAkey", f("ca.key"), "-CAcreateserial",
    "-out", f("server.pem"), "-days", "365", "-extfile", f("server.ext"),
  ]); // prettier-ignore
  fs.chmodSync(f("ca.pem"), 0o644);
  return { caFile: f("ca.pem"), certFile: f("server.pem"), keyFile: f("server.key") };
}

/** Starts s3rver over HTTPS on 127.0.0.1:port with the bucket; resolves once it answers. */
export async function startS3(o: S3Options): Promise<S3Server> {
  const bucket = o.bucket ?? LOCAL_BUCKET;
  fs.mkdirSync(o.dir, { recursive: true, mode: 0o755 });
  const tls = fs.existsSync(path.join(o.dir, "tls", "ca.pem"))
    ? {
        caFile: path.join(o.dir, "tls", "ca.pem"),
        certFile: path.join(o.dir, "tls", "server.pem"),
        keyFile: path.join(o.dir, "tls", "server.key"),
      }
    : makeTestCa(path.join(o.dir, "tls"));
  const keyFile = path.join(o.dir, "s3-keys.json");
  fs.writeFileSync(keyFile, JSON.stringify({ accessKeyId: S3RVER_KEY, secretAccessKey: S3RVER_KEY }) + "\n", { mode: 0o600 });
  if (o.owner) fs.chownSync(keyFile, o.owner.uid, o.owner.gid);
  const dataDir = path.join(o.dir, "data");
  const logFile = path.join(o.dir, "s3rver.log");
  const pidFile = path.join(o.dir, "s3rver.pid");
  const server: S3Server = {
    pid: 0,
    endpoint: "localhost",
    host: "127.0.0.1",
    port: o.port,
    bucket,
    caFile: tls.caFile,
    keyFile,
    dataDir,
    logFile,
    pidFile,
  };
  server.pid = spawnS3(server, tls);
  try {
    await waitS3(server, 15_000);
  } catch (e) {
    await stopS3(server.pid).catch(() => undefined);
    throw e;
  }
  return server;
}

/** (Re)starts the server of an earlier startS3 with the same files: the tests stop and start it for an outage. */
export async function restartS3(s: S3Server): Promise<S3Server> {
  const tlsDir = path.dirname(s.caFile);
  const pid = spawnS3(s, { certFile: path.join(tlsDir, "server.pem"), keyFile: path.join(tlsDir, "server.key") });
  const again = { ...s, pid };
  await waitS3(again, 15_000);
  return again;
}

function spawnS3(s: S3Server, tls: { certFile: string; keyFile: string }): number {
  fs.mkdirSync(s.dataDir, { recursive: true });
  const log = fs.openSync(s.logFile, "a");
  try {
    const args = [
      s3rverBin(), "-d", s.dataDir, "-a", s.host, "-p", String(s.port), "--key", tls.keyFile, "--cert", tls.certFile,
      "--no-vhost-buckets", "--silent", "--configure-bucket", s.bucket,
    ]; // prettier-ignore
    const child = spawn(process.execPath, args, { detached: true, stdio: ["ignore", log, log] });
    if (child.pid === undefined) throw new Error(`s3rver did not start: see ${s.logFile}`);
    child.on("error", () => undefined);
    child.unref();
    fs.writeFileSync(s.pidFile, `${child.pid}\n`);
    return child.pid;
  } finally {
    fs.closeSync(log);
  }
}

async function waitS3(s: S3Server, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const ca = fs.readFileSync(s.caFile);
  while (Date.now() < deadline) {
    if (!isRunning(s.pid)) throw new Error(`s3rver (pid ${s.pid}) exited at start: see ${s.logFile}`);
    const res = await httpRequest(`https://${s.host}:${s.port}/${s.bucket}`, {
      timeoutMs: 1000,
      tls: { ca, servername: s.endpoint },
      retry: NO_RETRY,
    }).catch(() => undefined);
    if (res !== undefined && res.status < 500) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`s3rver not answering on https://${s.endpoint}:${s.port} within ${timeoutMs} ms: see ${s.logFile}`);
}

/** Stops the server by pid (SIGTERM, then SIGKILL). */
export async function stopS3(pid: number): Promise<void> {
  await stopProcess(pid, 3000);
}
