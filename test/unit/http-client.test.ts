/** The one HTTP client (sidecar/http/client.ts) against a real node:http server on loopback in this process. */
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { HttpError, HttpPool, httpRequest, openStream } from "../../sidecar/http/client";
import { NO_RETRY } from "../../sidecar/http/retry";

describe("HTTP client", () => {
  let server: http.Server;
  let base: string;
  let handler: (req: http.IncomingMessage, res: http.ServerResponse, n: number) => void;
  let requests = 0;

  before(async () => {
    server = http.createServer((req, res) => handler(req, res, ++requests));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  beforeEach(() => (requests = 0));
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  /** The first request's connection is cut before any answer; later ones get 200. */
  const resetFirst = (req: http.IncomingMessage, res: http.ServerResponse, n: number) => {
    if (n === 1) return req.socket.destroy();
    res.end(`ok ${req.method}`);
  };

  it("retries a GET whose connection broke, and answers what the retry got", async () => {
    handler = resetFirst;
    const res = await httpRequest(`${base}/x`, { timeoutMs: 3000 });
    assert.deepEqual([res.status, res.text, requests], [200, "ok GET", 2]);
  });

  it("does not repeat a POST whose connection broke (the server may have acted), unless the caller says it is safe", async () => {
    handler = resetFirst;
    await assert.rejects(httpRequest(`${base}/x`, { method: "POST", body: "{}", timeoutMs: 3000 }), (e: HttpError) => e.kind === "reset");
    assert.equal(requests, 1);
    requests = 0;
    const res = await httpRequest(`${base}/x`, { method: "POST", body: "{}", timeoutMs: 3000, idempotent: true });
    assert.deepEqual([res.text, requests], ["ok POST", 2]);
  });

  it("returns an error answer as it is (a 503 is an answer, not retried)", async () => {
    handler = (_q, res) => res.writeHead(503).end("replica only");
    const res = await httpRequest(`${base}/replica`, { timeoutMs: 3000 });
    assert.deepEqual([res.status, res.text, requests], [503, "replica only", 1]);
  });

  it("times out within the call's deadline, retries included", async () => {
    handler = () => undefined; // never answers
    const t0 = performance.now();
    await assert.rejects(httpRequest(`${base}/slow`, { timeoutMs: 300 }), (e: HttpError) => e.kind === "timeout");
    const took = performance.now() - t0;
    assert.ok(took >= 290 && took < 600, `took ${took} ms`);
    assert.equal(requests, 1);
  });

  it("reports a refused connection with Node's code, once with NO_RETRY", async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    await assert.rejects(
      httpRequest(`http://127.0.0.1:${port}/`, { timeoutMs: 1000, retry: NO_RETRY }),
      (e: HttpError) => e.kind === "connect" && e.code === "ECONNREFUSED",
    );
  });

  it("sends basic auth and the body, and keeps a pool's connection alive between calls", async () => {
    const seen: string[] = [];
    const sockets = new Set<unknown>();
    handler = (req, res) => {
      sockets.add(req.socket);
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        seen.push(`${req.headers.authorization} ${body}`);
        res.end("{}");
      });
    };
    const pool = new HttpPool();
    try {
      for (let i = 0; i < 3; i++) {
        await httpRequest(`${base}/failsafe`, {
          method: "POST",
          body: `{"n":${i}}`,
          basicAuth: { username: "u", password: "p" },
          pool,
          timeoutMs: 3000,
        });
      }
    } finally {
      pool.close();
    }
    const auth = `Basic ${Buffer.from("u:p").toString("base64")}`;
    assert.deepEqual(seen, [`${auth} {"n":0}`, `${auth} {"n":1}`, `${auth} {"n":2}`]);
    assert.equal(sockets.size, 1);
  });

  it("streams newline-delimited lines of a long poll until the server ends it", async () => {
    handler = (_q, res) => {
      res.writeHead(200);
      res.write('{"a":1}\n{"b"');
      setTimeout(() => res.end(':2}\n\n{"c":3}\n'), 20);
    };
    const lines: string[] = [];
    const closed = await new Promise<HttpError>((resolve) => {
      openStream(`${base}/v3/watch`, { method: "POST", body: "{}", timeoutMs: 1000 }, { onLine: (l) => lines.push(l), onClose: resolve });
    });
    assert.deepEqual(lines, ['{"a":1}', '{"b":2}', '{"c":3}']);
    assert.match(closed.message, /stream ended/);
  });

  it("hands a stream's error answer to the caller with its status and body", async () => {
    handler = (_q, res) => res.writeHead(401).end('{"code":16,"message":"invalid auth token"}');
    const closed = await new Promise<HttpError>((resolve) => {
      openStream(`${base}/v3/watch`, { method: "POST", body: "{}", timeoutMs: 1000 }, { onLine: () => undefined, onClose: resolve });
    });
    assert.deepEqual([closed.kind, closed.status, closed.body], ["answer", 401, '{"code":16,"message":"invalid auth token"}']);
  });
});
