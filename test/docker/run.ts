/**
 * `npm run test:docker` (root, under the shared lock): HaPostgresDockerCluster on a real Docker engine.
 * Starts Debian's dockerd of its own (./engine.ts), imports the boot rehearsal's Debian 13 root file
 * system as the base image (no registry is reachable here), declares the component under the Pulumi
 * mocks and runs exactly what it declared (./declared.ts): the image built from docker/Dockerfile,
 * the network, the volumes, the etcd, node and HAProxy containers. Then, in synchronous mode, kills
 * the primary's container under writers: a new primary behind the published port, 0 acknowledged
 * writes lost, and the old node rejoining when its container is started again. Prints the figures
 * (image build cold and cached, up to healthy, write outage). Skipped, saying why, when the engine
 * cannot run. Exit code 1 on a failed check.
 */
import * as assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Client } from "pg";
import { buildDocker } from "../component/docker-build";
import type { Recorded } from "../component/mocks";
import type { HaPostgresDockerClusterArgs } from "../../lib/docker/args";
import { countLost, measureOutage, Writer } from "../../local/writer";
import { hostPackages } from "../../lib/userdata/render";
import type { HostSpec } from "../../lib/userdata/spec";
import { NODE_PATHS } from "../../lib/userdata/paths";
import { Cleanup } from "../boot/cleanup";
import { preparedRootfs, run } from "../boot/rootfs";
import { buildImage, createContainer, createNetwork, createVolume, declared } from "./declared";
import { assertSubnetFree, Engine, engineUnavailable, startEngine } from "./engine";

/** The test's network and host ports (checked free before use). */
const SUBNET = "10.231.21.0/24";
const PRIMARY_PORT = 25432;
const REPLICA_PORT = 25433;
const CLUSTER = "hapgd";

const log = (m: string) => console.log(`[docker ${new Date().toISOString().slice(11, 19)}] ${m}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The boot rehearsal's rootfs: Debian 13 with every package a node installs (the same cache key when nothing changed). */
function rootfsUserData(): string {
  const spec = { postgres: { version: 17 }, etcd: {} } as unknown as HostSpec;
  return `#cloud-config\npackages: [${hostPackages(spec).join(", ")}]\n`;
}

