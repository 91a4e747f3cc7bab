/**
 * `hapg promote-cluster [--force]`: a standby cluster stands alone (POST /promote-cluster on any
 * member). Prints how far behind the source the standby leader was and how long the promotion took.
 * Refused while the source still takes writes, unless --force (sidecar/api/promote-cluster.ts).
 */
import type { Command } from "commander";
import { callTarget } from "../api/client";
import { apiSource, report, target, type CommonOpts } from "./switchover";

interface Behind {
  bytes: number | null;
  seconds: number | null;
  source_lsn: number | null;
}

/** "1500 bytes and 2.5 s behind the source" from the answer's behind_source. Pure. */
export function behindText(b: Behind | null | undefined): string {
  if (!b) return "lag behind the source unknown (no standby leader reported it)";
  const bytes = b.bytes === null ? "an unknown number of bytes (archive only)" : `${b.bytes} bytes`;
  const seconds = b.seconds === null ? "" : ` and ${b.seconds} s`;
  return `${bytes}${seconds} behind the source's last known position`;
}

export function registerPromoteClusterCommand(program: Command): void {
  apiSource(
    program
      .command("promote-cluster")
      .description("turn a standby cluster into a standalone one: its standby leader promotes (refused while the source takes writes)")
      .option("--force", "promote even though the source's primary endpoint still takes writes (two writable clusters)"),
    "print the API's answer as JSON",
  ).action(async (o: CommonOpts) => {
    const t = await target(o);
    const t0 = Date.now();
    const r = await callTarget(t, "POST", "/promote-cluster", { force: o.force === true }, 60_000);
    if (o.json || r.status >= 300) return report("promote-cluster", r, o);
    const b = r.body as { message?: string; standby_leader?: string | null; source?: string; behind_source?: Behind | null };
    console.log(`promote-cluster: ${r.body.message ?? "done"}`);
    console.log(`  ${b.standby_leader ?? "the standby leader"} was ${behindText(b.behind_source)}`);
    console.log(`  source endpoint: ${b.source ?? "?"}; command took ${Date.now() - t0} ms`);
  });
}
