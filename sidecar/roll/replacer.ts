/**
 * Replacing a host = asking whatever launches its instances for a new one; the roll's driver only
 * calls `replace`. On AWS: terminate the host's instance in its Auto Scaling group without
 * decrementing the desired capacity, so the group launches one from its launch template's latest
 * version (found by the cluster's and the host's tags). Locally: a request file the local cluster's
 * stand-in for an Auto Scaling group acts on (sidecar/local/asg.ts).
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

export interface HostReplacer {
  readonly kind: string;
  replace(host: string): Promise<void>;
}

export interface AwsReplacerOptions {
  region?: string;
  /** Tag key → value every instance of this cluster carries (e.g. {"ha-postgres:cluster": "main"}). */
  clusterTags: Record<string, string>;
  /** The tag key naming the host (e.g. "ha-postgres:host"). */
  hostTagKey: string;
}

const aws = (args: string[], region: string | undefined) =>
  new Promise<string>((resolve, reject) =>
    execFile("aws", [...args, "--output", "json", ...(region ? ["--region", region] : [])], { timeout: 60_000 }, (err, out, errOut) =>
      err ? reject(new Error(`aws ${args.slice(0, 2).join(" ")}: ${errOut.trim() || err.message}`)) : resolve(out),
    ),
  );

/** The describe-instances filters for a host's running instance. Pure. */
export function instanceFilters(o: AwsReplacerOptions, host: string): string[] {
  const tags = { ...o.clusterTags, [o.hostTagKey]: host };
  return [...Object.entries(tags).map(([k, v]) => `Name=tag:${k},Values=${v}`), "Name=instance-state-name,Values=pending,running"];
}

export function awsReplacer(o: AwsReplacerOptions): HostReplacer {
  return {
    kind: "aws",
    async replace(host) {
      const out = await aws(
        ["ec2", "describe-instances", "--filters", ...instanceFilters(o, host), "--query", "Reservations[].Instances[].InstanceId"],
        o.region,
      );
      const ids = JSON.parse(out) as string[];
      if (ids.length !== 1) throw new Error(`host ${host}: expected one running instance with its tags, found ${ids.length}`);
      await aws(
        ["autoscaling", "terminate-instance-in-auto-scaling-group", "--instance-id", ids[0], "--no-should-decrement-desired-capacity"],
        o.region,
      );
    },
  };
}

/** Writes `<dir>/<host>` (the local stand-in for an Auto Scaling group replaces that host, then deletes it). */
export function requestDirReplacer(dir: string): HostReplacer {
  return {
    kind: `requests in ${dir}`,
    async replace(host) {
      const tmp = path.join(dir, `.${host}.tmp`);
      await fs.promises.writeFile(tmp, `${new Date().toISOString()}\n`);
      await fs.promises.rename(tmp, path.join(dir, host));
    },
  };
}
