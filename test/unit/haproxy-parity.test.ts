/**
 * The HAProxy every EC2 node gets is the one the failover benchmark measured: the node's config (from
 * the rendered user-data) and the one `hapg local up` writes share every line (checks, timeouts,
 * retries, redispatch, limits, logging) except addresses, ports, the local stats page, and the checks'
 * TLS (a node's agents serve HTTPS, the local cluster's plain HTTP; checked on its own below).
 */
import * as assert from "node:assert/strict";
import { renderFiles } from "../../lib/userdata/render";
import { NODE_PATHS } from "../../lib/userdata/paths";
import { localRoutingConfig } from "../../local/haproxy";
import { computeLayout } from "../../local/layout";
import { variants } from "../component/fixtures";

/** The only section that may exist on one side: the local cluster waits for HAProxy on its stats page. */
const LOCAL_ONLY = "listen stats";
/** What a node's server lines add: health checks over TLS, verified against the cluster CA and the member's name. */
const CHECK_TLS = / check-ssl verify required ca-file (\S+) verifyhost (\S+)$/;

/**
 * Section header ("global", "defaults", "listen primary"...) → its distinct lines, comments dropped,
 * with bind addresses, server names, addresses and ports masked (servers differ in number only).
 */
export function tuningLines(cfg: string): Map<string, string[]> {
  const sections = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const raw of cfg.split("\n")) {
    const line = raw.replace(/#.*$/, "").trim();
    if (line === "") continue;
    if (!/^\s/.test(raw)) {
      assert.ok(!sections.has(line), `section ${line} appears twice`);
      current = [];
      sections.set(line, current);
      continue;
    }
    assert.ok(current, `"${line}" is outside any section`);
    const masked = line
      .replace(/^bind \S+:\d+$/, "bind ADDR:PORT")
      .replace(CHECK_TLS, "")
      .replace(/^server \S+ \S+:\d+ (.*)\bport \d+\b(.*)$/, "server NAME ADDR:PORT $1port PORT$2");
    if (!current.includes(masked)) current.push(masked);
  }
  return sections;
}

function nodeConfigs(): Array<{ id: string; cfg: string; members: number }> {
  return variants()
    .filter((v) => v.spec.postgres)
    .map((v) => {
      const file = renderFiles(v.spec).find((f) => f.path === NODE_PATHS.haproxyConfig);
      assert.ok(file, `${v.id} has ${NODE_PATHS.haproxyConfig}`);
      return { id: v.id, cfg: file.content, members: v.spec.postgres!.members.length };
    });
}

describe("HAProxy: the node's config is the benchmarked local one", () => {
  const layout = computeLayout({ dir: "/tmp/hapg-parity", nodes: 3, etcd: 3, basePort: 15000 });
  const local = localRoutingConfig(layout);
  const localLines = tuningLines(local);

  it("the masking sees the listeners and servers (so a difference cannot hide in them)", () => {
    for (const name of ["listen primary", "listen replicas"]) {
      const s = localLines.get(name);
      assert.ok(s, name);
      assert.ok(s.includes("bind ADDR:PORT"), `${name}: ${s.join(" | ")}`);
      assert.equal(s.filter((l) => l.startsWith("server ")).length, 1, `${name}: one distinct server line: ${s.join(" | ")}`);
    }
    assert.equal(local.match(/^\s+server /gm)?.length, 2 * layout.nodes.length);
  });

  for (const { id, cfg, members } of nodeConfigs()) {
    it(`${id}: every section and line but addresses, ports and the stats page is the same`, () => {
      const node = tuningLines(cfg);
      const localShared = new Map([...localLines].filter(([k]) => k !== LOCAL_ONLY));
      assert.deepEqual([...node.keys()], [...localShared.keys()], "the same sections, in the same order");
      assert.deepEqual(Object.fromEntries(node), Object.fromEntries(localShared), "the node's HAProxy is tuned like the benchmarked one");
      assert.equal(cfg.match(/^\s+server /gm)?.length, 2 * members, "every member in both listeners");
    });
  }

  it("a node checks every member's API over TLS with the cluster CA and the member's name; the local cluster over HTTP", () => {
    for (const { id, cfg } of nodeConfigs()) {
      const servers = cfg.split("\n").filter((l) => /^\s+server /.test(l));
      for (const line of servers) {
        const m = CHECK_TLS.exec(line);
        assert.ok(m, `${id}: ${line}`);
        assert.equal(m[1], `${NODE_PATHS.postgresTlsDir}/ca.crt`, id);
        assert.equal(m[2], line.trim().split(" ")[1], `${id}: verifyhost is the member's name`);
      }
    }
    assert.doesNotMatch(local, /check-ssl/);
  });

  it("only the local cluster has the stats page", () => {
    assert.ok(localLines.has(LOCAL_ONLY));
    for (const { id, cfg } of nodeConfigs()) assert.ok(!tuningLines(cfg).has(LOCAL_ONLY), id);
  });
});
