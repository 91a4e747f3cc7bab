/** The recovery target of a restore: what a user writes, what PostgreSQL gets, and what is refused. */
import assert from "node:assert/strict";
import { describeTarget, parseTargetTime, recoveryTargetSchema, targetFromFields } from "../../sidecar/contract/recovery-target";

describe("restore target", () => {
  it("turns a time with a zone into the same instant in UTC, keeping the microseconds as written", () => {
    assert.deepEqual(parseTargetTime("2026-11-27T16:05:00Z"), { at: "2026-11-27 16:05:00+00", epochMs: Date.UTC(2026, 10, 27, 16, 5) });
    const t = parseTargetTime("2026-11-27 17:05:00.123456+01:00");
    assert.equal(t.at, "2026-11-27 16:05:00.123456+00");
    assert.equal(t.epochMs, Date.UTC(2026, 10, 27, 16, 5) + 123.456);
    assert.equal(parseTargetTime("2026-11-27 16:25:50.62673+00").at, "2026-11-27 16:25:50.62673+00");
    assert.equal(parseTargetTime("2026-01-01T00:30:00-0130").at, "2026-01-01 02:00:00+00");
  });

  it("refuses a time without a zone, naming the fix", () => {
    assert.throws(() => parseTargetTime("2026-11-27 16:05:00"), /add Z for UTC, or the offset/);
    assert.throws(() => parseTargetTime("yesterday"), /not a timestamp with a time zone/);
    assert.throws(() => parseTargetTime("2026-02-30T10:00:00Z"), /not a valid date/);
    assert.throws(() => parseTargetTime("2026-02-10T10:00:00+18:00"), /not a time zone offset/);
  });

  it("takes one of time, lsn or name; none is the latest point", () => {
    assert.deepEqual(targetFromFields({}), { type: "latest" });
    assert.deepEqual(targetFromFields({ lsn: "0/3000028" }), { type: "lsn", lsn: "0/3000028", bytes: 0x3000028 });
    assert.deepEqual(targetFromFields({ name: "before-migration" }), { type: "name", name: "before-migration" });
    assert.match(describeTarget(targetFromFields({ time: "2026-11-27T16:05:00Z" })), /time 2026-11-27 16:05:00\+00/);
  });

  it("names the field and the fix for a bad target in the config", () => {
    const issues = (v: unknown) => {
      const r = recoveryTargetSchema.safeParse(v);
      return r.success ? [] : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    };
    assert.deepEqual(issues({ time: "2026-11-27T16:05:00Z", lsn: "0/1" }), ["lsn: give one of time, lsn or name, not time and lsn"]);
    assert.match(issues({ lsn: "3000028" })[0], /^lsn: "3000028" is not a WAL position: write it as PostgreSQL prints one/);
    assert.match(issues({ name: "x".repeat(64) })[0], /^name: .*longer than PostgreSQL's 63 bytes/);
    assert.match(issues({ time: "16:05" })[0], /^time: "16:05" is not a timestamp with a time zone/);
    assert.match(issues({ xid: "5" })[0], /xid/);
  });
});
