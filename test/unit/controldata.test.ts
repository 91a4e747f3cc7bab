/** pg_controldata parsing and LSN helpers, on output captured from PostgreSQL 15 (LC_ALL=C). */
import assert from "node:assert/strict";
import { controlDataToInfo, parseControlData } from "../../sidecar/postgres/controldata";
import { formatLsn, parseLsn, parseTimelineHistory, replayTimeline } from "../../sidecar/contract/lsn";
import { memberData } from "../../sidecar/ha/member";

/** `pg_controldata -D` right after initdb (PostgreSQL 15.x, Debian 12). */
const SHUT_DOWN = `pg_control version number:            1300
Catalog version number:               202209061
Database system identifier:           7712351625067270989
Database cluster state:               shut down
pg_control last modified:             Thu Nov 26 05:43:13 2026
Latest checkpoint location:           0/17414F8
Latest checkpoint's REDO location:    0/17414F8
Latest checkpoint's REDO WAL file:    000000010000000000000001
Latest checkpoint's TimeLineID:       1
Latest checkpoint's PrevTimeLineID:   1
Latest checkpoint's full_page_writes: on
Latest checkpoint's NextXID:          0:724
Latest checkpoint's NextOID:          13572
Latest checkpoint's NextMultiXactId:  1
Latest checkpoint's NextMultiOffset:  0
Latest checkpoint's oldestXID:        716
Latest checkpoint's oldestXID's DB:   1
Latest checkpoint's oldestActiveXID:  0
Latest checkpoint's oldestMultiXid:   1
Latest checkpoint's oldestMulti's DB: 1
Latest checkpoint's oldestCommitTsXid:0
Latest checkpoint's newestCommitTsXid:0
Time of latest checkpoint:            Thu Nov 26 05:43:13 2026
Fake LSN counter for unlogged rels:   0/3E8
Minimum recovery ending location:     0/0
Min recovery ending loc's timeline:   0
Backup start location:                0/0
Backup end location:                  0/0
End-of-backup record required:        no
wal_level setting:                    replica
wal_log_hints setting:                off
max_connections setting:              100
max_worker_processes setting:         8
max_wal_senders setting:              10
max_prepared_xacts setting:           0
max_locks_per_xact setting:           64
track_commit_timestamp setting:       off
Maximum data alignment:               8
Database block size:                  8192
Blocks per segment of large relation: 131072
WAL block size:                       8192
Bytes per WAL segment:                16777216
Maximum length of identifiers:        64
Maximum columns in an index:          32
Maximum size of a TOAST chunk:        1996
Size of a large-object chunk:         2048
Date/time type storage:               64-bit integers
Float8 argument passing:              by value
Data page checksum version:           1
Mock authentication nonce:            13c10e437bbf6743dd4f501bbc8284bf721e645b3a86bf0061e82093c7fed285
`;

describe("pg_controldata parsing", () => {
  it("reads system id, state, checkpoint timeline and location", () => {
    assert.deepEqual(controlDataToInfo(SHUT_DOWN), {
      systemId: "7712351625067270989",
      clusterState: "shut down",
      timeline: 1,
      checkpointLsn: 0x17414f8,
    });
  });

  it("keeps values that contain ':' and keys with apostrophes", () => {
    const f = parseControlData(SHUT_DOWN);
    assert.equal(f.get("Latest checkpoint's NextXID"), "0:724");
    assert.equal(f.get("pg_control last modified"), "Thu Nov 26 05:43:13 2026");
    assert.equal(f.get("Latest checkpoint's oldestCommitTsXid"), "0");
  });

  it("reads a promoted replica's state with a later timeline", () => {
    const text = SHUT_DOWN.replace("shut down", "in production")
      .replace("Latest checkpoint's TimeLineID:       1", "Latest checkpoint's TimeLineID:       3")
      .replace("Latest checkpoint location:           0/17414F8", "Latest checkpoint location:           1A/B374D848");
    const info = controlDataToInfo(text);
    assert.equal(info.clusterState, "in production");
    assert.equal(info.timeline, 3);
    assert.equal(info.checkpointLsn, 0x1a * 2 ** 32 + 0xb374d848);
  });

  it("rejects output that is not pg_controldata's", () => {
    assert.throws(() => controlDataToInfo("pg_controldata: error: could not open file"), /unexpected pg_controldata output/);
  });
});

