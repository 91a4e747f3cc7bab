/**
 * The reduced boot rehearsal: the default topology (3 PostgreSQL nodes, 3 dedicated etcd members)
 * boots from the component's user-data and passes the user's checks, and the first node of a cluster
 * restored from its backups boots and passes the agent's restore checks. It takes about 4 minutes, so
 * `npm test` leaves it out (.mocharc.json): `npm run test:boot` runs the whole rehearsal, of which this
 * is a part (every topology, the faults, the whole restored cluster); `npx mocha dist/test/boot/boot.test.js`
 * runs this part alone (docs/testing.md, "Boot rehearsal").
 * It runs in a child process: the rehearsal sets Pulumi mocks of its own and moves itself into
 * cgroups, neither of which may touch mocha's process. Skipped, with the reason, without root.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { unavailable } from "./preflight";

describe("boot rehearsal (Debian 13 containers booted from the component's user-data)", function () {
  // A cold run builds the Debian rootfs first (about 2 to 3 minutes); a warm one boots in about one.
  this.timeout(15 * 60_000);

  it("boots the default topology: cloud-init clean, etcd mTLS, one primary + streaming replicas, a verify-full write through the NLB stand-in, no secret leaked, the API on HTTPS, hapg list, backups: pgBackRest, the passphrase, the repository reached with the role's credentials; a node of a cluster restored from its backups gets the restore config and the source's passphrase, and its agent's restore checks pass", async function () {
    const why = unavailable();
    if (why) {
      process.stdout.write(`      skipped: ${why}\n`);
      this.skip();
    }
    const out: string[] = [];
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, [join(__dirname, "run.js"), "--topology", "dedicated", "--no-faults", "--restore-probe"], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      child.stdout.on("data", (b: Buffer) => out.push(b.toString()));
      child.stderr.on("data", (b: Buffer) => out.push(b.toString()));
      child.on("exit", (c) => resolve(c));
    });
    const text = out.join("");
    process.stdout.write(
      text
        .split("\n")
        .filter((l) => /^\s+[✓✗]|took|passed/.test(l))
        .map((l) => `      ${l.trim()}\n`)
        .join(""),
    );
    assert.equal(code, 0, text);
  });
});
