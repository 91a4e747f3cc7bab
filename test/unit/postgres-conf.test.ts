/** Rendering of postgresql.conf, pg_hba.conf and pgpass; slot names; the SCRAM verifier. */
import assert from "node:assert/strict";
import {
  conninfo,
  quoteConfValue,
  renderPgHba,
  renderPgpass,
  renderPostgresqlConf,
  slotName,
  stripControlledFromAutoConf,
  validateParameters,
  type PostgresqlConfOptions,
} from "../../sidecar/postgres/conf";
import { scramVerifier } from "../../sidecar/postgres/sql";
import { findPgBinDir, highestDebianBinDir } from "../../sidecar/postgres/bin";
import { parseCopyProgress } from "../../sidecar/postgres/process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { HA_DEFAULTS } from "../../sidecar/contract/settings/schema";
import { resolveTiming } from "../../sidecar/contract/settings/timing";

const base: PostgresqlConfOptions = {
  dataDir: "/var/lib/postgresql/15/main",
  socketDir: "/var/lib/postgresql/15/main.sock",
  listen: { host: "10.0.1.5", port: 5432 },
  parameters: {},
  timing: resolveTiming(HA_DEFAULTS),
  memberName: "pg-1",
};

/** name → raw value text from rendered postgresql.conf. */
function settings(conf: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of conf.split("\n")) {
    const r = /^([a-z_]+) = (.*)$/.exec(line);
    if (r) m.set(r[1], r[2]);
  }
  return m;
}

describe("postgresql.conf rendering", () => {
  it("sets what replication, failover and local access need", () => {
    const s = settings(renderPostgresqlConf(base));
    assert.equal(s.get("listen_addresses"), "'10.0.1.5'");
    assert.equal(s.get("port"), "5432");
    assert.equal(s.get("unix_socket_directories"), `'"/var/lib/postgresql/15/main.sock"'`);
    assert.equal(s.get("wal_level"), "'replica'");
    assert.equal(s.get("hot_standby"), "on");
    assert.equal(s.get("wal_log_hints"), "on");
    assert.equal(s.get("password_encryption"), "'scram-sha-256'");
    assert.equal(s.get("logging_collector"), "off");
    assert.equal(s.get("hba_file"), "'/var/lib/postgresql/15/main/pg_hba.conf'");
    assert.equal(s.get("ident_file"), "'/var/lib/postgresql/15/main/pg_ident.conf'");
    assert.ok(s.has("max_wal_senders") && s.has("max_replication_slots") && s.has("wal_keep_size"));
    assert.ok(!s.has("primary_conninfo") && !s.has("primary_slot_name"), "a primary has no standby settings");
    // The same value in every role: dropping a postmaster-level line at promotion would show as a pending restart.
    assert.equal(s.get("recovery_target_timeline"), "'latest'");
  });

  it("notices a silent peer in seconds: a sync commit waits for an unreachable standby at most timing.replicationTimeout", () => {
    const s = settings(renderPostgresqlConf(base));
    assert.equal(s.get("wal_sender_timeout"), "'5000ms'", "default 5 s");
    assert.equal(s.get("wal_receiver_timeout"), "'5000ms'");
    const timing = resolveTiming({ ...HA_DEFAULTS, timing: { ...HA_DEFAULTS.timing, replicationTimeout: 2.5 } });
    assert.equal(settings(renderPostgresqlConf({ ...base, timing })).get("wal_sender_timeout"), "'2500ms'", "set by the setting");
    assert.throws(
      () => renderPostgresqlConf({ ...base, parameters: { wal_sender_timeout: "30s" } }),
      /postgres\.parameters\.wal_sender_timeout: derived from the setting timing\.replicationTimeout/,
    );
  });

  it("merges user parameters over our defaults, quoting strings", () => {
    const s = settings(
      renderPostgresqlConf({
        ...base,
        parameters: { shared_buffers: "256MB", max_wal_senders: 20, jit: false, search_path: `"$user", it's` },
      }),
    );
    assert.equal(s.get("shared_buffers"), "'256MB'");
    assert.equal(s.get("max_wal_senders"), "20");
    assert.equal(s.get("jit"), "off");
    assert.equal(s.get("search_path"), `'"$user", it''s'`);
  });

  it("makes the data directory durable before crash recovery with one syncfs, not file by file (a user may choose fsync)", () => {
    assert.equal(settings(renderPostgresqlConf(base)).get("recovery_init_sync_method"), "'syncfs'");
    const own = renderPostgresqlConf({ ...base, parameters: { recovery_init_sync_method: "fsync" } });
    assert.equal(settings(own).get("recovery_init_sync_method"), "'fsync'");
  });

  it("renders a replica's primary_conninfo with a passfile, never a password", () => {
    const conf = renderPostgresqlConf({
      ...base,
      standby: {
        upstream: { host: "10.0.2.7", port: 5433 },
        replicationUser: "replicator",
        passfile: "/var/lib/postgresql/15/main.pgpass",
        slotName: "pg_1",
      },
    });
    const s = settings(conf);
    assert.equal(s.get("recovery_target_timeline"), "'latest'");
    assert.equal(s.get("primary_slot_name"), "'pg_1'");
    const ci = s.get("primary_conninfo")!;
    for (const part of [
      "host=''10.0.2.7''",
      "port=''5433''",
      "user=''replicator''",
      "passfile=''/var/lib/postgresql/15/main.pgpass''",
      "application_name=''pg-1''",
    ]) {
      assert.ok(ci.includes(part), `${part} in ${ci}`);
    }
    assert.ok(!/password=/.test(conf));
  });

  it("a replica without upstream has no primary_conninfo and no slot", () => {
    const s = settings(
      renderPostgresqlConf({ ...base, standby: { upstream: null, replicationUser: "r", passfile: "/x", slotName: "pg_1" } }),
    );
    assert.equal(s.get("recovery_target_timeline"), "'latest'");
    assert.ok(!s.has("primary_conninfo") && !s.has("primary_slot_name"));
  });

  it("refuses parameters the agent controls, naming the field", () => {
    for (const name of ["port", "hot_standby", "primary_conninfo", "listen_addresses", "unix_socket_directories", "wal_log_hints"]) {
      assert.throws(() => validateParameters({ [name]: "x" }), new RegExp(`postgres\\.parameters\\.${name}: set by the agent`));
    }
    assert.throws(() => renderPostgresqlConf({ ...base, parameters: { port: 5433 } }), /postgres\.parameters\.port/);
    assert.throws(() => validateParameters({ wal_level: "minimal" }), /postgres\.parameters\.wal_level: must be "replica" or "logical"/);
    assert.throws(
      () => validateParameters({ work_mem: "4MB\nport = 1" }),
      /postgres\.parameters\.work_mem: must not contain control characters/,
    );
    validateParameters({ wal_level: "logical", shared_buffers: "1GB" });
  });

  it("refuses a data dir too long for the Unix socket", () => {
    assert.throws(() => renderPostgresqlConf({ ...base, socketDir: "/" + "d".repeat(100) }), /postgres\.dataDir: .* too long/);
  });
});

