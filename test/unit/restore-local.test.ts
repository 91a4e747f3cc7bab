/** `hapg local up --restore-from` flags, and the agent config section a restored AWS node gets: refusals name the flag or field. */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { validateClusterArgs } from "../../lib/args/validate";
import { restoreSourceOf } from "../../lib/restore/source";
import { NODE_PATHS } from "../../lib/userdata/paths";
import { restoreBootstrapSection } from "../../lib/userdata/restore";
import { validateAgentConfig } from "../../sidecar/contract/agent-config";
import { localFromBackup, targetFromFlags } from "../../local/restore";
import { fromBackupSchema } from "../../sidecar/contract/restore-config";
import { RestoreSource, sourcePaths } from "../../sidecar/restore/source";

describe("hapg local up --restore-from", () => {
  it("takes one target flag, and only with --restore-from", () => {
    assert.deepEqual(targetFromFlags({ restoreFrom: "/x", targetLsn: "0/3000028" }), { lsn: "0/3000028" });
    assert.deepEqual(targetFromFlags({}), {});
    assert.throws(() => targetFromFlags({ targetTime: "2026-11-27T16:05:00Z" }), /^Error: --target-time: needs --restore-from/);
    assert.throws(
      () => targetFromFlags({ restoreFrom: "/x", targetTime: "2026-11-27T16:05:00Z", targetName: "a" }),
      /--target-name: give one of/,
    );
    assert.throws(
      () => targetFromFlags({ restoreFrom: "/x", targetTime: "16:05" }),
      /--target-time: "16:05" is not a timestamp with a time zone/,
    );
  });

  it("refuses a directory that holds no local cluster, and reads a JSON source file", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hapg-restore-flags-"));
    try {
      assert.throws(() => localFromBackup({ restoreFrom: dir }), /--restore-from: .* holds no local cluster \(no cluster\.json\)/);
      assert.throws(() => localFromBackup({ restoreFrom: path.join(dir, "nope") }), /--restore-from: .* does not exist/);
      const file = path.join(dir, "source.json");
      fs.writeFileSync(file, JSON.stringify({ repo: { bucket: "acme-pg" }, stanza: "orders" }));
      assert.deepEqual(localFromBackup({ restoreFrom: file, targetName: "x" }), {
        repo: { bucket: "acme-pg" },
        stanza: "orders",
        target: { name: "x" },
      });
      fs.writeFileSync(file, JSON.stringify({ repo: { bucket: "acme-pg" } }));
      assert.throws(() => localFromBackup({ restoreFrom: file }), /--restore-from: .*source\.json: stanza: /);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("component: the bootstrap section of a restored node's agent config", () => {
  it("reads the source's prefix with the instance role, and passes the agent's schema", () => {
    const r = validateClusterArgs("orders-restored", {
      bootstrap: { fromBackup: { clusterName: "orders", bucketName: "acme-pg-backups" }, targetLsn: "0/3000028" },
    });
    const { host } = restoreSourceOf(r.bootstrap!, { bucketName: "acme-pg-backups", ownRegion: "eu-west-1", accountId: "123456789012" });
    const section = restoreBootstrapSection(host);
    assert.deepEqual(section, {
      fromBackup: {
        repo: {
          type: "s3",
          bucket: "acme-pg-backups",
          region: "eu-west-1",
          endpoint: "s3.eu-west-1.amazonaws.com",
          path: "/orders",
          uriStyle: "host",
          credentials: { source: "instanceRole" },
        },
        stanza: "orders",
        cipherPassphraseFile: NODE_PATHS.restoreSourceCipherPassFile,
        target: { lsn: "0/3000028" },
      },
    });
    const config = validateAgentConfig({
      cluster: "orders-restored",
      name: "pg-0",
      etcd: { endpoints: ["https://10.0.1.10:2379"] },
      postgres: {
        dataDir: "/var/lib/postgresql/data",
        listen: { host: "0.0.0.0" },
        superuser: { passwordFile: "/s" },
        replication: { passwordFile: "/r" },
      },
      api: { listen: { host: "0.0.0.0" } },
      bootstrap: section,
    });
    assert.equal(config.bootstrap.fromBackup?.stanza, "orders");
  });
});

describe("restore source: credentials are read before anything else", () => {
  const log = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined } as never;
  const source = (dir: string, over: object) =>
    new RestoreSource({
      fromBackup: fromBackupSchema.parse({
        repo: { bucket: "acme-pg", credentials: { source: "keyFile", file: path.join(dir, "keys.json") } },
        stanza: "orders",
        ...over,
      }),
      dataDir: path.join(dir, "data"),
      socketDir: dir,
      pgPort: 5432,
      superuser: "postgres",
      log,
    });

  it("refuses a key file that cannot be read or is not the keys, naming the field; writes nothing", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hapg-restore-keys-"));
    try {
      assert.throws(
        () => source(dir, {}).prepare(),
        /^Error: bootstrap\.fromBackup\.repo\.credentials\.file: cannot read .*keys\.json \(ENOENT\)/,
      );
      fs.writeFileSync(path.join(dir, "keys.json"), "not json");
      assert.throws(() => source(dir, {}).prepare(), /bootstrap\.fromBackup\.repo\.credentials\.file: .*must hold \{"accessKeyId"/);
      fs.writeFileSync(path.join(dir, "keys.json"), JSON.stringify({ accessKeyId: "a", secretAccessKey: "b" }));
      assert.throws(
        () => source(dir, { cipherPassphraseFile: path.join(dir, "nope") }).prepare(),
        /^Error: bootstrap\.fromBackup\.cipherPassphraseFile: cannot read/,
      );
      assert.deepEqual(fs.readdirSync(dir).sort(), ["keys.json"], "nothing written before the credentials were read");
      source(dir, {}).prepare();
      const conf = fs.readFileSync(sourcePaths(path.join(dir, "data")).confFile, "utf8");
      assert.match(conf, /^\[orders\]$/m);
      assert.match(conf, /^repo1-path=\/orders$/m);
      assert.equal(fs.statSync(sourcePaths(path.join(dir, "data")).confFile).mode & 0o777, 0o600);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
