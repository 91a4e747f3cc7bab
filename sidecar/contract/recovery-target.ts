/**
 * The recovery target of a restore: the latest point of the archive, a time, a WAL position (LSN) or
 * a named restore point (pg_create_restore_point). One schema for the agent config, the component's
 * args and `hapg local up --restore-from`; the parsing is pure, so every refusal is unit-tested.
 */
import { z } from "zod";
import { formatLsn, parseLsn } from "./lsn";

/** What a restore replays to; absent fields mean "the latest point the archive holds". */
export type RecoveryTarget =
  | { type: "latest" }
  /** `at`: PostgreSQL's timestamptz text, in UTC, with the fraction as written (microseconds kept). `epochMs`: for comparisons. */
  | { type: "time"; at: string; epochMs: number }
  | { type: "lsn"; lsn: string; bytes: number }
  | { type: "name"; name: string };

const TIME_RE = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)$/;

/**
 * An ISO 8601 / PostgreSQL timestamp with an explicit zone ("2026-11-27T16:05:00Z",
 * "2026-11-27 16:05:00.123456+01:00") → the same instant in UTC as PostgreSQL text. A time without a
 * zone is refused: the node's zone is UTC, the user's may not be, and a restore one hour off restores
 * the wrong rows without any error. Throws naming the fix.
 */
export function parseTargetTime(text: string): { at: string; epochMs: number } {
  const m = TIME_RE.exec(text.trim());
  if (!m) {
    throw new Error(
      `"${text}" is not a timestamp with a time zone: write it as 2026-11-27T16:05:00Z or "2026-11-27 16:05:00.250+01:00"` +
        (/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?$/.test(text.trim()) ? " (add Z for UTC, or the offset)" : ""),
    );
  }
  const [, y, mo, d, h, mi, s, frac = "", zone] = m;
  const [Y, MO, D, H, MI, S] = [y, mo, d, h, mi, s].map(Number);
  const local = Date.UTC(Y, MO - 1, D, H, MI, S);
  const check = new Date(local);
  if (check.getUTCFullYear() !== Y || check.getUTCMonth() !== MO - 1 || check.getUTCDate() !== D || H > 23 || MI > 59 || S > 59) {
    throw new Error(`"${text}" is not a valid date and time`);
  }
  let offsetMin = 0;
  if (zone !== "Z" && zone !== "z") {
    const zm = /^([+-])(\d{2}):?(\d{2})?$/.exec(zone)!;
    offsetMin = (zm[1] === "-" ? -1 : 1) * (Number(zm[2]) * 60 + Number(zm[3] ?? 0));
    if (Math.abs(offsetMin) > 15 * 60) throw new Error(`"${text}": the offset ${zone} is not a time zone offset (at most ±15:00)`);
  }
  const wholeMs = local - offsetMin * 60_000;
  const fraction = frac.slice(1);
  const epochMs = wholeMs + (fraction ? Number(fraction.padEnd(6, "0")) / 1000 : 0);
  const u = new Date(wholeMs);
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  const at =
    `${p(u.getUTCFullYear(), 4)}-${p(u.getUTCMonth() + 1)}-${p(u.getUTCDate())} ` +
    `${p(u.getUTCHours())}:${p(u.getUTCMinutes())}:${p(u.getUTCSeconds())}${fraction ? `.${fraction}` : ""}+00`;
  return { at, epochMs };
}

/** A restore point name as pg_create_restore_point takes it (fewer than 64 bytes). */
function checkName(name: string): string {
  if (name.length === 0) throw new Error("the restore point name is empty: give the name passed to pg_create_restore_point");
  if (Buffer.byteLength(name) > 63) throw new Error(`restore point name "${name}" is longer than PostgreSQL's 63 bytes`);
  // eslint-disable-next-line no-control-regex -- refusing control characters is the point
  if (/[\x00-\x1f]/.test(name)) throw new Error("the restore point name must not contain control characters");
  return name;
}

/** The target as written in the agent config: at most one of time, lsn and name; none is the latest point. */
export const recoveryTargetSchema = z
  .object({
    /** A time with a zone, e.g. "2026-11-27T16:05:00Z": every transaction committed up to it (inclusive) is restored. */
    time: z.string().optional(),
    /** A WAL position, e.g. "0/3000028": replay up to and including it. */
    lsn: z.string().optional(),
    /** A restore point made with pg_create_restore_point('name'). */
    name: z.string().optional(),
  })
  .strict()
  .superRefine((t, ctx) => {
    const given = (["time", "lsn", "name"] as const).filter((k) => t[k] !== undefined);
    if (given.length > 1) {
      ctx.addIssue({ code: "custom", path: [given[1]], message: `give one of time, lsn or name, not ${given.join(" and ")}` });
      return;
    }
    try {
      targetFromFields(t);
    } catch (e) {
      ctx.addIssue({ code: "custom", path: [given[0]], message: (e as Error).message });
    }
  });

export type RecoveryTargetInput = z.input<typeof recoveryTargetSchema>;

/** {time} | {lsn} | {name} | {} → RecoveryTarget. Throws naming what is wrong with the one given. */
export function targetFromFields(t: { time?: string; lsn?: string; name?: string }): RecoveryTarget {
  if (t.time !== undefined) return { type: "time", ...parseTargetTime(t.time) };
  if (t.lsn !== undefined) {
    let bytes: number;
    try {
      bytes = parseLsn(t.lsn);
    } catch {
      throw new Error(`"${t.lsn}" is not a WAL position: write it as PostgreSQL prints one, e.g. 0/3000028`);
    }
    return { type: "lsn", lsn: formatLsn(bytes), bytes };
  }
  if (t.name !== undefined) return { type: "name", name: checkName(t.name) };
  return { type: "latest" };
}

/** One line for logs and errors: "the latest point", "time 2026-11-27 16:05:00+00"... */
export function describeTarget(t: RecoveryTarget): string {
  switch (t.type) {
    case "latest":
      return "the latest point in the archive";
    case "time":
      return `time ${t.at}`;
    case "lsn":
      return `WAL position ${t.lsn}`;
    case "name":
      return `restore point "${t.name}"`;
  }
}
