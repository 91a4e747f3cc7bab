/** pgBackRest's config, the archiving parameters, retention, `info` parsing and archive health. Pure. */
import assert from "node:assert/strict";
import { archiveStatus } from "../../sidecar/backup/archive-status";
import { backupConfigSchema, backupPaths, resolvedRepo } from "../../sidecar/contract/backup-config";
import {
  archiveParameters,
  archiveRole,
  renderPgBackRestConf,
  retentionFullFor,
  type PgBackRestConfOptions,
} from "../../sidecar/backup/pgbackrest-conf";
import { fileProgress, parseInfo } from "../../sidecar/backup/pgbackrest";
import { ConfigError, validateAgentConfig } from "../../sidecar/contract/agent-config";
import { renderPostgresqlConf } from "../../sidecar/postgres/conf";
import { resolveTiming } from "../../sidecar/contract/settings/timing";
import { HA_DEFAULTS } from "../../sidecar/contract/settings/schema";

const repo = backupConfigSchema.parse({ repo: { bucket: "my-backups" } }).repo;

function options(extra: Partial<PgBackRestConfOptions> = {}): PgBackRestConfOptions {
  return {
    stanza: "main",
    repo,
    repoPath: "/main",
    endpoint: "s3.us-east-1.amazonaws.com",
    compressType: "lz4",
    processMax: 2,
    spoolDir: "/d.pgbackrest/spool",
    logDir: "/d.pgbackrest/log",
    lockDir: "/d.pgbackrest/lock",
    pgUser: "postgres",
    pg1: { path: "/var/lib/hapg/data", port: 5432, socketPath: "/var/lib/hapg/data.sock" },
    retention: { full: 2 },
    ...extra,
  };
}

