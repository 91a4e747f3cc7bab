/** A temporary directory for one local cluster, and a teardown that stops it (also on Ctrl-C). */
import * as fs from "node:fs";
import * as path from "node:path";
import { localDown } from "../../local/cluster";
import { tempClusterDir } from "../../local/demo";

export function tempClusterWithTeardown(prefix: string, progress: (line: string) => void): { dir: string; teardown: () => Promise<void> } {
  const dir = tempClusterDir(prefix);
  const teardown = async () => {
    if (fs.existsSync(path.join(dir, "cluster.json"))) await localDown(dir, (l) => progress(`down: ${l}`));
    fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  };
  process.once("SIGINT", () => void teardown().finally(() => process.exit(130)));
  return { dir, teardown };
}
