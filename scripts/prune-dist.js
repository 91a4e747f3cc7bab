#!/usr/bin/env node
// Removes compiled files in dist/ whose TypeScript source no longer exists (a moved or deleted
// module): tsc's incremental build never deletes them, and they would otherwise be packed,
// loaded by a test glob, or picked up by a stale require. Runs before every build.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
const dist = path.join(root, "dist");
const OUTPUT = /(\.d\.ts|\.js\.map|\.js)$/;

function walk(dir) {
  let entries;
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      walk(p);
      if (fs.readdirSync(p).length === 0) fs.rmdirSync(p);
    } else if (OUTPUT.test(e.name)) {
      const source = path.join(root, path.relative(dist, p)).replace(OUTPUT, ".ts");
      if (!fs.existsSync(source)) fs.rmSync(p);
    }
  }
}

walk(dist);