describe("pgBackRest config", () => {
  it("on AWS: the instance role's credentials (no key in the file), host-style URIs, async archiving into the spool", () => {
    const text = renderPgBackRestConf(options());
    for (const line of [
      "repo1-type=s3",
      "repo1-s3-bucket=my-backups",
      "repo1-s3-region=us-east-1",
      "repo1-s3-endpoint=s3.us-east-1.amazonaws.com",
      "repo1-s3-uri-style=host",
      "repo1-path=/main",
      "repo1-s3-key-type=auto",
      "repo1-retention-full=2",
      "archive-async=y",
      "archive-mode-check=n",
      "spool-path=/d.pgbackrest/spool",
      "[main]",
      "pg1-path=/var/lib/hapg/data",
      "pg1-socket-path=/var/lib/hapg/data.sock",
    ]) {
      assert.ok(text.split("\n").includes(line), `${line} in:\n${text}`);
    }
    assert.doesNotMatch(text, /repo1-s3-key=|cipher|backup-standby/);
  });

  it("locally: keys from the key file, path-style URIs, the CA file; encryption with a passphrase", () => {
    const local = backupConfigSchema.parse({
      repo: {
        bucket: "hapg-local",
        endpoint: "localhost",
        port: 9000,
        uriStyle: "path",
        caFile: "/x/ca.pem",
        credentials: { source: "keyFile", file: "/x/k.json" },
      },
    }).repo;
    const text = renderPgBackRestConf(
      options({ repo: local, endpoint: "localhost", keys: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" }, cipherPassphrase: "p4ss" }),
    );
    for (const line of [
      "repo1-s3-key-type=shared",
      "repo1-s3-key=S3RVER",
      "repo1-storage-port=9000",
      "repo1-s3-uri-style=path",
      "repo1-storage-ca-file=/x/ca.pem",
      "repo1-cipher-type=aes-256-cbc",
      "repo1-cipher-pass=p4ss",
    ]) {
      assert.ok(text.split("\n").includes(line), line);
    }
  });

  it("refuses a value that would inject another option", () => {
    assert.throws(
      () => renderPgBackRestConf(options({ repoPath: "/main\nrepo1-path=/other" })),
      /repo1-path: the value must not contain control characters/,
    );
  });

  it("defaults: stanza and prefix from the cluster's name, files beside the data directory", () => {
    const b = backupConfigSchema.parse({ repo: { bucket: "my-backups" } });
    assert.deepEqual(resolvedRepo(b, "orders"), { stanza: "orders", repoPath: "/orders", endpoint: "s3.us-east-1.amazonaws.com" });
    assert.equal(backupPaths("/var/lib/hapg/data").confFile, "/var/lib/hapg/data.pgbackrest/pgbackrest.conf");
  });

  it("the agent config refuses a bad backup section naming the field", () => {
    const base = {
      cluster: "main",
      name: "node1",
      etcd: { endpoints: ["http://127.0.0.1:2379"] },
      postgres: { dataDir: "/d", listen: { host: "127.0.0.1" }, superuser: { passwordFile: "/s" }, replication: { passwordFile: "/r" } },
      api: { listen: { host: "127.0.0.1" } },
    };
    const refused = (backup: unknown) => {
      try {
        validateAgentConfig({ ...base, backup });
      } catch (e) {
        assert.ok(e instanceof ConfigError);
        return e.problems.join("\n");
      }
      assert.fail("expected a refusal");
    };
    assert.match(refused({ repo: { bucket: "Bad_Bucket" } }), /backup\.repo\.bucket: must be an S3 bucket name/);
    assert.match(
      refused({ repo: { bucket: "ok-bucket", credentials: { source: "keys" } } }),
      /backup\.repo\.credentials\.source: must be \{"source": "instanceRole"\}/,
    );
    assert.match(
      refused({ repo: { bucket: "ok-bucket" }, cipherPassphraseFile: "rel" }),
      /backup\.cipherPassphraseFile: must be an absolute path/,
    );
    assert.match(
      (() => {
        try {
          validateAgentConfig({ ...base, postgres: { ...base.postgres, parameters: { archive_timeout: 30 } } });
        } catch (e) {
          return (e as ConfigError).problems.join("\n");
        }
        return "";
      })(),
      /archive_timeout: derived from the setting backupPolicy\.archiveTimeout/,
    );
  });
});

describe("archiving parameters", () => {
  const push = "pgbackrest --config='/d.pgbackrest/pgbackrest.conf' --stanza='main' --archive-timeout=10 archive-push %p";
  it("every member runs archive_mode always; archive_command pushes only without a signal file; archive_timeout is the setting", () => {
    const p = archiveParameters("/d.pgbackrest/pgbackrest.conf", "main", 60, { dataDir: "/d", marksDir: "/d.pgbackrest/archived" });
    assert.equal(p.archive_mode, "always", "a replica keeps what it received until archive_command succeeds; no restart on a role change");
    assert.equal(
      p.archive_command,
      "if test -f '/d/standby.signal'; then test -f '/d.pgbackrest/archived'/%f; " +
        `elif test -f '/d/recovery.signal'; then true; else ${push}; fi`,
      "a replica succeeds only for a file the agent marked (the leader archived it); a restore uploads nothing; a primary pushes",
    );
    assert.equal(
      p.restore_command,
      `timeout 3 pgbackrest --config='/d.pgbackrest/pgbackrest.conf' --stanza='main' --archive-timeout=2 --io-timeout=1 archive-get %f "%p"`,
      "a lookup in an unreachable archive gives up within seconds: a promotion must not wait on S3",
    );
    assert.equal(p.archive_timeout, 60);
    assert.equal(
      archiveParameters("/s.pgbackrest/pgbackrest.conf", "src", 0).restore_command,
      `pgbackrest --config='/s.pgbackrest/pgbackrest.conf' --stanza='src' --archive-timeout=60 archive-get %f "%p"`,
      "a restore source's archive is waited for: a segment that does not come ends the recovery",
    );
    const conf = renderPostgresqlConf({
      dataDir: "/d",
      socketDir: "/d.sock",
      listen: { host: "127.0.0.1", port: 5432 },
      parameters: {},
      timing: resolveTiming(HA_DEFAULTS),
      memberName: "n1",
      archive: p,
    });
    assert.match(conf, /^archive_command = 'if test -f ''\/d\/standby\.signal''; then .* archive-push %p; fi'$/m);
    assert.match(conf, /^archive_mode = 'always'$/m);
    assert.match(conf, /^archive_timeout = 60$/m);
  });

  it("without a gate (a restore source's archive, read only) the command is the push alone", () => {
    const p = archiveParameters("/d.pgbackrest/pgbackrest.conf", "main", 0);
    assert.equal(p.archive_command, push);
  });

  it("the role follows PostgreSQL's signal files: standby.signal a replica, recovery.signal a restore, none a primary", () => {
    assert.equal(archiveRole({ standby: true, recovery: false }), "replica");
    assert.equal(archiveRole({ standby: true, recovery: true }), "replica", "standby.signal wins, as in PostgreSQL");
    assert.equal(archiveRole({ standby: false, recovery: true }), "restore");
    assert.equal(archiveRole({ standby: false, recovery: false }), "push");
  });

  it("a segment the archive holds with a different checksum is reported as such, not as an outage", () => {
    const a = archiveStatus(
      {
        archived_count: "3",
        last_archived_wal: "000000010000000000000004",
        last_archived_time: new Date(1000),
        failed_count: "2",
        last_failed_wal: "000000010000000000000005",
        last_failed_time: new Date(2000),
      },
      2,
      "WAL file '000000010000000000000005' already exists in the repo1 archive with a different checksum",
      3000,
    );
    assert.match(a.problem!, /archive already holds a different 000000010000000000000005/);
    assert.match(a.problem!, /Nothing is overwritten/);
  });
});

describe("retention by count and age", () => {
  const day = 86_400_000;
  const now = Date.parse("2026-11-27T00:00:00Z");
  it("a full backup is expired only when both the count and the age allow it", () => {
    const stops = [now - 30 * day, now - 20 * day, now - 13 * day, now - 6 * day, now - day];
    assert.equal(retentionFullFor({ full: 2 }, stops, now), 2, "count only");
    assert.equal(retentionFullFor({ full: 2, fullDays: 14 }, stops, now), 4, "3 younger than 14 days, and the one before them");
    assert.equal(retentionFullFor({ full: 5, fullDays: 3 }, stops, now), 5, "the count keeps more");
  });
});

describe("pgbackrest info", () => {
  it("reads type, times, sizes, WAL range and the system identifier exactly", () => {
    const json =
      '[{"archive":[{"database":{"id":1,"repo-key":1},"id":"15-1","max":"000000010000000000000005","min":"000000010000000000000001"}],' +
      '"backup":[{"archive":{"start":"000000010000000000000004","stop":"000000010000000000000005"},"info":{"delta":22959452,' +
      '"repository":{"delta":4519384,"size":4519384},"size":22959452},"label":"20261127-163210F",' +
      '"lsn":{"start":"0/4000028","stop":"0/5000088"},"prior":null,"timestamp":{"start":1795797130,"stop":1795797145},"type":"full"}],' +
      '"db":[{"id":1,"repo-key":1,"system-id":7712889896760034788,' +
      '"version":"15"}],"name":"local","status":{"code":0,"lock":{"backup":{"held":false}},"message":"ok"}}]';
    const i = parseInfo(json, "local");
    assert.equal(i.systemId, "7712889896760034788");
    assert.deepEqual(i.backups[0], {
      label: "20261127-163210F",
      type: "full",
      start: 1795797130000,
      stop: 1795797145000,
      size: 22959452,
      repoSize: 4519384,
      walStart: "000000010000000000000004",
      walStop: "000000010000000000000005",
      lsnStart: "0/4000028",
      lsnStop: "0/5000088",
      prior: undefined,
    });
    assert.deepEqual(i.archive, { min: "000000010000000000000001", max: "000000010000000000000005" });
    assert.equal(parseInfo("[]", "local").backups.length, 0);
  });
});

describe("archive health", () => {
  const row = {
    archived_count: "6",
    last_archived_wal: "000000010000000000000004",
    last_archived_time: new Date("2026-11-27T12:00:00Z"),
    failed_count: "0",
    last_failed_wal: null,
    last_failed_time: null,
  };
  it("healthy: the last archived WAL and its age", () => {
    const a = archiveStatus(row, 0, undefined, Date.parse("2026-11-27T12:00:10Z"));
    assert.equal(a.age_seconds, 10);
    assert.equal(a.problem, undefined);
  });
  it("failing since the last success: says why and that the WAL is kept", () => {
    const a = archiveStatus(
      { ...row, failed_count: "3", last_failed_wal: "000000010000000000000005", last_failed_time: new Date("2026-11-27T12:01:00Z") },
      2,
      "[104]: unable to connect to 'localhost:9000': Connection refused",
      Date.parse("2026-11-27T12:01:05Z"),
    );
    assert.match(a.problem!, /archiving 000000010000000000000005 fails: \[104\]: unable to connect.*WAL is kept in pg_wal/);
    assert.equal(a.ready_count, 2);
  });
});

describe("progress of a backup or restore", () => {
  it("reads the percentage from pgBackRest's per-file detail lines", () => {
    const seen: number[] = [];
    const feed = fileProgress("restore", (p) => seen.push(p));
    feed(
      "P01 DETAIL: restore file /d/base/1/1259 (112KB, 6.91%) checksum 0a1b\n" +
        "P01 DETAIL: restore file /d/base/1/1249 (8KB, 7.10%) checksum 0a1c\n",
    );
    feed("P00 INFO: something else\n");
    feed("P01 DETAIL: restore file /d/global/pg_control (8KB, 100.00%) checksum 0a1d\n");
    assert.deepEqual(seen, [7.1, 100]);
  });
});
