/**
 * The require() graph of this package's compiled CommonJS (tsc output), read from dist/: the agent
 * bundle holds exactly the modules the agent can load.
 */
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";

export interface RequireEdge {
  /** The specifier as written, e.g. "../local/cluster". */
  spec: string;
  /** A dynamic import() (tsc emits `Promise.resolve().then(() => require(...))`): loaded only when that code runs. */
  lazy: boolean;
}

const LAZY_PREFIX = /Promise\.resolve\(\)\.then\(\(\) => (?:__importStar\(|__importDefault\()?$/;

/** The relative requires of one compiled file (packages and node: builtins are left out). Pure. */
export function relativeRequires(js: string): RequireEdge[] {
  const edges: RequireEdge[] = [];
  for (const m of js.matchAll(/require\("(\.{1,2}\/[^"]+)"\)/g)) {
    edges.push({ spec: m[1], lazy: LAZY_PREFIX.test(js.slice(Math.max(0, m.index - 60), m.index)) });
  }
  return edges;
}

/** The file a relative require resolves to, as Node does for our output: X.js or X/index.js. */
export function resolveRequire(fromFile: string, spec: string): string {
  const base = path.resolve(path.dirname(fromFile), spec);
  for (const candidate of [base, `${base}.js`, path.join(base, "index.js")]) {
    if (candidate.endsWith(".js") && existsSync(candidate)) return candidate;
  }
  throw new Error(`${fromFile}: require("${spec}") resolves to no file: run \`npm run build\``);
}

/**
 * Every compiled file reachable from the entry files. `follow(edge, from, to)` says whether a lazy
 * edge is taken (static edges always are: they load with the module).
 */
export function reachableModules(entries: readonly string[], follow: (from: string, to: string) => boolean = () => true): string[] {
  const seen = new Set<string>();
  const todo = [...entries.map((e) => path.resolve(e))];
  while (todo.length > 0) {
    const file = todo.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const edge of relativeRequires(readFileSync(file, "utf8"))) {
      const to = resolveRequire(file, edge.spec);
      if (!edge.lazy || follow(file, to)) todo.push(to);
    }
  }
  return [...seen].sort();
}
