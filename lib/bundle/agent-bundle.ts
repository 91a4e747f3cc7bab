/**
 * The agent bundle: the compiled modules the agent loads (from dist/sidecar), package.json and the
 * production node_modules, zipped by Pulumi into one S3 object in a private bucket. The nodes fetch it at first boot with
 * their instance role, which may read only this object.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { ResolvedClusterArgs } from "../args/types";
import { reachableModules } from "./module-graph";
import { childName, resourceTags } from "../naming/names";
import { PACKAGE_NAME } from "../../sidecar/contract/version";

export const BUNDLE_KEY = "agent/hapg-agent.zip";

/** Paths (`node_modules/...`) of the production packages in a package-lock.json (v2/v3). Pure. */
export function productionPackagePaths(lock: {
  packages?: Record<string, { dev?: boolean; devOptional?: boolean; optional?: boolean }>;
}): string[] {
  return Object.entries(lock.packages ?? {})
    .filter(([path, meta]) => path.startsWith("node_modules/") && !meta.dev && !meta.devOptional)
    .map(([path]) => path)
    .sort();
}

/**
 * Paths (`node_modules/...`, relative to `base`) of the packages an installed package's production
 * dependencies resolve to, found as Node finds them (the nearest node_modules upwards from each
 * dependent), their own dependencies included. For a package installed from npm, where there is no
 * package-lock.json: `base` is the project that installed it.
 */
export function installedDependencyPaths(root: string, base: string): string[] {
  const found = new Map<string, string>();
  const find = (name: string, from: string): string | undefined => {
    for (let dir = from; ; dir = dirname(dir)) {
      const candidate = join(dir, "node_modules", name);
      if (existsSync(join(candidate, "package.json"))) return candidate;
      if (dirname(dir) === dir) return undefined;
    }
  };
  const visit = (pkgDir: string) => {
    const pj = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8")) as {
      dependencies?: Record<string, string>;
      optionalDependencies?: Record<string, string>;
    };
    for (const name of Object.keys({ ...pj.dependencies, ...pj.optionalDependencies })) {
      const dir = find(name, pkgDir);
      if (!dir) {
        if (pj.optionalDependencies?.[name] !== undefined) continue; // an optional package npm skipped here
        throw new Error(`agentBundle: ${name}, a dependency of ${pkgDir}, is not installed: run npm install, or pass agentBundle`);
      }
      if (found.has(dir)) continue;
      const rel = relative(base, dir);
      if (!rel.startsWith("node_modules")) throw new Error(`agentBundle: ${dir} lies outside ${base}: pass agentBundle`);
      found.set(dir, rel);
      visit(dir);
    }
  };
  visit(root);
  return [...found.values()].sort();
}

/** The root of this package (where package.json names it), found from this file's location. */
export function packageRoot(from: string = __dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const pj = join(dir, "package.json");
    if (existsSync(pj) && (JSON.parse(readFileSync(pj, "utf8")) as { name?: string }).name === PACKAGE_NAME) return dir;
    if (dirname(dir) === dir) throw new Error(`agentBundle: cannot find the ${PACKAGE_NAME} package root above ${from}: pass agentBundle`);
  }
}

/** The compiled CLI every node runs (`hapg node-init`, `hapg agent`): the root of what the bundle holds. */
export const NODE_ENTRY = "dist/sidecar/cli/main.js";

export interface AgentBundleContents {
  /** Files relative to the package root: package.json (the agent reads its version there) and compiled modules. */
  files: string[];
  /** Production packages (`node_modules/...`, relative to packagesBase) present on this machine. */
  packages: string[];
  /** Where `packages` are: the package root in a clone of the repository, the installing project for an installed package. */
  packagesBase: string;
}

/**
 * What the bundle holds: the compiled modules a node can load, starting at NODE_ENTRY (no tests, no
 * source maps, no type declarations, nothing left over in dist/ from an older build), and the
 * production packages of package-lock.json. Throws (naming the fix) if the package is not built.
 */
export function agentBundleContents(root: string = packageRoot()): AgentBundleContents {
  const cli = join(root, NODE_ENTRY);
  if (!existsSync(cli)) throw new Error(`agentBundle: ${cli} is missing: run \`npm run build\` in ${root} first, or pass agentBundle`);
  const modules = reachableModules([cli]);
  const files = ["package.json", ...modules.map((m) => relative(root, m))];
  const lockFile = join(root, "package-lock.json");
  if (!existsSync(lockFile)) {
    // Installed from npm (no lock file ships): the dependencies sit in the installing project's node_modules.
    const marker = `${sep}node_modules${sep}`;
    const base = root.includes(marker) ? root.slice(0, root.lastIndexOf(marker)) : root;
    return { files, packages: installedDependencyPaths(root, base), packagesBase: base };
  }
  const lock = JSON.parse(readFileSync(lockFile, "utf8"));
  return {
    files,
    // Optional platform packages that npm skipped on this machine are simply absent.
    packages: productionPackagePaths(lock).filter((p) => existsSync(join(root, p))),
    packagesBase: root,
  };
}

/** The default bundle, built from the package on disk. Throws (naming the fix) if it is not built. */
export function defaultAgentBundle(root: string = packageRoot()): pulumi.asset.AssetArchive {
  const { files, packages, packagesBase } = agentBundleContents(root);
  const assets: Record<string, pulumi.asset.Asset | pulumi.asset.Archive> = {};
  for (const f of files) assets[f] = new pulumi.asset.FileAsset(join(root, f));
  for (const p of packages) assets[p] = new pulumi.asset.FileArchive(join(packagesBase, p));
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
