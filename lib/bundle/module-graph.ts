/**
 * The require() graph of this package's compiled CommonJS (tsc output), read from dist/: the agent
 * bundle holds exactly the modules the agent can load.
 */
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";

/** The relative requires of one compiled file (packages and node: builtins are left out), static or lazy (tsc's import()). Pure. */
export function relativeRequires(js: string): string[] {
  return [...js.matchAll(/require\("(\.{1,2}\/[^"]+)"\)/g)].map((m) => m[1]);
}

/** The file a relative require resolves to, as Node does for our output: X.js or X/index.js. */
export function resolveRequire(fromFile: string, spec: string): string {
  const base = path.resolve(path.dirname(fromFile), spec);
  for (const candidate of [base, `${base}.js`, path.join(base, "index.js")]) {
    if (candidate.endsWith(".js") && existsSync(candidate)) return candidate;
  }
  throw new Error(`${fromFile}: require("${spec}") resolves to no file: run \`npm run build\``);
}

/** Every compiled file reachable from the entry files, lazy imports included (a command may load them). */
export function reachableModules(entries: readonly string[]): string[] {
  const seen = new Set<string>();
  const todo = [...entries.map((e) => path.resolve(e))];
  while (todo.length > 0) {
    const file = todo.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const spec of relativeRequires(readFileSync(file, "utf8"))) todo.push(resolveRequire(file, spec));
  }
  return [...seen].sort();
}
