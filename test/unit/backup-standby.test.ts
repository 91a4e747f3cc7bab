/** Backups from standby: which replica may take one, the fallback to the leader, and the pure renderings. Pure. */
import assert from "node:assert/strict";
import { backupConfigSchema } from "../../sidecar/contract/backup-config";
import { renderPgBackRestConf } from "../../sidecar/backup/pgbackrest-conf";
import { chooseBackupMember, planBackup, standbyBackupProblem, STANDBY_BACKUP_MAX_LAG_BYTES } from "../../sidecar/backup/schedule";
import { certNamesHost, primaryInstance, serverAdvert } from "../../sidecar/backup/standby";
import { renderServerConf } from "../../sidecar/backup/tls-server";
import type { BackupClaim, BackupServerAdvert, Member } from "../../sidecar/dcs/types";
import { BACKUP_POLICY_DEFAULTS } from "../../sidecar/contract/settings/backup";
import { sampleMemberData } from "../helpers/member-fixture";
import { backupClaim } from "../helpers/backup-claim";
import { colocatedPgNode } from "../helpers/host-spec";
import { validateAgentConfig } from "../../sidecar/contract/agent-config";
import { HA_DEFAULTS } from "../../sidecar/contract/settings/schema";
import { agentConfigForNode } from "../../lib/userdata/agent-config";
import { internalRules } from "../../lib/security/rules";
import { NODE_PORTS } from "../../lib/args/types";

const server = (host: string, reaches?: string): BackupServerAdvert => ({
  host,
  port: 8432,
  pg_path: "/srv/hapg/postgres/data",
  pg_port: 5432,
  pg_socket_path: "/srv/hapg/postgres/data.sock",
  ...(reaches ? { reaches } : {}),
});

function member(name: string, role: "primary" | "replica", extra: Partial<Member["data"]> = {}): Member {
  return { name, leaseId: "1", modRevision: 1, data: sampleMemberData({ role, state: "running", ...extra }) };
}

const leader = member("a", "primary", { xlog_location: 1000, pgbackrest: server("10.0.1.10") });
const able = (name: string, extra: Partial<Member["data"]> = {}) =>
  member(name, "replica", {
    replication_state: "streaming",
    xlog_location: 900,
    pgbackrest: server(`10.0.1.${name.length}`, "a"),
    ...extra,
  });

