/** The module graph: no import cycle, the layer rules, a decision core without I/O, and how the bundle reads requires. */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { packageRoot } from "../../lib/bundle/agent-bundle";
import { relativeRequires } from "../../lib/bundle/module-graph";
import { builtinImports, findCycles, layerViolations, outboundHttpUses, reachable, sourceImports, tsFiles } from "../helpers/import-graph";

const root = packageRoot();
const files = [...tsFiles(path.join(root, "lib")), ...tsFiles(path.join(root, "sidecar")), ...tsFiles(path.join(root, "local"))];
const texts = new Map(files.map((f) => [f, fs.readFileSync(f, "utf8")]));
const graph = new Map(files.map((f) => [f, sourceImports(f, texts.get(f)!)]));

/**
 * The HA decision core: the pure function and the rules it is made of (snapshot in, actions and
 * reason out). The driver, the executor, the lease keeper, the peers' client and the clock run around it.
 */
const DECISION_CORE = [
  "activity",
  "decide",
  "election",
  "failsafe",
  "history",
  "operations",
  "pause",
  "promotion",
  "quorum",
  "renewal-stats",
  "restore-rules",
  "standby-rules",
  "switchover",
  "sync",
  "timeline",
  "types",
  "watchdog-rules",
].map((f) => path.join(root, "sidecar", "ha", `${f}.ts`));

/** What does I/O: the builtins that reach the network, processes or files, and the etcd client. */
const IO_BUILTINS = /^node:(net|http|https|http2|tls|dgram|dns|child_process|fs|fs\/promises|worker_threads)$/;

describe("module graph", () => {
  it("lib/, sidecar/ and local/ import each other without a cycle (type-only imports included)", () => {
    assert.deepEqual(
      findCycles(graph).map((c) => c.map((f) => path.relative(root, f)).join(" → ")),
      [],
    );
  });

  it("keeps the layers: the component reaches only the contract, no import runs up a layer", () => {
    assert.deepEqual(layerViolations(root, graph), []);
  });

  it("the HA decision core imports no I/O, directly or through what it imports (no network, process, file or etcd client)", () => {
    for (const f of DECISION_CORE) assert.ok(graph.has(f), `${path.relative(root, f)} is gone: update DECISION_CORE`);
    const reached = reachable(graph, DECISION_CORE);
    const io = reached.flatMap((f) =>
      builtinImports(texts.get(f)!)
        .filter((b) => IO_BUILTINS.test(b))
        .map((b) => `${path.relative(root, f)}: ${b}`),
    );
    const clients = reached
      .map((f) => path.relative(root, f))
      .filter((f) => /^sidecar\/(http|api)\/|^sidecar\/dcs\/(?!(types|roll-state)\.ts$)/.test(f));
    assert.deepEqual([...io, ...clients], []);
  });

  it("every outbound HTTP call goes through the one client, sidecar/http/client.ts (no fetch, no node:http request elsewhere)", () => {
    const client = path.join(root, "sidecar", "http", "client.ts");
    assert.ok(texts.has(client), "sidecar/http/client.ts is gone: update this test");
    // Text that is not our code making a call: the Docker component's health check is a command line
    // Docker runs inside each node's container (node -e "fetch(...)"), one per file named here.
    const notOurCalls = new Map([["lib/docker/component.ts", /const healthProbe = `fetch\(/]]);
    const uses = files
      .filter((f) => f !== client)
      .flatMap((f) => {
        const rel = path.relative(root, f);
        const text = texts.get(f)!.replace(notOurCalls.get(rel) ?? /$^/, "");
        return outboundHttpUses(text).map((u) => `${rel}: ${u}`);
      });
    assert.deepEqual(uses, []);
  });

  it("finds an outbound HTTP call made without the client, and lets a server or a type through", () => {
    const cases: [string, string[]][] = [
      ["const r = await fetch(url, { signal });", ["fetch( at 16"]],
      ['import * as http from "node:http";\nhttp.request(u, o);', ["http.request (node:http)"]],
      ['import https from "node:https";\nconst a = new https.Agent({});', ["https.Agent (node:https)"]],
      ['import { get as g, createServer } from "node:http";', ['get from "node:http"']],
      ['const https = await import("node:https");', ['import("node:https")']],
      ['import http from "node:http";\nhttp.createServer(handler);', []],
      ['import type http from "node:http";\nlet r: http.IncomingMessage;', []],
      ["this.prefetch(x); cache.fetch(y);", []],
    ];
    for (const [text, expected] of cases) assert.deepEqual(outboundHttpUses(text), expected, text);
  });

  it("tells a layer violation from an allowed import", () => {
    const g = new Map([
      ["/r/lib/a.ts", ["/r/sidecar/contract/version.ts", "/r/sidecar/ha/decide.ts"]],
      ["/r/sidecar/dcs/kv.ts", ["/r/sidecar/ha/history.ts", "/r/sidecar/contract/lsn.ts", "/r/sidecar/log.ts"]],
      ["/r/sidecar/cli/main.ts", ["/r/sidecar/agent.ts", "/r/local/cli.ts"]],
    ]);
    assert.deepEqual(layerViolations("/r", g), [
      "lib/a.ts → sidecar/ha/decide.ts (the component reaches only sidecar/contract/)",
      "sidecar/cli/main.ts → local/cli.ts (cli imports local cluster, a layer above)",
      "sidecar/dcs/kv.ts → sidecar/ha/history.ts (store imports agent parts, a layer above)",
    ]);
  });

  it("finds a cycle", () => {
    const g = new Map([
      ["a", ["b"]],
      ["b", ["c"]],
      ["c", ["a", "d"]],
      ["d", []],
    ]);
    assert.deepEqual(findCycles(g), [["a", "b", "c"]]);
  });

  it("finds tsc's static requires and lazy import()s alike (the bundle holds both)", () => {
    const js = [
      'const x_1 = require("./x");',
      'require("../runtime");',
      'const y = __importStar(require("node:path"));',
      'const lazy = () => Promise.resolve().then(() => __importStar(require("../local/cluster")));',
      '    const { a } = await Promise.resolve().then(() => require("./a"));',
    ].join("\n");
    assert.deepEqual(relativeRequires(js), ["./x", "../runtime", "../local/cluster", "./a"]);
  });
});
