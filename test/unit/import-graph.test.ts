/** The module graph: no import cycle in the sources, and how the bundle tells lazy from static requires. */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { packageRoot } from "../../lib/bundle/agent-bundle";
import { relativeRequires } from "../../lib/bundle/module-graph";
import { findCycles, sourceImports, tsFiles } from "../helpers/import-graph";

describe("module graph", () => {
  it("lib/ and sidecar/ import each other without a cycle (type-only imports included)", () => {
    const root = packageRoot();
    const files = [...tsFiles(path.join(root, "lib")), ...tsFiles(path.join(root, "sidecar"))];
    const graph = new Map(files.map((f) => [f, sourceImports(f, fs.readFileSync(f, "utf8"))]));
    assert.deepEqual(
      findCycles(graph).map((c) => c.map((f) => path.relative(root, f)).join(" → ")),
      [],
    );
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

  it("tells tsc's lazy import() from a static require", () => {
    const js = [
      'const x_1 = require("./x");',
      'require("../runtime");',
      'const y = __importStar(require("node:path"));',
      'const lazy = () => Promise.resolve().then(() => __importStar(require("../local/cluster")));',
      '    const { a } = await Promise.resolve().then(() => require("./a"));',
    ].join("\n");
    assert.deepEqual(relativeRequires(js), [
      { spec: "./x", lazy: false },
      { spec: "../runtime", lazy: false },
      { spec: "../local/cluster", lazy: true },
      { spec: "./a", lazy: true },
    ]);
  });
});
