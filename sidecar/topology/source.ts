/**
 * Reading the published topology (./schema.ts) at run time and at boot: the same file / SSM reading as
 * the desired config (../dynamic/source.ts), then the topology schema. A document that does not parse
 * or validate is refused naming the field: the reader keeps the last good one.
 */
import { textSource, type TextSource } from "../dynamic/source";
import { topologySchema, type Topology } from "./schema";

export interface TopologySource {
  readonly where: string;
  read(): Promise<Topology>;
}

/** Validates a topology document's text. Throws naming the source and each bad field. Pure. */
export function parseTopology(text: string, where: string): Topology {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`${where}: not valid JSON (${(e as Error).message.split("\n")[0]})`, { cause: e });
  }
  const r = topologySchema.safeParse(value);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => `${i.path.join(".") || "(top level)"}: ${i.message}`);
  throw new Error(`${where}: not a topology: ${issues.join("; ")}`);
}

export function topologyFrom(t: TextSource): TopologySource {
  return { where: t.where, read: async () => parseTopology(await t.readText(), t.where) };
}

/** The agent config's (or node-init plan's) `topology` source; undefined when none is set. */
export function topologySource(c: { file?: string; ssmParameter?: string; region?: string } | undefined): TopologySource | undefined {
  const t = textSource(c);
  return t && topologyFrom(t);
}
