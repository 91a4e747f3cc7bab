/** The import graph of the TypeScript sources (type-only imports included: a cycle of types is still a tangle). */
import * as fs from "node:fs";
import * as path from "node:path";

/** Every .ts file under dir (absolute paths). */
export function tsFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith(".ts") && !e.name.endsWith(".d.ts"))
    .map((e) => path.join(e.parentPath, e.name))
    .sort();
}

/** The relative imports of one source file, resolved to files (import, import type, export from, import()). */
export function sourceImports(file: string, text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:\bfrom|\bimport)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g)) {
    const base = path.resolve(path.dirname(file), m[1]);
    const hit = [`${base}.ts`, path.join(base, "index.ts")].find((c) => fs.existsSync(c));
    if (hit) out.push(hit);
  }
  return out;
}

/** Each cycle once, as the files around it. Pure. */
export function findCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (f: string) => {
    state.set(f, "open");
    stack.push(f);
    for (const to of graph.get(f) ?? []) {
      if (state.get(to) === "open") cycles.push(stack.slice(stack.indexOf(to)));
      else if (!state.has(to) && graph.has(to)) visit(to);
    }
    stack.pop();
    state.set(f, "done");
  };
  for (const f of graph.keys()) if (!state.has(f)) visit(f);
  return cycles;
}

/** The node: builtins a source file imports (import, import type, export from, import(), require). */
export function builtinImports(text: string): string[] {
  return [...text.matchAll(/(?:\bfrom|\bimport|\brequire)\s*\(?\s*"(node:[^"]+)"/g)].map((m) => m[1]);
}

/**
 * The layers of the code, lowest first: a file may import its own layer and the ones below, never
 * one above. lib/ (deploy time) stands beside them and reaches only the contract.
 */
export const LAYERS: readonly { name: string; holds: RegExp }[] = [
  { name: "contract", holds: /^sidecar\/contract\// },
  { name: "base", holds: /^sidecar\/(log\.ts$|http\/)/ },
  { name: "store", holds: /^sidecar\/(dcs|postgres)\// },
  { name: "agent parts", holds: /^sidecar\/(ha|watchdog|dynamic|restore|backup|config|boot|haproxy|topology|roll|membership)\// },
  { name: "api", holds: /^sidecar\/api\// },
  { name: "agent process", holds: /^sidecar\/[^/]+\.ts$/ },
  { name: "cli", holds: /^sidecar\/cli\// },
  { name: "local cluster", holds: /^local\// },
];

/** The layer of a file (relative to the root), or -1 for a file in no layer (lib/, tests, examples). */
export function layerOf(rel: string): number {
  return LAYERS.findIndex((l) => l.holds.test(rel));
}

/** Each import that breaks a layer rule, as "from → to (why)"; paths relative to root. Pure. */
export function layerViolations(root: string, graph: ReadonlyMap<string, readonly string[]>): string[] {
  const out: string[] = [];
  for (const [file, imports] of graph) {
    const from = path.relative(root, file);
    for (const imported of imports) {
      const to = path.relative(root, imported);
      if (from.startsWith("lib/")) {
        if (!to.startsWith("lib/") && layerOf(to) !== 0) out.push(`${from} → ${to} (the component reaches only sidecar/contract/)`);
        continue;
      }
      const a = layerOf(from);
      if (a < 0) {
        if (from.startsWith("sidecar/")) out.push(`${from} → ${to} (${from} is in no layer: add its folder to LAYERS)`);
        continue;
      }
      const b = layerOf(to);
      if (b < 0 && to.startsWith("sidecar/")) out.push(`${from} → ${to} (${to} is in no layer: add its folder to LAYERS)`);
      else if (b < 0) out.push(`${from} → ${to} (the agent imports neither the component nor the tests)`);
      else if (b > a) out.push(`${from} → ${to} (${LAYERS[a].name} imports ${LAYERS[b].name}, a layer above)`);
    }
  }
  return out.sort();
}

/** Every file the entries reach through the graph, the entries included. */
export function reachable(graph: ReadonlyMap<string, readonly string[]>, entries: readonly string[]): string[] {
  const seen = new Set<string>();
  const todo = [...entries];
  while (todo.length > 0) {
    const f = todo.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    todo.push(...(graph.get(f) ?? []));
  }
  return [...seen].sort();
}

/**
 * The outbound HTTP calls a source file makes by itself rather than through sidecar/http/client.ts:
 * the global fetch, request/get/Agent of node:http or node:https (namespace, default or named
 * imports), and a dynamic import of either. A server (createServer, types) is not a call. Pure.
 */
export function outboundHttpUses(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?<![\w.$])fetch\s*\(/g)) out.push(`fetch( at ${m.index}`);
  for (const m of text.matchAll(/\bimport\s*\(\s*"(node:https?)"\s*\)/g)) out.push(`import("${m[1]}")`);
  for (const m of text.matchAll(/\bimport\s+(?!type\b)([^;]*?)\s+from\s+"(node:https?)"/g)) {
    const [clause, mod] = [m[1], m[2]];
    for (const name of /\{([^}]*)\}/.exec(clause)?.[1].split(",") ?? []) {
      const [imported] = name
        .trim()
        .replace(/^type\s+/, "")
        .split(/\s+as\s+/);
      if (!name.trim().startsWith("type ") && /^(request|get|Agent|globalAgent)$/.test(imported)) out.push(`${imported} from "${mod}"`);
    }
    const binding = /^(?:\*\s+as\s+)?([\w$]+)/.exec(clause.trim())?.[1];
    if (binding) {
      const use = new RegExp(`(?<![\\w.$])${binding}\\.(request|get|Agent|globalAgent)\\b`, "g");
      for (const u of text.matchAll(use)) out.push(`${binding}.${u[1]} (${mod})`);
    }
  }
  return out;
}
