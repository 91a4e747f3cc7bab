/**
 * The agent bundle: the built agent (dist/sidecar), package.json and the production node_modules,
 * zipped by Pulumi into one S3 object in a private bucket. The nodes fetch it at first boot with
 * their instance role, which may read only this object.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { ResolvedClusterArgs } from "../args/types";
import { childName, resourceTags } from "../naming/names";

export const BUNDLE_KEY = "agent/hapg-agent.zip";
const PACKAGE_NAME = "ha-postgres-cluster";

/** Paths (`node_modules/...`) of the production packages in a package-lock.json (v2/v3). Pure. */
export function productionPackagePaths(lock: { packages?: Record<string, { dev?: boolean; devOptional?: boolean; optional?: boolean }> }): string[] {
  return Object.entries(lock.packages ?? {})
    .filter(([path, meta]) => path.startsWith("node_modules/") && !meta.dev && !meta.devOptional)
    .map(([path]) => path)
    .sort();
}

/** The root of this package (where package.json names it), found from this file's location. */
export function packageRoot(from: string = __dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const pj = join(dir, "package.json");
    if (existsSync(pj) && (JSON.parse(readFileSync(pj, "utf8")) as { name?: string }).name === PACKAGE_NAME) return dir;
    if (dirname(dir) === dir) throw new Error(`agentBundle: cannot find the ${PACKAGE_NAME} package root above ${from}: pass agentBundle`);
  }
}

/** The default bundle, built from the package on disk. Throws (naming the fix) if it is not built. */
export function defaultAgentBundle(root: string = packageRoot()): pulumi.asset.AssetArchive {
  const cli = join(root, "dist", "sidecar", "cli", "main.js");
  if (!existsSync(cli)) throw new Error(`agentBundle: ${cli} is missing: run \`npm run build\` in ${root} first, or pass agentBundle`);
  const lock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8"));
  const assets: Record<string, pulumi.asset.Asset | pulumi.asset.Archive> = {
    "package.json": new pulumi.asset.FileAsset(join(root, "package.json")),
    "dist/sidecar": new pulumi.asset.FileArchive(join(root, "dist", "sidecar")),
  };
  for (const path of productionPackagePaths(lock)) {
    // Optional platform packages that npm skipped on this machine are simply absent.
    if (existsSync(join(root, path))) assets[path] = new pulumi.asset.FileArchive(join(root, path));
  }
  return new pulumi.asset.AssetArchive(assets);
}

export interface AgentBundle {
  bucket: aws.s3.Bucket;
  object: aws.s3.BucketObjectv2;
  /** ARN of the object: the only S3 resource the instance role may read. */
  objectArn: pulumi.Output<string>;
}

export function createAgentBundle(name: string, args: ResolvedClusterArgs, parent: pulumi.Resource): AgentBundle {
  const tags = resourceTags(args.tags, args.clusterName);
  const bucket = new aws.s3.Bucket(childName(name, "bundle"), { forceDestroy: true, tags }, { parent });
  new aws.s3.BucketPublicAccessBlock(
    childName(name, "bundle-private"),
    { bucket: bucket.id, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true },
    { parent },
  );
  const object = new aws.s3.BucketObjectv2(
    childName(name, "bundle-object"),
    {
      bucket: bucket.id,
      key: BUNDLE_KEY,
      source: args.agentBundle ?? defaultAgentBundle(),
      contentType: "application/zip",
      serverSideEncryption: "AES256",
      tags,
    },
    { parent },
  );
  return { bucket, object, objectArn: pulumi.interpolate`${bucket.arn}/${BUNDLE_KEY}` };
}