async function query<T extends object>(dsn: string, sql: string): Promise<T[]> {
  const c = new Client({ connectionString: dsn, connectionTimeoutMillis: 2000, query_timeout: 3000 });
  c.on("error", () => undefined);
  try {
    await c.connect();
    return (await c.query(sql)).rows as T[];
  } finally {
    await c.end().catch(() => undefined);
  }
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s${last ? ` (last error: ${last})` : ""}`);
    await sleep(250);
  }
}

/** The primary's address (behind the primary port) once it takes writes and `replicas` stream from it. */
async function healthyPrimary(dsn: string, replicas: number, notAddress?: string): Promise<string | undefined> {
  const rows = await query<{ addr: string; ro: boolean; streaming: string }>(
    dsn,
    "SELECT host(inet_server_addr()) AS addr, pg_is_in_recovery() AS ro, (SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming') AS streaming",
  );
  const r = rows[0];
  if (r.ro || r.addr === notAddress || Number(r.streaming) < replicas) return undefined;
  return r.addr;
}

async function main(): Promise<number> {
  const reason = engineUnavailable();
  if (reason) {
    log(`SKIPPED: ${reason}`);
    return 0;
  }
  const cleanup = new Cleanup();
  const stop = () => void cleanup.runAll().then(() => process.exit(130));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  const figures: string[] = [];
  try {
    await assertSubnetFree(SUBNET);
    for (const port of [PRIMARY_PORT, REPLICA_PORT]) {
      const busy = await run("ss", ["-Htln", `sport = :${port}`]);
      if (busy.trim()) throw new Error(`port ${port} is in use on this host: change PRIMARY_PORT/REPLICA_PORT in test/docker/run.ts`);
    }
    const rootfs = await preparedRootfs([rootfsUserData()], log);
    const e = await startEngine(cleanup, log);
    cleanup.add("containers", () => removeAll(e));
    const base = `hapg-debian13:${rootfs.split("rootfs-").pop()}`;
    let t = Date.now();
    await run("sh", ["-c", `tar -C "${rootfs}" -c . | docker --host "${e.host}" import - "${base}"`], { timeoutMs: 600_000 });
    figures.push(`base image imported from the rootfs (${rootfs}): ${((Date.now() - t) / 1000).toFixed(1)} s`);

    // What the component declares, with the test's subnet, ports and base image; synchronous mode (0 writes lost).
    const args: HaPostgresDockerClusterArgs = {
      subnet: SUBNET,
      listenerPorts: { primary: PRIMARY_PORT, replica: REPLICA_PORT },
      baseImage: base,
      synchronousMode: "on",
    };
    const built = await buildDocker(CLUSTER, args);
    const d = declared(built.resources);
    const cold = await buildImage(e, d.image);
    const cached = await buildImage(e, d.image);
    figures.push(`image build: cold ${cold.toFixed(1)} s, cached ${cached.toFixed(1)} s`);

    t = Date.now();
    await createNetwork(e, d.network);
    for (const v of d.volumes) await createVolume(e, v);
    for (const c of d.containers) await createContainer(e, c);
    const node0 = d.containers.find((c) => c.inputs.name === `${CLUSTER}-pg-0`)!;
    const password = node0.inputs.uploads.find((u: { file: string }) => u.file === NODE_PATHS.superuserPasswordFile).content;
    const dsn = `postgresql://postgres:${password}@127.0.0.1:${PRIMARY_PORT}/postgres`;
    const nodes = d.containers.filter((c) => /-pg-\d+$/.test(c.inputs.name));
    const byAddress = new Map(nodes.map((c) => [c.inputs.networksAdvanced[0].ipv4Address as string, c.inputs.name as string]));
    const first = await until("a primary behind the published port with every replica streaming", 180_000, () =>
      healthyPrimary(dsn, nodes.length - 1),
    );
    const upS = (Date.now() - t) / 1000;
    figures.push(`up (network, ${d.volumes.length} volumes, ${d.containers.length} containers) to healthy: ${upS.toFixed(1)} s`);
    log(`healthy: primary ${byAddress.get(first)} (${first})`);
    // HAProxy marks a replica up at its next check of /replica (every second, or 100 ms while down).
    const replicaDsn = dsn.replace(`:${PRIMARY_PORT}/`, `:${REPLICA_PORT}/`);
    await until("a replica behind the replica port", 30_000, async () =>
      (await query<{ ro: boolean }>(replicaDsn, "SELECT pg_is_in_recovery() AS ro"))[0].ro ? true : undefined,
    );

    // The operator's view, with no flag, inside a node container (the CLI config the component uploaded).
    const list = await e.docker(["exec", `${CLUSTER}-pg-0`, "hapg", "list"]);
    for (const n of nodes) assert.ok(list.includes(n.inputs.hostname), `hapg list shows ${n.inputs.hostname}:\n${list}`);
    log(`hapg list in ${CLUSTER}-pg-0:\n${list.trim()}`);
    figures.push(`patronictl list from the host: ${await patronictlList(d.containers, node0)}`);

    // The fault: the primary's container killed (SIGKILL to every process in it) under writers.
    const writer = new Writer(dsn);
    await writer.start();
    await sleep(3000);
    const victim = byAddress.get(first)!;
    const faultAt = Date.now();
    await e.docker(["kill", victim]);
    log(`killed ${victim}`);
    const second = await until("a new primary behind the published port", 120_000, () => healthyPrimary(dsn, 0, first));
    const promotedS = (Date.now() - faultAt) / 1000;
    log(`new primary ${byAddress.get(second)} after ${promotedS.toFixed(1)} s`);
    await sleep(3000);
    t = Date.now();
    await e.docker(["start", victim]);
    await until(`${victim} rejoining as a streaming replica`, 180_000, async () => {
      const rows = await query<{ n: string }>(
        dsn,
        `SELECT count(*) AS n FROM pg_stat_replication WHERE state = 'streaming' AND host(client_addr) = '${first}'`,
      );
      return Number(rows[0].n) === 1 ? true : undefined;
    });
    const rejoinS = (Date.now() - t) / 1000;
    await sleep(1000);
    const result = await writer.stop();
    const outage = measureOutage(result, faultAt);
    const lost = await countLost(dsn, result.ackedIds);
    figures.push(
      `primary container killed: new primary in ${promotedS.toFixed(1)} s, longest write pause ${((outage.gapMs ?? NaN) / 1000).toFixed(1)} s, ` +
        `${result.ackedIds.length} writes acknowledged, ${lost.lost} lost; old node rejoined ${rejoinS.toFixed(1)} s after its start`,
    );
    assert.equal(lost.lost, 0, `acknowledged writes lost: ${lost.sample.join(", ")}`);
    const after = await e.docker(["exec", victim, "hapg", "list"]);
    log(`hapg list after the rejoin:\n${after.trim()}`);

    // A changed setting, as the next `pulumi up` declares it: only the config writer differs; replacing it applies the setting live.
    const next = declared((await buildDocker(CLUSTER, { ...args, postgres: { parameters: { work_mem: "7MB" } } })).resources);
    const changed = next.containers.filter(
      (c) => JSON.stringify(c.inputs) !== JSON.stringify(d.containers.find((x) => x.name === c.name)?.inputs),
    );
    assert.deepEqual(
      changed.map((c) => c.name),
      [`${CLUSTER}-config`],
    );
    t = Date.now();
    await e.docker(["rm", "-f", changed[0].inputs.name]);
    await createContainer(e, changed[0]);
    await until("work_mem 7MB on the primary, applied live", 60_000, async () =>
      (await query<{ work_mem: string }>(dsn, "SHOW work_mem"))[0].work_mem === "7MB" ? true : undefined,
    );
    figures.push(
      `a changed setting (work_mem) live on the primary ${((Date.now() - t) / 1000).toFixed(1)} s after the config container's replacement, no node replaced`,
    );
    log("PASSED");
    return 0;
  } catch (err) {
    log(`FAILED: ${(err as Error).stack ?? err}`);
    return 1;
  } finally {
    for (const f of figures) log(`figure: ${f}`);
    const failed = await cleanup.runAll();
    for (const f of failed) log(`cleanup failed: ${f}`);
  }
}

