/**
 * What a chaos run keeps of a fault that took too long or did not heal: every node's agent log for
 * the fault's window, the decision reasons the agents logged in it (merged, in time order), the
 * tail of every other log of the node (PostgreSQL's), and etcd's history of the cluster's keys from
 * the revision before the fault on (every put and delete, as etcd recorded it: the local etcd never
 * compacts). The directory outlives the cluster's, which teardown removes.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { ClusterFile } from "../../local/state";

/** The key prefix of the local cluster (namespace "service", scope "local"). */
const PREFIX = "/service/local/";
/** Agent log lines kept before the fault and after the heal. */
const MARGIN_MS = 5000;
/** Of every other log (PostgreSQL's), the last this many bytes. */
const TAIL_BYTES = 2 * 1024 * 1024;

/** etcd's current revision (the store's, from any live member), undefined when none answers. */
export async function etcdRevision(c: ClusterFile): Promise<number | undefined> {
  for (const e of c.etcd) {
    try {
      const res = await fetch(`${e.clientUrl}/v3/kv/range`, {
        method: "POST",
        body: JSON.stringify({ key: Buffer.from(PREFIX).toString("base64"), count_only: true }),
        signal: AbortSignal.timeout(1000),
      });
      const body = (await res.json()) as { header?: { revision?: string } };
      if (body.header?.revision) return Number(body.header.revision);
    } catch {
      /* next member */
    }
  }
  return undefined;
}

interface WatchEvent {
  type?: string | number;
  kv: { key: string; value?: string; mod_revision?: number; lease?: number };
}

/** Every change to the cluster's keys from revision `from` on, one line each (etcdctl watch --rev, stopped after 3 s). */
export function etcdHistory(c: ClusterFile, from: number): string {
  const r = spawnSync(
    "timeout",
    ["3", "etcdctl", `--endpoints=${c.etcd.map((e) => e.clientUrl).join(",")}`, "watch", "--prefix", `--rev=${from}`, "-w", "json", PREFIX],
    { encoding: "utf8", env: { ...process.env, ETCDCTL_API: "3" }, maxBuffer: 256 * 1024 * 1024 },
  );
  const lines: string[] = [];
  for (const l of r.stdout.split("\n")) {
    if (!l.trim()) continue;
    try {
      const w = JSON.parse(l) as { Events?: WatchEvent[] };
      for (const ev of w.Events ?? []) {
        const key = Buffer.from(ev.kv.key, "base64").toString();
        const value = ev.kv.value ? Buffer.from(ev.kv.value, "base64").toString() : "";
        // etcdctl's JSON has the event type as its enum number: 0 (absent) PUT, 1 DELETE.
        const del = ev.type === "DELETE" || String(ev.type) === "1";
        lines.push(`rev ${ev.kv.mod_revision ?? "?"} ${del ? "DELETE" : "PUT"} ${key}${del ? "" : ` ${value}`}`);
      }
    } catch {
      lines.push(l);
    }
  }
  if (r.status !== 0 && r.status !== 124) lines.push(`(etcdctl watch exited ${r.status}: ${r.stderr.trim()})`);
  return `${lines.join("\n")}\n`;
}

interface LogLine {
  at: number;
  member: string;
  text: string;
}

/** The agent's JSON lines whose time lies in [from, to]. */
function agentLines(file: string, member: string, from: number, to: number): { raw: string[]; decisions: LogLine[] } {
  const raw: string[] = [];
  const decisions: LogLine[] = [];
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    return { raw, decisions };
  }
  for (const l of text.split("\n")) {
    let j: { time?: string; msg?: string; actions?: unknown; role?: string; level?: number };
    try {
      j = JSON.parse(l) as typeof j;
    } catch {
      continue;
    }
    const at = j.time ? Date.parse(j.time) : NaN;
    if (!(at >= from && at <= to)) continue;
    raw.push(l);
    // A decision line has the reason as its message and the actions; warnings and errors say why too.
    if (j.actions !== undefined || (j.level ?? 0) >= 40) {
      const acts = Array.isArray(j.actions)
        ? ` [${(j.actions as unknown[]).map((a) => (typeof a === "string" ? a : ((a as { type?: string }).type ?? "?"))).join(", ")}]`
        : "";
      decisions.push({ at, member, text: `${j.role ? `${j.role}: ` : ""}${j.msg ?? ""}${acts}` });
    }
  }
  return { raw, decisions };
}

/** Copies the evidence of one fault into `dest`; returns dest. */
export function keepEvidence(o: {
  dir: string;
  c: ClusterFile;
  dest: string;
  from: number;
  to: number;
  etcdRevisionBefore?: number;
  summary: string;
}): string {
  fs.mkdirSync(o.dest, { recursive: true });
  const from = o.from - MARGIN_MS;
  const to = o.to + MARGIN_MS;
  const decisions: LogLine[] = [];
  for (const n of o.c.nodes) {
    const nodeDir = path.join(o.dir, n.name);
    const out = path.join(o.dest, n.name);
    fs.mkdirSync(out, { recursive: true });
    const a = agentLines(path.join(nodeDir, "agent.log"), n.name, from, to);
    fs.writeFileSync(path.join(out, "agent.log"), a.raw.join("\n") + "\n");
    decisions.push(...a.decisions);
    for (const f of fs.readdirSync(nodeDir).filter((x) => x.endsWith(".log") && x !== "agent.log")) {
      const buf = fs.readFileSync(path.join(nodeDir, f));
      fs.writeFileSync(path.join(out, f), buf.subarray(Math.max(0, buf.length - TAIL_BYTES)));
    }
  }
  decisions.sort((a, b) => a.at - b.at);
  fs.writeFileSync(
    path.join(o.dest, "decisions.log"),
    decisions.map((d) => `${new Date(d.at).toISOString().slice(11, 23)} ${d.member} ${d.text}`).join("\n") + "\n",
  );
  if (o.etcdRevisionBefore !== undefined) fs.writeFileSync(path.join(o.dest, "etcd-history.txt"), etcdHistory(o.c, o.etcdRevisionBefore));
  fs.writeFileSync(path.join(o.dest, "fault.txt"), `${o.summary}\n`);
  return o.dest;
}