describe("which replica may take a backup from standby", () => {
  const cases: [string, Member, Member | undefined, RegExp | undefined][] = [
    ["a streaming replica that reached the leader's TLS server, close behind", able("b"), leader, undefined],
    ["the leader itself", leader, leader, /not a replica/],
    ["no leader", able("b"), undefined, /not a replica/],
    ["a replica that does not stream", able("b", { replication_state: "stopped" }), leader, /does not stream/],
    ["a replica whose PostgreSQL is not running", able("b", { state: "starting" }), leader, /starting/],
    ["tagged nofailover", able("b", { tags: { nofailover: true, noloadbalance: false, failover_priority: 1 } }), leader, /nofailover/],
    [
      "tagged noloadbalance",
      able("b", { tags: { nofailover: false, noloadbalance: true, failover_priority: 1 } }),
      leader,
      /noloadbalance/,
    ],
    ["the leader runs no TLS server", able("b"), member("a", "primary", { xlog_location: 1000 }), /the leader a runs no/],
    ["the replica runs no TLS server", able("b", { pgbackrest: undefined }), leader, /runs no pgBackRest TLS server/],
    ["it has not reached the leader's server", able("b", { pgbackrest: server("10.0.1.2") }), leader, /has not reached a's/],
    ["it reached a former leader's server", able("b", { pgbackrest: server("10.0.1.2", "c") }), leader, /has not reached a's/],
    ["it is too far behind", able("b", { xlog_location: 1000 - STANDBY_BACKUP_MAX_LAG_BYTES - 1 }), leader, /bytes behind/],
  ];
  for (const [what, m, l, problem] of cases) {
    it(`${problem ? "not" : "yes"}: ${what}`, () => {
      const p = standbyBackupProblem(m, l);
      if (problem) assert.match(p ?? "", problem);
      else assert.equal(p, undefined);
    });
  }

  it("the most advanced able replica takes it (then by name); otherwise, or without fromStandby, the leader", () => {
    const b = able("b", { xlog_location: 950 });
    const c = able("cc", { xlog_location: 990 });
    const d = able("dd", { xlog_location: 990 });
    assert.equal(chooseBackupMember([leader, b, c, d], "a", true), "cc");
    assert.equal(chooseBackupMember([leader, b, c, d], "a", false), "a", "fromStandby false: the leader");
    assert.equal(chooseBackupMember([leader, able("b", { pgbackrest: server("x") })], "a", true), "a", "no replica reached it: the leader");
    const stopped = member("a", "primary", { state: "stopped", pgbackrest: server("10.0.1.10") });
    assert.equal(chooseBackupMember([stopped, b], "a", true), undefined, "no running leader: nobody (a replica needs the primary)");
  });
});

describe("the schedule with backups from standby", () => {
  const policy = { schedule: BACKUP_POLICY_DEFAULTS.schedule, fromStandby: true };
  const members = [leader, able("b")];
  const done = backupClaim();
  const plan = (claim: BackupClaim | undefined, now: number, ms = members) => planBackup({ policy, now, claim, members: ms, leader: "a" });

  it("the first full backup stays on the leader; a scheduled one goes to the able replica", () => {
    const first = plan(undefined, Date.parse("2026-11-27T12:00:00Z"));
    assert.ok(first.due && first.claim.member === "a");
    const next = plan(done, Date.parse("2026-11-28T01:00:30Z"));
    assert.ok(next.due);
    assert.deepEqual([next.claim.member, next.claim.slot, next.claim.type], ["b", "2026-11-28T01:00Z", "diff"]);
  });

  it("a slot that failed on a replica goes to the leader at once: not skipped, and taken once", () => {
    const failed: BackupClaim = {
      ...done,
      slot: "2026-11-28T01:00Z",
      type: "diff",
      member: "b",
      state: "failed",
      started: "2026-11-28T01:00:05.000Z",
      finished: "2026-11-28T01:00:10.000Z",
      error: "unable to connect to 10.0.1.10:8432",
      lastSlot: "2026-11-28T01:00Z",
    };
    const p = plan(failed, Date.parse("2026-11-28T01:00:11Z"));
    assert.ok(p.due, p.reason);
    assert.deepEqual([p.claim.member, p.claim.slot, p.claim.state], ["a", "2026-11-28T01:00Z", "running"]);
    assert.match(p.reason, /failed on b .*the leader takes it/);
    const onLeader: BackupClaim = { ...p.claim, state: "failed", finished: "2026-11-28T01:00:20.000Z" };
    assert.equal(plan(onLeader, Date.parse("2026-11-28T01:00:21Z")).due, false, "a failure on the leader waits before a retry");
  });
});

describe("pgBackRest's files for a backup from standby", () => {
  const cfg = backupConfigSchema.parse({
    repo: { bucket: "b-1", credentials: { source: "instanceRole" } },
    server: {
      listen: { host: "0.0.0.0" },
      connectAddress: { host: "10.0.1.11" },
      certFile: "/etc/hapg/tls/postgres/host.crt",
      keyFile: "/etc/hapg/tls/postgres/host.key",
      caFile: "/etc/hapg/tls/postgres/ca.crt",
      clients: ["pg-0", "pg-1"],
    },
  });
  const s = cfg.server!;

  it("the server admits the members' certificate names for the stanza only, with no repository setting", () => {
    const text = renderServerConf({ server: s, stanza: "main", logDir: "/l", lockDir: "/k" });
    assert.match(text, /^tls-server-address=0\.0\.0\.0$/m);
    assert.match(text, /^tls-server-port=8432$/m, "pgBackRest's default port");
    assert.match(text, /^tls-server-auth=pg-0=main$/m);
    assert.match(text, /^tls-server-auth=pg-1=main$/m);
    assert.match(text, /^tls-server-ca-file=\/etc\/hapg\/tls\/postgres\/ca\.crt$/m);
    assert.doesNotMatch(text, /repo1-/);
  });

  it("the member key advertises the connect address; the replica names the primary as pg2 with backup-standby", () => {
    const a = serverAdvert(s, { dataDir: "/srv/d", port: 5432, socketDir: "/srv/d.sock" }, "pg-0");
    assert.deepEqual(a, {
      host: "10.0.1.11",
      port: 8432,
      pg_path: "/srv/d",
      pg_port: 5432,
      pg_socket_path: "/srv/d.sock",
      reaches: "pg-0",
    });
    const conf = renderPgBackRestConf({
      stanza: "main",
      repo: cfg.repo,
      repoPath: "/main",
      endpoint: "s3.us-east-1.amazonaws.com",
      compressType: "lz4",
      processMax: 2,
      spoolDir: "/s",
      logDir: "/l",
      lockDir: "/k",
      pgUser: "postgres",
      pg1: { path: "/srv/d", port: 5432, socketPath: "/srv/d.sock" },
      pg2: primaryInstance(server("10.0.1.10"), s),
      retention: BACKUP_POLICY_DEFAULTS.retention,
    });
    for (const l of [
      "pg2-host=10.0.1.10",
      "pg2-host-type=tls",
      "pg2-host-port=8432",
      "pg2-host-cert-file=/etc/hapg/tls/postgres/host.crt",
      "pg2-path=/srv/hapg/postgres/data",
      "pg2-socket-path=/srv/hapg/postgres/data.sock",
      "backup-standby=y",
    ]) {
      assert.ok(conf.split("\n").includes(l), `${l} in\n${conf}`);
    }
  });

  it("a server certificate is accepted for a host only by a DNS name (pgBackRest 2.45 does not read IP addresses)", () => {
    assert.equal(certNamesHost("10.0.1.10", "DNS:pg-0, DNS:10.0.1.10, IP Address:10.0.1.10", "pg-0"), true);
    assert.equal(certNamesHost("10.0.1.10", "DNS:pg-0, IP Address:10.0.1.10", "pg-0"), false);
    assert.equal(certNamesHost("LOCALHOST", "DNS:localhost", undefined), true);
    assert.equal(certNamesHost("pg-0", undefined, "pg-0"), true, "no SAN: the common name");
    assert.equal(certNamesHost("pg-0", "IP Address:10.0.1.10", "pg-0"), false, "a SAN present: the common name is not read");
  });

  it("refuses a server section without clients, naming the field", () => {
    const r = backupConfigSchema.safeParse({ repo: { bucket: "b-1" }, server: { ...s, clients: [] } });
    assert.equal(r.success, false);
    assert.deepEqual(r.error?.issues[0].path, ["server", "clients"]);
  });
});

describe("backups from standby on AWS (rendered config and network rules)", () => {
  const spec = (backup: boolean) => {
    const s = colocatedPgNode(HA_DEFAULTS);
    return backup
      ? {
          ...s,
          postgres: { ...s.postgres!, backup: { bucket: "b-1", region: "us-east-1", endpoint: "s3.us-east-1.amazonaws.com", path: "/o" } },
        }
      : s;
  };

  it("every node's agent runs the TLS server on 8432 with its host certificate, admitting every PostgreSQL node name the cluster may have", () => {
    const cfg = validateAgentConfig(agentConfigForNode(spec(true)));
    assert.deepEqual(cfg.backup?.server, {
      listen: { host: "0.0.0.0", port: 8432 },
      connectAddress: { host: "10.0.0.1", port: 8432 },
      certFile: "/etc/hapg/tls/postgres/host.crt",
      keyFile: "/etc/hapg/tls/postgres/host.key",
      caFile: "/etc/hapg/tls/postgres/ca.crt",
      // Every name, not only today's nodes: scaling out changes no host's user-data (docs/day2.md).
      clients: ["pg-0", "pg-1", "pg-2", "pg-3", "pg-4", "pg-5", "pg-6", "pg-7", "pg-8"],
    });
    assert.equal(agentConfigForNode(spec(false)).backup, undefined, "backups off: no server");
  });

  it("the nodes' group opens 8432 between the nodes only, and only with backups on", () => {
    const base = { routing: "haproxy" as const, etcdPlacement: "dedicated" as const, listenerPorts: [5432, 5433] };
    const on = internalRules({ ...base, backup: true }).filter((r) => r.fromPort === NODE_PORTS.pgbackrestServer);
    assert.deepEqual(
      on.map((r) => [r.group, r.direction, r.peer]),
      [
        ["nodes", "egress", "nodes"],
        ["nodes", "ingress", "nodes"],
      ],
    );
    assert.equal(internalRules(base).filter((r) => r.fromPort === NODE_PORTS.pgbackrestServer).length, 0);
  });
});