/** Patroni's own client on the host against the containers' etcd (on the test's bridge): its members and their roles. */
async function patronictlList(containers: Recorded[], node: Recorded): Promise<string> {
  try {
    await run("sh", ["-c", "command -v patronictl"]);
  } catch {
    return "skipped (no patronictl: apt-get install patroni)";
  }
  const agent = JSON.parse(node.inputs.uploads.find((u: { file: string }) => u.file === NODE_PATHS.agentConfig).content);
  const password = node.inputs.uploads.find((u: { file: string }) => u.file === NODE_PATHS.apiPasswordFile).content;
  const hosts = (agent.etcd.endpoints as string[]).map((u) => new URL(u).host).join(",");
  const file = join(mkdtempSync(join(tmpdir(), "hapg-docker-patronictl-")), "patronictl.yml");
  const yaml = [
    `scope: ${agent.cluster}`,
    `namespace: /${agent.namespace}/`,
    "etcd3:",
    `  hosts: ${hosts}`,
    "restapi:",
    "  authentication:",
  ];
  yaml.push(`    username: ${agent.api.authentication.username}`, `    password: ${JSON.stringify(password)}`, "");
  writeFileSync(file, yaml.join("\n"), { mode: 0o600 });
  try {
    const rows = JSON.parse(await run("patronictl", ["-c", file, "list", "-f", "json"])) as Array<{ Member: string; Role: string }>;
    const nodes = containers.filter((c) => /-pg-\d+$/.test(c.inputs.name)).map((c) => c.inputs.hostname as string);
    assert.deepEqual(rows.map((r) => r.Member).sort(), nodes.sort(), "patronictl lists every node");
    assert.equal(rows.filter((r) => r.Role === "Leader").length, 1, "one leader");
    return rows.map((r) => `${r.Member} ${r.Role}`).join(", ");
  } finally {
    rmSync(dirname(file), { recursive: true, force: true });
  }
}

/** Every container of this engine (the test's own: its engine runs nothing else), then networks and volumes. */
async function removeAll(e: Engine): Promise<void> {
  const ids = (await e.docker(["ps", "-aq"])).split("\n").filter(Boolean);
  if (ids.length) await e.docker(["rm", "-f", "-v", ...ids], { timeoutMs: 120_000 });
  await e.docker(["network", "prune", "-f"]);
  await e.docker(["volume", "prune", "-f"]);
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
