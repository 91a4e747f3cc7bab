/** `hapg backup` through a member's API: who takes it, the claim in etcd, and its end recorded. pgBackRest and etcd faked. */
import assert from "node:assert/strict";
import type { StanzaInfo } from "../../sidecar/backup/pgbackrest";
import { BackupService } from "../../sidecar/backup/service";
import { backupConfigSchema } from "../../sidecar/contract/backup-config";
import { BACKUP_POLICY_DEFAULTS } from "../../sidecar/contract/settings/backup";
import { MemoryDcs, MemoryEtcd } from "../helpers/memory-dcs";
import { sampleMemberData } from "../helpers/member-fixture";
import { silentLogger } from "../helpers/silent-logger";
import { backupClaim } from "../helpers/backup-claim";
import type { ClusterSnapshot } from "../../sidecar/dcs/types";

const info: StanzaInfo = { status: { code: 0, message: "ok" }, backups: [] };

function service(name: string, dcs: MemoryDcs, backup: () => Promise<void>, cluster?: () => ClusterSnapshot | undefined) {
  const calls: string[] = [];
  const s = new BackupService({
    cluster: "main",
    name,
    dataDir: "/nonexistent/data",
    socketDir: "/nonexistent/data.sock",
    pgPort: 5432,
    superuser: "postgres",
    backup: backupConfigSchema.parse({ repo: { bucket: "b-ucket" } }),
    policy: BACKUP_POLICY_DEFAULTS,
    dcs,
    view: () => ({ holdsLeader: name === "a", pg: { running: true, inRecovery: name !== "a" }, cluster: cluster?.() }),
    log: silentLogger(),
    runner: {
      stanzaCreate: async () => void calls.push("stanza-create"),
      backup: async (o) => {
        calls.push(`backup ${o.type}`);
        await backup();
      },
      info: async () => ({ ...info, backups: [{ label: "L1F", type: "full", start: 0, stop: 1, size: 1, repoSize: 1 }] }),
      restore: async () => undefined,
    },
  });
  return { s, calls };
}

async function withMembers(dcs: MemoryDcs, lease: string) {
  await dcs.attemptAcquireLeader("a", lease);
  for (const [n, role] of [
    ["a", "primary"],
    ["b", "replica"],
  ] as const) {
    await dcs.putMember(n, sampleMemberData({ role, api_url: `http://10.0.0.${n === "a" ? 1 : 2}:8008/patroni` }), lease);
  }
}

describe("backup service: hapg backup", () => {
  let dcs: MemoryDcs;
  beforeEach(async () => {
    dcs = new MemoryDcs(new MemoryEtcd(() => Date.now()), "/service/main/");
    await withMembers(dcs, await dcs.grantLease(30));
  });

  it("a replica's API names the member that takes it (the leader) and writes nothing", async () => {
    const { s } = service("b", dcs, async () => undefined);
    const r = await s.requestBackup("diff");
    assert.equal(r.status, 409);
    assert.equal(r.body.member, "a");
    assert.equal(r.body.api_url, "http://10.0.0.1:8008/patroni");
    assert.equal((await dcs.load()).backup, undefined);
  });

  it("the leader claims a manual slot, runs it and records its end; a second request meanwhile is refused", async () => {
    let finish!: () => void;
    const { s, calls } = service("a", dcs, () => new Promise<void>((r) => (finish = r)));
    const r = await s.requestBackup("diff");
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.match(String(r.body.slot), /^manual:/);
    const claim = (await dcs.load()).backup!.claim;
    assert.deepEqual([claim.member, claim.type, claim.state], ["a", "diff", "running"]);
    assert.equal((await s.requestBackup("full")).status, 409, "one at a time");
    assert.equal(s.view().running?.type, "diff");
    finish();
    for (let i = 0; i < 50 && (await dcs.load()).backup!.claim.state === "running"; i++) await new Promise((x) => setTimeout(x, 10));
    const done = (await dcs.load()).backup!.claim;
    assert.deepEqual([done.state, done.label], ["done", "L1F"]);
    assert.deepEqual(calls, ["stanza-create", "backup diff"]);
    assert.equal(s.view().last?.state, "done");
  });

  it("a failed backup is recorded as failed with pgBackRest's reason", async () => {
    const { s } = service("a", dcs, async () => {
      throw new Error("pgbackrest backup failed (exit 49): unable to connect");
    });
    assert.equal((await s.requestBackup("full")).status, 202);
    for (let i = 0; i < 50 && (await dcs.load()).backup!.claim.state === "running"; i++) await new Promise((x) => setTimeout(x, 10));
    const c = (await dcs.load()).backup!.claim;
    assert.equal(c.state, "failed");
    assert.match(c.error!, /unable to connect/);
    assert.match(s.view().problem!, /failed: pgbackrest backup failed/);
  });

  it("its own claim left running by an agent restart, for a slot another member takes now: handed over, then taken and done", async () => {
    const stale = backupClaim({ slot: "manual:2026-12-08T03:36:14.455Z", member: "b", state: "running", finished: undefined });
    assert.equal(await dcs.attemptPutBackup(undefined, stale), true);
    let snap = await dcs.load();
    const b = service(
      "b",
      dcs,
      async () => undefined,
      () => snap,
    );
    const a = service(
      "a",
      dcs,
      async () => undefined,
      () => snap,
    );
    const waitClaim = async (ok: (c: ClusterSnapshot["backup"]) => boolean) => {
      for (let i = 0; i < 100 && !ok((await dcs.load()).backup); i++) await new Promise((x) => setTimeout(x, 10));
      return (await dcs.load()).backup!.claim;
    };
    b.s.start(); // b restarted: it runs nothing, and the leader a takes backups now
    const handed = await waitClaim((x) => x?.claim.member === "a");
    await b.s.stop();
    assert.deepEqual([handed.slot, handed.member, handed.state], [stale.slot, "a", "running"]);
    snap = await dcs.load();
    a.s.start();
    const done = await waitClaim((x) => x?.claim.state === "done");
    await a.s.stop();
    assert.deepEqual([done.slot, done.member, done.state], [stale.slot, "a", "done"]);
    assert.ok(a.calls.includes("backup full"), a.calls.join(", "));
    assert.deepEqual(b.calls, [], "b ran nothing");
  });
});
