/** The standard ports a topology host is reached on are the ones the component opens and renders. */
import assert from "node:assert/strict";
import { NODE_PORTS } from "../../lib/args/types";
import { etcdClientUrl, etcdPeerUrl, pgAddress, STANDARD_PORTS } from "../../sidecar/topology/addresses";

describe("topology addresses", () => {
  it("the standard ports are the component's NODE_PORTS", () => {
    assert.deepEqual(STANDARD_PORTS, {
      postgres: NODE_PORTS.postgres,
      api: NODE_PORTS.agentApi,
      etcdClient: NODE_PORTS.etcdClient,
      etcdPeer: NODE_PORTS.etcdPeer,
    });
  });

  it("a host's own ports (the local cluster) win over the standard ones", () => {
    const h = { name: "etcd-1", ip: "127.0.0.1", revision: "r", ports: { etcdClient: 15000, etcdPeer: 15010 } };
    assert.equal(etcdClientUrl(h, "http"), "http://127.0.0.1:15000");
    assert.equal(etcdPeerUrl(h, "http"), "http://127.0.0.1:15010");
    assert.deepEqual(pgAddress({ name: "pg-0", ip: "10.0.1.10", revision: "r" }), { host: "10.0.1.10", port: 5432 });
  });
});
