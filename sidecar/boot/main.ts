#!/usr/bin/env node
/**
 * Standalone node-init entry point run by the user-data's boot script:
 *   node dist/sidecar/boot/main.js --plan /etc/hapg/node-init.json
 * Kept independent of the `hapg` CLI so a node boots whatever subcommands the CLI has.
 */
import { runNodeInit } from "./node-init";

async function main(argv: string[]): Promise<number> {
  const i = argv.indexOf("--plan");
  const plan = i >= 0 ? argv[i + 1] : undefined;
  if (!plan) {
    process.stderr.write("usage: node-init --plan FILE\n");
    return 2;
  }
  try {
    await runNodeInit(plan);
    return 0;
  } catch (e) {
    process.stderr.write(`node-init: ${(e as Error).message}\n`);
    return 1;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => process.exit(code));
}

export { main };