describe("LSN helpers", () => {
  it("parses and formats", () => {
    assert.equal(parseLsn("0/3000028"), 50331688);
    assert.equal(parseLsn("16/B374D848"), 0x16 * 2 ** 32 + 0xb374d848);
    assert.equal(formatLsn(50331688), "0/3000028");
    assert.equal(formatLsn(parseLsn("FFFF/FFFFFFFF")), "FFFF/FFFFFFFF");
    assert.equal(formatLsn(0), "0/0");
  });

  it("rejects garbage", () => {
    assert.throws(() => parseLsn("3000028"), /not a WAL location/);
    assert.throws(() => parseLsn("0/xyz"), /not a WAL location/);
    assert.throws(() => formatLsn(-1), /not a WAL position/);
  });
});

describe("timeline history", () => {
  it("parses PostgreSQL's history file (with each line's reason), skipping comments and blank lines", () => {
    const text = "1\t0/404A2C8\tno recovery target specified\n\n# comment\n2\t1/A0\tbefore 2026-11-26 08:00:00+00\n";
    assert.deepEqual(parseTimelineHistory(text), [
      { timeline: 1, switchLsn: parseLsn("0/404A2C8"), reason: "no recovery target specified" },
      { timeline: 2, switchLsn: parseLsn("1/A0"), reason: "before 2026-11-26 08:00:00+00" },
    ]);
    assert.deepEqual(parseTimelineHistory("3\t0/50"), [{ timeline: 3, switchLsn: 0x50 }], "a line without a reason");
    assert.deepEqual(parseTimelineHistory(null), [], "timeline 1 has no history file");
  });

  it("is published by the primary only, in its member key, for replicas to check against", () => {
    const id = {
      pgConnect: { host: "10.0.0.1", port: 5432 },
      apiConnect: { host: "10.0.0.1", port: 8008 },
      tags: { nofailover: false, noloadbalance: false, failoverPriority: 1 },
    };
    const dataDir = { initialized: true } as never;
    const history = [{ timeline: 1, switchLsn: 900 }];
    const primary = memberData(id, {
      dataDir,
      process: "running",
      pg: { running: true, inRecovery: false, timeline: 2, lsn: 1000, history },
    });
    assert.deepEqual(primary.history, [[1, 900]]);
    const replica = memberData(id, {
      dataDir,
      process: "running",
      pg: { running: true, inRecovery: true, timeline: 2, lsn: 1000, history },
    });
    assert.equal(replica.history, undefined);
  });

  it("tells the timeline a replica replays from its WAL segment names", () => {
    const seg = 16 * 1024 * 1024;
    // Followed the switch to timeline 2 inside segment 6: both files exist, the newer one holds the replay point.
    const followed = ["000000010000000000000005", "000000010000000000000006", "000000020000000000000006", "00000002.history"];
    assert.equal(replayTimeline(followed, parseLsn("0/6706F38"), seg), 2);
    // Replayed timeline 1 past the fork and never got timeline 2's WAL.
    assert.equal(replayTimeline(["000000010000000000000006"], parseLsn("0/6706F38"), seg), 1);
    // A record ending exactly on a segment boundary is in the segment before.
    assert.equal(replayTimeline(["000000030000000000000005"], parseLsn("0/6000000"), seg), 3);
    assert.equal(replayTimeline(["000000010000000100000000"], parseLsn("1/0") + 5, seg), 1, "the high 32 bits name the log id");
    assert.equal(replayTimeline([], parseLsn("0/6706F38"), seg), undefined, "unknown: no verdict");
  });
});
