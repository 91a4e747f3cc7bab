#!/usr/bin/env node
/**
 * Moves TypeScript modules and rewrites every relative import that points at them (and every relative
 * import inside them), so a move is one mechanical commit that git's rename detection can follow.
 *
 *   node scripts/move-modules.js [--no-git] OLD=NEW [OLD=NEW ...]   (paths from the repo root, .ts files or folders)
 *   node scripts/move-modules.js --rewrite-only MAPFILE              (only rewrite imports, e.g. on another branch)
 *
 * MAPFILE holds one "OLD NEW" pair a line. Files are found under lib, sidecar, local, test, examples
 * and index.ts. Only specifiers starting with ./ or ../ are touched.
 */
const fs = require("node:fs");
const path = require("node:path");
const { execFileSync } = require("node:child_process");

const root = process.cwd();
const args = process.argv.slice(2);
let git = true;
let pairs = [];
let move = true;
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--no-git") git = false;
  else if (args[i] === "--rewrite-only") {
    move = false;
    pairs = fs
      .readFileSync(args[++i], "utf8")
      .split("\n")
      .map((l) => l.trim().split(/\s+/))
      .filter((p) => p.length === 2 && !p[0].startsWith("#"));
  } else pairs.push(args[i].split("="));
}

/** Expand folder pairs into file pairs (existing files at OLD, or for --rewrite-only, anything under OLD). */
function filePairs() {
  const out = new Map();
  for (const [from, to] of pairs) {
    const abs = path.join(root, from);
    if (from.endsWith(".ts")) out.set(path.normalize(from), path.normalize(to));
    else if (fs.existsSync(abs) && fs.statSync(abs).isDirectory()) {
      for (const e of fs.readdirSync(abs, { recursive: true })) {
        if (String(e).endsWith(".ts")) out.set(path.join(from, String(e)), path.join(to, String(e)));
      }
    } else out.set(`dir:${path.normalize(from)}`, path.normalize(to));
  }
  return out;
}

function walk(dir, acc) {
  if (!fs.existsSync(dir)) return acc;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.name === "node_modules" || e.name === "dist" || e.name.startsWith(".")) continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, acc);
    else if (e.name.endsWith(".ts") && !e.name.endsWith(".d.ts")) acc.push(path.relative(root, p));
  }
  return acc;
}

const map = filePairs();
const mapTarget = (rel) => {
  if (map.has(rel)) return map.get(rel);
  for (const [k, v] of map)
    if (k.startsWith("dir:") && (rel + "/").startsWith(k.slice(4) + "/")) return path.join(v, path.relative(k.slice(4), rel));
  return rel;
};

// Every source file with its old and new location.
const files = ["lib", "sidecar", "local", "test", "examples", "contract"].flatMap((d) => walk(path.join(root, d), []));
if (fs.existsSync(path.join(root, "index.ts"))) files.push("index.ts");
const exists = new Set(files);
for (const [k] of map) if (!k.startsWith("dir:")) exists.add(k);

function resolveOld(fromOld, spec) {
  const base = path.normalize(path.join(path.dirname(fromOld), spec));
  for (const c of [`${base}.ts`, path.join(base, "index.ts")]) if (exists.has(c) || map.has(c)) return c;
  return undefined;
}

const edits = [];
for (const file of files) {
  // With --rewrite-only the files already sit at their place on this branch (their old place if they were not moved there).
  const oldPath = file;
  const newPath = move ? mapTarget(file) : file;
  const text = fs.readFileSync(path.join(root, file), "utf8");
  const out = text.replace(/((?:\bfrom|\bimport|\brequire)\s*\(?\s*)"(\.{1,2}\/[^"]+)"/g, (all, pre, spec) => {
    let target;
    if (move) target = resolveOld(oldPath, spec);
    else {
      // On a branch where the moves are already merged: keep what resolves; rewrite what points at an old place.
      const base = path.normalize(path.join(path.dirname(file), spec));
      if ([`${base}.ts`, path.join(base, "index.ts")].some((c) => fs.existsSync(path.join(root, c)))) return all;
      target = [`${base}.ts`, path.join(base, "index.ts")].find((c) => mapTarget(c) !== c);
    }
    if (!target) return all;
    const newTarget = mapTarget(target);
    let rel = path
      .relative(path.dirname(newPath), newTarget)
      .replace(/\.ts$/, "")
      .replace(/\/index$/, "");
    if (!rel.startsWith(".")) rel = `./${rel}`;
    return rel === spec ? all : `${pre}"${rel}"`;
  });
  if (out !== text) edits.push([file, out]);
}
if (move) {
  for (const [from, to] of map) {
    if (from.startsWith("dir:")) continue;
    fs.mkdirSync(path.dirname(path.join(root, to)), { recursive: true });
    if (git) execFileSync("git", ["mv", from, to], { cwd: root });
    else fs.renameSync(path.join(root, from), path.join(root, to));
  }
}
for (const [file, out] of edits) fs.writeFileSync(path.join(root, move ? mapTarget(file) : file), out);
console.log(`moved ${move ? map.size : 0} files, rewrote imports in ${edits.length}`);
