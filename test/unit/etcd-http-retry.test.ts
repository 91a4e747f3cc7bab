/**
 * The etcd transport (sidecar/dcs/etcd-http.ts) on the one retry policy: one round over the endpoints
 * within the call's deadline, a refused or unavailable member skipped for the next, etcd's own refusal
 * final. Fake gateways (node:http in this process) stand in for etcd's members; the real etcd is in
 * test/integration/etcd-dcs.test.ts.
 */
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { EtcdApiError, EtcdHttp } from "../../sidecar/dcs/etcd-http";
import { DcsUnavailableError } from "../../sidecar/dcs/types";

type Answer = (res: http.ServerResponse) => void;

describe("etcd transport: endpoints and the retry policy", () => {
  const servers: http.Server[] = [];
  const hits: number[] = [];
  const answers: Answer[] = [];
  const urls: string[] = [];
  let refused: string;

  before(async () => {
    for (let i = 0; i < 2; i++) {
      const s = http.createServer((_req, res) => {
        hits[i]++;
        answers[i](res);
      });
      await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
      servers.push(s);
      urls.push(`http://127.0.0.1:${(s.address() as AddressInfo).port}`);
    }
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    refused = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise((r) => closed.close(r));
  });
  beforeEach(() => hits.splice(0, 2, 0, 0));
  after(async () => {
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  });

  const ok: Answer = (res) => res.end('{"header":{"revision":"7"}}');
  const noLeader: Answer = (res) => res.writeHead(503).end('{"code":14,"message":"etcdserver: no leader"}');
  const badRequest: Answer = (res) => res.writeHead(400).end('{"code":3,"message":"etcdserver: key is not provided"}');
  const silent: Answer = () => undefined;

  it("skips a refused member and keeps the one that answered for the next call", async () => {
    answers[0] = ok;
    const etcd = new EtcdHttp({ endpoints: [refused, urls[0]], timeoutMs: 1000 });
    try {
      assert.deepEqual(await etcd.call("/v3/kv/range", {}), { header: { revision: "7" } });
      assert.equal(etcd.currentEndpoint, urls[0]);
      await etcd.call("/v3/kv/range", {});
      assert.equal(hits[0], 2);
    } finally {
      etcd.close();
    }
  });

  it("a member without a leader (UNAVAILABLE) sends the call to the next member at once", async () => {
    [answers[0], answers[1]] = [noLeader, ok];
    const etcd = new EtcdHttp({ endpoints: [urls[0], urls[1]], timeoutMs: 1000 });
    try {
      await etcd.call("/v3/kv/range", {});
      assert.deepEqual(hits, [1, 1]);
      assert.equal(etcd.currentEndpoint, urls[1]);
    } finally {
      etcd.close();
    }
  });

  it("etcd's refusal of the request itself is final: no other member is asked", async () => {
    [answers[0], answers[1]] = [badRequest, ok];
    const etcd = new EtcdHttp({ endpoints: [urls[0], urls[1]], timeoutMs: 1000 });
    try {
      await assert.rejects(etcd.call("/v3/kv/range", {}), (e: EtcdApiError) => e instanceof EtcdApiError && e.code === 3);
      assert.deepEqual(hits, [1, 0]);
    } finally {
      etcd.close();
    }
  });

  it("one round only, within the call's deadline: silent members reject DcsUnavailableError naming each", async () => {
    [answers[0], answers[1]] = [silent, silent];
    const etcd = new EtcdHttp({ endpoints: [urls[0], urls[1]], timeoutMs: 400 });
    const t0 = performance.now();
    try {
      await assert.rejects(
        etcd.call("/v3/kv/range", {}),
        (e: Error) => e instanceof DcsUnavailableError && e.message.includes(urls[0]) && e.message.includes(urls[1]),
      );
      const took = performance.now() - t0;
      assert.ok(took >= 390 && took < 700, `took ${took} ms`);
      assert.deepEqual(hits, [1, 1]);
    } finally {
      etcd.close();
    }
  });
});
