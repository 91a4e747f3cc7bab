/**
 * Bad input to the operator commands: each is refused with a message naming the flag and the fix,
 * before anything is contacted (or, for an API that does not answer, naming what was tried).
 * Runs the CLI as a user does; no cluster is needed. Port 25600 (this file's block) has no listener.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { hapg } from "./ops-cli";

const NOTHING_LISTENS = "http://127.0.0.1:25600";

describe("hapg list/history/topology/show-config: bad input", function () {
  this.timeout(30_000);
  let empty = "";
  before(() => (empty = fs.mkdtempSync(path.join(os.tmpdir(), "hapg-ops-input-"))));
  after(() => fs.rmSync(empty, { recursive: true, force: true }));

  it("an unknown flag is named, with where to find the options", async () => {
    const r = await hapg("list", "--apu", NOTHING_LISTENS);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /unknown option '--apu'/);
    assert.match(r.stderr, /hapg list --help/);
  });

  it("no source: says which flags tell where the cluster is", async () => {
    const r = await hapg("topology");
    assert.equal(r.code, 2);
    assert.match(r.stderr, /say where the cluster is: --api URL .*--dir DIR .*--etcd URL --cluster NAME/);
  });

  it("an API that does not answer: names the flag, the URL tried and what to check", async () => {
    for (const cmd of ["list", "history", "topology", "show-config"]) {
      const r = await hapg(cmd, "--api", NOTHING_LISTENS, "--timeout", "2");
      assert.equal(r.code, 1, cmd);
      assert.match(
        r.stderr,
        new RegExp(`--api ${NOTHING_LISTENS}: no agent's REST API answered \\(${NOTHING_LISTENS}/\\w+: ECONNREFUSED\\)`),
        cmd,
      );
      assert.match(r.stderr, /check the URL .* and that the agent runs there/, cmd);
    }
  });

  it("--api that is not a URL is refused before anything is contacted", async () => {
    const r = await hapg("list", "--api", "node1:8008x");
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--api "node1:8008x": .*like http:\/\/10\.0\.1\.10:8008/);
  });

  it("a directory without cluster.json: names --dir and says which directory to give", async () => {
    const r = await hapg("list", "--dir", empty);
    assert.equal(r.code, 2);
    assert.match(r.stderr, new RegExp(`--dir ${empty}: no cluster.json there: give the directory a local cluster runs in`));
  });

  it("--etcd without --cluster, --cert without --key, two sources at once", async () => {
    let r = await hapg("list", "--etcd", NOTHING_LISTENS);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--cluster: required with --etcd/);
    r = await hapg("list", "--etcd", NOTHING_LISTENS, "--cluster", "demo", "--cert", "/etc/hostname");
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--key: give --cert and --key together/);
    r = await hapg("list", "--api", NOTHING_LISTENS, "--dir", empty);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--api and --dir: give only one of them/);
  });

  it("--watch with a bad --interval is refused", async () => {
    const r = await hapg("list", "--api", NOTHING_LISTENS, "--watch", "--interval", "soon");
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--interval "soon": give the seconds between two lists/);
  });
});
