/**
 * Snapshot of the rendered user-data per variant (pulumi-eks userdata.ts style): any change to what
 * lands on a node shows up in review as a diff of test/component/__snapshots__/*.yaml.
 * Update after an intended change with: UPDATE_SNAPSHOTS=1 npx mocha --no-config --timeout 120000 dist/test/component/userdata-snapshot.test.js
 */
import * as assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { renderUserData } from "../../lib/userdata/render";
import { variants } from "./fixtures";

// Compiled to dist/test/component; the snapshots live beside the sources.
const SNAPSHOTS = resolve(__dirname, "../../../test/component/__snapshots__");

describe("user-data snapshots", () => {
  for (const v of variants()) {
    it(`${v.id} matches its snapshot`, () => {
      const file = join(SNAPSHOTS, `${v.id}.yaml`);
      const actual = renderUserData(v.spec);
      if (process.env.UPDATE_SNAPSHOTS === "1" || !existsSync(file)) {
        if (process.env.CI === "true" && !existsSync(file))
          assert.fail(`snapshot ${file} is missing: run with UPDATE_SNAPSHOTS=1 and commit it`);
        mkdirSync(SNAPSHOTS, { recursive: true });
        writeFileSync(file, actual);
        return;
      }
      assert.equal(actual, readFileSync(file, "utf8"), `user-data of ${v.id} changed: review, then UPDATE_SNAPSHOTS=1`);
    });
  }

  it("is deterministic", () => {
    for (const v of variants()) assert.equal(renderUserData(v.spec), renderUserData(v.spec));
  });
});
