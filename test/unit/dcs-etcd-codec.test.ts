import * as assert from "node:assert/strict";
import { parseEtcdError } from "../../sidecar/dcs/etcd-http";
import { prefixRangeEnd } from "../../sidecar/dcs/kv-dcs";

describe("dcs etcd gateway codec", () => {
  it("prefixRangeEnd is the prefix with its last byte + 1 (carrying over 0xff)", () => {
    assert.equal(prefixRangeEnd("/service/main/").toString("utf8"), "/service/main0");
    assert.deepEqual([...prefixRangeEnd(Buffer.from([0x61, 0xff]).toString("latin1"))], [0x61, 0xc3, 0xc0]); // utf8 of "a\u00ff"
    assert.deepEqual([...prefixRangeEnd("")], [0]);
  });

  const cases: { name: string; status: number; body: string; code: number; message: string; endpointProblem: boolean }[] = [
    {
      name: "3.4 unary",
      status: 404,
      body: '{"error":"etcdserver: requested lease not found","code":5,"message":"etcdserver: requested lease not found"}',
      code: 5,
      message: "etcdserver: requested lease not found",
      endpointProblem: false,
    },
    {
      name: "3.5 unary",
      status: 503,
      body: '{"code":14,"message":"etcdserver: no leader","details":[]}',
      code: 14,
      message: "etcdserver: no leader",
      endpointProblem: true,
    },
    {
      name: "in a stream",
      status: 200,
      body: '{"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader"}}',
      code: 14,
      message: "etcdserver: no leader",
      endpointProblem: true,
    },
    {
      name: "auth",
      status: 401,
      body: '{"code":16,"message":"etcdserver: invalid auth token"}',
      code: 16,
      message: "etcdserver: invalid auth token",
      endpointProblem: false,
    },
    {
      name: "a proxy's HTML",
      status: 502,
      body: "<html>bad gateway</html>",
      code: 2,
      message: "<html>bad gateway</html>",
      endpointProblem: true,
    },
  ];
  for (const c of cases) {
    it(`parses an error answer — ${c.name}`, () => {
      const err = parseEtcdError(c.status, c.body);
      assert.deepEqual([err.code, err.etcdMessage, err.endpointProblem], [c.code, c.message, c.endpointProblem]);
    });
  }
  it("recognises an auth problem", () => {
    assert.equal(parseEtcdError(401, '{"code":16,"message":"etcdserver: invalid auth token"}').authProblem, true);
    assert.equal(parseEtcdError(404, '{"code":5,"message":"x"}').authProblem, false);
  });
});
