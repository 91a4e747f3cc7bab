/**
 * The agent bundle as the component uploads it: the archive `defaultAgentBundle()` declares (the
 * same function the component calls when no agentBundle is given), built from this checkout and
 * zipped with the archive's own layout. (The mock engine does not hand an archive's contents to
 * the mocks, so the rehearsal builds it from the same declaration.)
 */
import * as pulumi from "@pulumi/pulumi";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { defaultAgentBundle } from "../../lib/bundle/agent-bundle";
import { run } from "./rootfs";

async function stage(archive: pulumi.asset.AssetArchive, dir: string): Promise<void> {
  const assets = await archive.assets;
  for (const [name, a] of Object.entries(assets)) {
    const target = join(dir, name);
    mkdirSync(dirname(target), { recursive: true });
    if (a instanceof pulumi.asset.FileAsset || a instanceof pulumi.asset.FileArchive) {
      cpSync(await a.path, target, { recursive: true, dereference: true });
    } else if (a instanceof pulumi.asset.AssetArchive) {
      mkdirSync(target, { recursive: true });
      await stage(a, target);
    } else {
      throw new Error(`boot rehearsal: bundle entry ${name} is a ${a.constructor.name}, which the rehearsal cannot stage`);
    }
  }
}

/** Zips the default agent bundle; returns its bytes. */
export async function agentBundleZip(): Promise<Buffer> {
  const dir = mkdtempSync(join(tmpdir(), "hapg-boot-bundle-"));
  try {
    await stage(defaultAgentBundle(), join(dir, "content"));
    await run("sh", ["-c", `cd "${join(dir, "content")}" && zip -qr -X ../bundle.zip .`]);
    return readFileSync(join(dir, "bundle.zip"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
