import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { renderRoutingConfig } from "../../sidecar/contract/haproxy-config";
import { checkHaproxyConfig } from "../../local/haproxy";

const input = {
  header: "test",
  bindHost: "127.0.0.1",
  primaryPort: 15020,
  replicaPort: 15021,
  stats: { host: "127.0.0.1", port: 15022 },
  servers: [
    { name: "node1", host: "127.0.0.1", pgPort: 15100, apiPort: 15200 },
    { name: "node2", host: "127.0.0.1", pgPort: 15101, apiPort: 15201 },
  ],
};

/** Lines of one `listen` section, without indentation. */
function section(cfg: string, name: string): string[] {
  const lines = cfg.split("\n");
  const start = lines.indexOf(`listen ${name}`);
  assert.ok(start >= 0, `no listen ${name}`);
  const out: string[] = [];
  for (const l of lines.slice(start + 1)) {
    if (!l.startsWith("    ")) break;
    out.push(l.trim());
  }
  return out;
}

describe("HAProxy routing config", () => {
  const cfg = renderRoutingConfig(input);

  it("is TCP with timeouts long enough for idle PostgreSQL sessions", () => {
    assert.match(cfg, /^\s+mode tcp$/m);
    assert.match(cfg, /^\s+timeout client 30m$/m);
    assert.match(cfg, /^\s+timeout server 30m$/m);
  });

  it("never holds a client for long on a refused connection: short connect timeout, one redispatched retry", () => {
    assert.match(cfg, /^\s+timeout connect 250ms$/m);
    assert.match(cfg, /^\s+retries 1$/m);
    assert.match(cfg, /^\s+option redispatch$/m);
  });

  it("sends the primary port only to the member whose /primary answers 200", () => {
    const s = section(cfg, "primary");
    assert.ok(s.includes("bind 127.0.0.1:15020"));
    assert.ok(s.includes("option httpchk"));
    assert.ok(s.includes("http-check send meth GET uri /primary"));
    assert.ok(s.includes("http-check expect status 200"));
    assert.ok(s.some((l) => /^default-server inter 1s .*fall 2 rise 1 on-marked-down shutdown-sessions$/.test(l)));
    assert.ok(s.includes("server node1 127.0.0.1:15100 check port 15200"));
    assert.ok(s.includes("server node2 127.0.0.1:15101 check port 15201"));
  });

  it("balances the replica port round robin over members whose /replica answers 200", () => {
    const s = section(cfg, "replicas");
    assert.ok(s.includes("bind 127.0.0.1:15021"));
    assert.ok(s.includes("balance roundrobin"));
    assert.ok(s.includes("http-check send meth GET uri /replica"));
    assert.equal(s.filter((l) => l.startsWith("server ")).length, 2);
  });

  it("serves a stats page only when asked", () => {
    const s = section(cfg, "stats");
    assert.ok(s.includes("bind 127.0.0.1:15022"));
    assert.ok(s.includes("stats uri /stats"));
    assert.doesNotMatch(renderRoutingConfig({ ...input, stats: undefined }), /stats/);
  });

  it("starts with the caller's header as comments", () => {
    assert.match(renderRoutingConfig({ ...input, header: "one\ntwo" }), /^# one\n# two\nglobal\n/);
  });

  it("refuses no servers and names that would break the config", () => {
    assert.throws(() => renderRoutingConfig({ ...input, servers: [] }), /at least one server/);
    assert.throws(() => renderRoutingConfig({ ...input, servers: [{ name: "a b", host: "127.0.0.1", pgPort: 1, apiPort: 2 }] }), /"a b"/);
  });

  it("is accepted by `haproxy -c`", function () {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hapg-haproxy-"));
    try {
      const file = path.join(dir, "haproxy.cfg");
      fs.writeFileSync(file, cfg);
      checkHaproxyConfig(file);
      fs.writeFileSync(file, cfg.replace("mode tcp", "mode bogus"));
      assert.throws(() => checkHaproxyConfig(file), /haproxy rejected/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
