/**
 * The suite's time is a budget: what `npm test` leaves out (.mocharc.json's ignore) still runs in
 * `npm run test:slow` (.mocharc.slow.json) or, for the boot rehearsal, `npm run test:boot`.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";

const ROOT = resolve(__dirname, "../../..");
const json = (f: string) => JSON.parse(readFileSync(resolve(ROOT, f), "utf8")) as { spec: string[]; ignore?: string[] };

describe("test suites", () => {
  it("every test file npm test leaves out runs in test:slow, or is the boot rehearsal of test:boot", () => {
    const slow = new Set(json(".mocharc.slow.json").spec);
    const dropped = json(".mocharc.json").ignore ?? [];
    assert.ok(dropped.length > 0);
    assert.deepEqual(
      dropped.filter((f) => !slow.has(f) && f !== "dist/test/boot/boot.test.js"),
      [],
    );
    const scripts = (JSON.parse(readFileSync(resolve(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts;
    assert.match(scripts["test:slow"], /--config \.mocharc\.slow\.json/);
    assert.match(scripts["test:boot"], /dist\/test\/boot\/run\.js/);
  });
});
