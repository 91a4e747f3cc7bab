/**
 * Five-field cron expressions ("minute hour day-of-month month day-of-week", UTC), as the backup
 * schedule is written. Pure: parsing, and the schedule slots before and after a time. Supported per
 * field: `*`, numbers, ranges `a-b`, lists `a,b` and steps `*\/n`, `a-b/n`; day-of-week 0 or 7 is
 * Sunday. As in cron, when both day fields are restricted a day matches either.
 */

export interface Cron {
  minutes: ReadonlySet<number>;
  hours: ReadonlySet<number>;
  days: ReadonlySet<number>;
  months: ReadonlySet<number>;
  weekdays: ReadonlySet<number>;
  /** Day-of-month and day-of-week both restricted: a day matches either (cron's rule). */
  dayOr: boolean;
}

const FIELDS = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day of month", min: 1, max: 31 },
  { name: "month", min: 1, max: 12 },
  { name: "day of week", min: 0, max: 7 },
] as const;

function parseField(text: string, f: (typeof FIELDS)[number]): Set<number> {
  const out = new Set<number>();
  for (const part of text.split(",")) {
    const m = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(part);
    if (!m) throw new Error(`${f.name} "${part}": use *, a number, a range a-b, a list a,b or a step */n`);
    const lo = m[1] === "*" ? f.min : Number(m[2]);
    const hi = m[1] === "*" ? f.max : m[3] !== undefined ? Number(m[3]) : m[4] !== undefined ? f.max : lo;
    const step = m[4] === undefined ? 1 : Number(m[4]);
    if (lo < f.min || hi > f.max || lo > hi) throw new Error(`${f.name} "${part}": must be within ${f.min}-${f.max}`);
    if (step < 1) throw new Error(`${f.name} "${part}": the step must be at least 1`);
    for (let v = lo; v <= hi; v += step) out.add(f.name === "day of week" && v === 7 ? 0 : v);
  }
  return out;
}

/** Throws an error saying which field is wrong and how to write it. */
export function parseCron(expr: string): Cron {
  const parts = expr.trim().split(/\s+/);
  if (parts.length !== 5) {
    throw new Error(
      `"${expr}" has ${parts.length} field(s): write 5, "minute hour day-of-month month day-of-week" (UTC), e.g. "0 1 * * 0"`,
    );
  }
  const [minutes, hours, days, months, weekdays] = parts.map((p, i) => parseField(p, FIELDS[i]));
  return { minutes, hours, days, months, weekdays, dayOr: parts[2] !== "*" && parts[4] !== "*" };
}

function dayMatches(c: Cron, d: Date): boolean {
  const dom = c.days.has(d.getUTCDate());
  const dow = c.weekdays.has(d.getUTCDay());
  return c.months.has(d.getUTCMonth() + 1) && (c.dayOr ? dom || dow : dom && dow);
}

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
/** Far enough for any valid expression (Feb 29 on a given weekday recurs within 28 years). */
const HORIZON_DAYS = 366 * 29;

/** The latest slot at or before `t` (ms since the epoch), or undefined when none within the horizon. */
export function previousSlot(c: Cron, t: number): number | undefined {
  const startDay = Math.floor(t / DAY) * DAY;
  for (let i = 0; i <= HORIZON_DAYS; i++) {
    const day = startDay - i * DAY;
    if (!dayMatches(c, new Date(day))) continue;
    for (let h = 23; h >= 0; h--) {
      if (!c.hours.has(h)) continue;
      for (let m = 59; m >= 0; m--) {
        const at = day + h * 60 * MINUTE + m * MINUTE;
        if (c.minutes.has(m) && at <= t) return at;
      }
    }
  }
  return undefined;
}

/** The first slot strictly after `t`, or undefined when none within the horizon. */
export function nextSlot(c: Cron, t: number): number | undefined {
  const startDay = Math.floor(t / DAY) * DAY;
  for (let i = 0; i <= HORIZON_DAYS; i++) {
    const day = startDay + i * DAY;
    if (!dayMatches(c, new Date(day))) continue;
    for (let h = 0; h < 24; h++) {
      if (!c.hours.has(h)) continue;
      for (let m = 0; m < 60; m++) {
        const at = day + h * 60 * MINUTE + m * MINUTE;
        if (c.minutes.has(m) && at > t) return at;
      }
    }
  }
  return undefined;
}

/** A slot's name: its UTC minute, e.g. "2026-11-29T01:00Z". */
export function slotName(at: number): string {
  return new Date(at).toISOString().slice(0, 16) + "Z";
}