describe("value quoting", () => {
  it("quotes postgresql.conf values", () => {
    assert.equal(quoteConfValue("a'b\\c"), `'a''b\\\\c'`);
    assert.equal(quoteConfValue(true), "on");
    assert.equal(quoteConfValue(1.5), "1.5");
    assert.throws(() => quoteConfValue("a\nb"));
  });
  it("quotes conninfo values", () => {
    assert.equal(conninfo({ host: "h", user: "o'x\\y", port: 1 }), `host='h' user='o\\'x\\\\y' port='1'`);
  });
});

describe("pg_hba.conf rendering", () => {
  it("trusts only the private socket and requires SCRAM over TCP for each CIDR", () => {
    const lines = renderPgHba({ replicationUser: "replicator", allowedCidrs: ["10.0.0.0/16", "fd00::/8"] })
      .split("\n")
      .filter((l) => l && !l.startsWith("#"))
      .map((l) => l.split(/\s+/).join(" "));
    assert.deepEqual(lines, [
      "local all all trust",
      "local replication all trust",
      "host replication replicator 10.0.0.0/16 scram-sha-256",
      "host all all 10.0.0.0/16 scram-sha-256",
      "host replication replicator fd00::/8 scram-sha-256",
      "host all all fd00::/8 scram-sha-256",
    ]);
  });
  it("rejects a non-CIDR", () => {
    assert.throws(() => renderPgHba({ replicationUser: "r", allowedCidrs: ["0.0.0.0/0 trust"] }), /postgres\.allowedCidrs/);
  });
});

describe("pgpass, slot names, auto.conf, SCRAM", () => {
  it("escapes ':' and '\\' in pgpass", () => {
    assert.equal(renderPgpass([{ username: "replicator", password: "a:b\\c" }]), "*:*:*:replicator:a\\:b\\\\c\n");
    assert.throws(() => renderPgpass([{ username: "u", password: "a\nb" }]), /line break/);
  });
  it("sanitises slot names", () => {
    assert.equal(slotName("PG-1.eu"), "pg_1_eu");
    assert.equal(slotName("node_2"), "node_2");
    assert.throws(() => slotName("x".repeat(64)), /1 to 63/);
  });
  it("drops controlled parameters from postgresql.auto.conf", () => {
    const text = "# Do not edit\nprimary_conninfo = 'host=evil'\nwork_mem = '8MB'\nPORT=1\n";
    assert.equal(stripControlledFromAutoConf(text), "# Do not edit\nwork_mem = '8MB'\n");
  });
  it("computes the SCRAM-SHA-256 verifier of RFC 7677's example", () => {
    // RFC 7677 §3: password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096 iterations.
    const v = scramVerifier("pencil", Buffer.from("W22ZaJ0SNY7soEsUEjb6gQ==", "base64"), 4096);
    assert.equal(
      v,
      "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
    );
  });
});

describe("findPgBinDir", () => {
  it("names postgres.binDir when the configured dir has no postgres", () => {
    assert.throws(() => findPgBinDir("/nonexistent/bin"), /postgres\.binDir: "\/nonexistent\/bin" has no executable "postgres"/);
  });
  it("picks the highest /usr/lib/postgresql/N/bin that has a server", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "hapg-bin-"));
    try {
      for (const v of ["9.6", "15", "17"]) {
        fs.mkdirSync(path.join(root, v, "bin"), { recursive: true });
        if (v !== "17") fs.writeFileSync(path.join(root, v, "bin", "postgres"), "", { mode: 0o755 });
      }
      // 17 has no server binary, so 15 wins over 9.6 (numeric, not string, order).
      assert.equal(highestDebianBinDir(root), path.join(root, "15", "bin"));
      assert.ok(fs.existsSync(path.join(findPgBinDir(undefined, root), "postgres")));
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

describe("copy progress parsing", () => {
  it("takes the last pg_basebackup -P report of a chunk", () => {
    const chunk = "waiting for checkpoint\r    0/23456 kB (0%), 0/1 tablespace\r12000/23456 kB (51%), 0/1 tablespace\r";
    assert.deepEqual(parseCopyProgress(chunk), { doneKb: 12000, totalKb: 23456, percent: 51 });
    assert.equal(parseCopyProgress("pg_basebackup: checkpoint completed\n"), undefined);
  });
});
