/**
 * Where the desired dynamic configuration comes from: an SSM parameter (String) the component
 * publishes on `pulumi up`, read with the AWS CLI as node-init reads its parameters; or a file on
 * the local cluster. Both yield the same JSON document, which ./converge.ts applies.
 */
import { readFile } from "node:fs/promises";
import type { DynamicConfig } from "../settings/dynamic";

export interface DesiredSource {
  /** For logs and the status: "ssm:/hapg/main/dynamic-config", "file:/tmp/x/desired-config.json". */
  readonly where: string;
  read(): Promise<DynamicConfig>;
}

/** The desired document out of its text: a JSON object (YAML too, for a file named .yaml/.yml). */
export async function parseDesired(text: string, where: string, yaml = false): Promise<DynamicConfig> {
  let value: unknown;
  try {
    value = yaml ? (await import("yaml")).parse(text) : JSON.parse(text);
  } catch (e) {
    throw new Error(`${where}: not valid ${yaml ? "YAML" : "JSON"} (${(e as Error).message.split("\n")[0]})`, { cause: e });
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== "object" || Array.isArray(value)) throw new Error(`${where}: must be an object such as {"loop_wait": 1}`);
  return value as DynamicConfig;
}

/** A published document's text, wherever it is (the topology reads through this too: ../topology/source.ts). */
export interface TextSource {
  readonly where: string;
  /** True for a YAML file (.yaml/.yml); SSM parameters hold JSON. */
  readonly yaml: boolean;
  readText(): Promise<string>;
}

export function fileText(file: string): TextSource {
  return { where: `file:${file}`, yaml: /\.ya?ml$/i.test(file), readText: () => readFile(file, "utf8") };
}

export function fileSource(file: string): DesiredSource {
  return desiredFrom(fileText(file));
}

function desiredFrom(t: TextSource): DesiredSource {
  return { where: t.where, read: async () => parseDesired(await t.readText(), t.where, t.yaml) };
}

/** The instance's region from IMDSv2 (the agent's unit has no AWS_REGION; the boot script's export is gone). */
async function instanceRegion(): Promise<string | undefined> {
  const imds = "http://169.254.169.254/latest";
  try {
    const token = await fetch(`${imds}/api/token`, {
      method: "PUT",
      headers: { "X-aws-ec2-metadata-token-ttl-seconds": "60" },
      signal: AbortSignal.timeout(2000),
    }).then((r) => r.text());
    const r = await fetch(`${imds}/meta-data/placement/region`, {
      headers: { "X-aws-ec2-metadata-token": token },
      signal: AbortSignal.timeout(2000),
    });
    return r.ok ? (await r.text()).trim() : undefined;
  } catch {
    return undefined;
  }
}

export function ssmText(parameter: string, region: string | undefined): TextSource {
  let resolved = region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  return {
    where: `ssm:${parameter}`,
    yaml: false,
    readText: async () => {
      resolved ??= await instanceRegion();
      // One attempt: the reader tries again at its next interval anyway.
      const { readParameterWithAwsCli } = await import("../boot/node-init");
      return readParameterWithAwsCli(parameter, resolved, 1);
    },
  };
}

export function ssmSource(parameter: string, region: string | undefined): DesiredSource {
  return desiredFrom(ssmText(parameter, region));
}

/** The text source a `{ file } | { ssmParameter, region }` config names (config/schema.ts publishedDocumentSchema). */
export function textSource(c: { file?: string; ssmParameter?: string; region?: string } | undefined): TextSource | undefined {
  if (c?.file) return fileText(c.file);
  if (c?.ssmParameter) return ssmText(c.ssmParameter, c.region);
  return undefined;
}

export function desiredSource(c: { file?: string; ssmParameter?: string; region?: string } | undefined): DesiredSource | undefined {
  const t = textSource(c);
  return t && desiredFrom(t);
}
