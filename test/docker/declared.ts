/**
 * Runs on a real engine exactly what the component declared under the mocks: each recorded
 * docker:Image, Network, Volume and Container, its inputs turned into the docker CLI call the
 * provider's API call amounts to (one function per resource type, no value written here twice).
 * An input this file does not know fails the run, so a new input of the component cannot be
 * silently left out of the real test.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { Recorded } from "../component/mocks";
import { D } from "../component/docker-build";
import { run } from "../boot/rootfs";
import type { Engine } from "./engine";

/** Inputs of a container this translation knows (every other one fails the run). */
const CONTAINER_INPUTS = new Set([
  "name",
  "hostname",
  "image",
  "labels",
  "networksAdvanced",
  "restart",
  "stopTimeout",
  "destroyGraceSeconds",
  "init",
  "user",
  "command",
  "envs",
  "volumes",
  "uploads",
  "shmSize",
  "healthcheck",
  "ports",
  "mustRun",
  "attach",
]);

export function ofType(resources: Recorded[], type: string): Recorded[] {
  return resources.filter((r) => r.type === type);
}

/** `docker build` of the declared image (context, Dockerfile, build args, tag); returns the seconds it took. */
export async function buildImage(e: Engine, image: Recorded): Promise<number> {
  const b = image.inputs.build;
  const args = Object.entries(b.args as Record<string, string>).flatMap(([k, v]) => ["--build-arg", `${k}=${v}`]);
  const t0 = Date.now();
  await e.docker(["build", "-q", "-t", image.inputs.imageName, "-f", join(b.context, b.dockerfile), ...args, b.context], {
    timeoutMs: 900_000,
  });
  return (Date.now() - t0) / 1000;
}

export async function createNetwork(e: Engine, n: Recorded): Promise<void> {
  const ipam = (n.inputs.ipamConfigs as Array<{ subnet: string; gateway: string }>).flatMap((c) => [
    "--subnet",
    c.subnet,
    "--gateway",
    c.gateway,
  ]);
  await e.docker(["network", "create", "--driver", n.inputs.driver, ...ipam, ...labelFlags(n.inputs.labels), n.inputs.name]);
}

export async function createVolume(e: Engine, v: Recorded): Promise<void> {
  await e.docker(["volume", "create", ...labelFlags(v.inputs.labels), v.inputs.name]);
}

/**
 * `docker create`, the uploads copied in (as the provider does before it starts a container), then
 * `docker start`. The image is the declared one: under the mocks the digest is unknown, so the
 * component falls back to the image name the build tagged.
 */
export async function createContainer(e: Engine, c: Recorded): Promise<void> {
  const i = c.inputs;
  const unknown = Object.keys(i).filter((k) => !CONTAINER_INPUTS.has(k));
  if (unknown.length) throw new Error(`container ${c.name}: inputs ${unknown.join(", ")} are not translated by test/docker/declared.ts`);
  const net = i.networksAdvanced[0] as { name: string; ipv4Address: string };
  const flags = [
    "--name",
    i.name,
    "--hostname",
    i.hostname,
    "--network",
    net.name,
    "--ip",
    net.ipv4Address,
    "--restart",
    i.restart,
    "--stop-timeout",
    String(i.stopTimeout),
    ...labelFlags(i.labels),
    ...(i.init ? ["--init"] : []),
    ...(i.user ? ["--user", i.user] : []),
    ...((i.envs ?? []) as string[]).flatMap((v) => ["--env", v]),
    ...((i.volumes ?? []) as Array<{ volumeName: string; containerPath: string; readOnly?: boolean }>).flatMap((v) => [
      "--volume",
      `${v.volumeName}:${v.containerPath}${v.readOnly ? ":ro" : ""}`,
    ]),
    ...(i.shmSize ? ["--shm-size", `${i.shmSize}m`] : []),
    ...healthFlags(i.healthcheck),
    ...((i.ports ?? []) as Array<{ internal: number; external: number; ip: string }>).flatMap((p) => [
      "--publish",
      `${p.ip}:${p.external}:${p.internal}`,
    ]),
  ];
  await e.docker(["create", ...flags, i.image, ...(i.command as string[])]);
  if (i.uploads?.length) await upload(e, i.name, i.uploads);
  await e.docker(["start", i.name]);
  // attach: the provider waits for the container to end, and fails on a non-zero exit.
  if (i.attach) {
    const code = (await e.docker(["wait", i.name])).trim();
    if (code !== "0") throw new Error(`container ${i.name} exited ${code}: ${await e.docker(["logs", i.name]).catch(() => "")}`);
  }
}

function labelFlags(labels: Array<{ label: string; value: string }> | undefined): string[] {
  return (labels ?? []).flatMap((l) => ["--label", `${l.label}=${l.value}`]);
}

function healthFlags(h: { tests: string[]; interval: string; timeout: string; retries: number } | undefined): string[] {
  if (!h) return [];
  if (h.tests[0] !== "CMD") throw new Error(`healthcheck ${h.tests[0]}: only CMD is translated`);
  // The CLI takes a shell command; the exec form's arguments are quoted for sh.
  const cmd = h.tests
    .slice(1)
    .map((a) => `'${a.replace(/'/g, "'\\''")}'`)
    .join(" ");
  return ["--health-cmd", cmd, "--health-interval", h.interval, "--health-timeout", h.timeout, "--health-retries", String(h.retries)];
}

/** The uploads as one tar stream owned by root with their declared modes (what the provider sends to Docker's archive API). */
async function upload(e: Engine, container: string, uploads: Array<{ file: string; content: string; permissions: string }>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "hapg-docker-upload-"));
  try {
    for (const u of uploads) {
      const path = join(dir, u.file);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, u.content);
      chmodSync(path, parseInt(u.permissions, 8));
    }
    // Files only, no directory entries: the container's own directories keep their modes, and missing parents are made 0755.
    const tar = `${dir}.tar`;
    const files = uploads.map((u) => u.file.replace(/^\//, ""));
    await run("tar", ["-C", dir, "--owner=0", "--group=0", "--numeric-owner", "--no-recursion", "-cf", tar, ...files]);
    try {
      await run("sh", ["-c", `docker --host "${e.host}" cp - "${container}:/" < "${tar}"`]);
    } finally {
      rmSync(tar, { force: true });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Every declared resource of type `type`, in declaration order. */
export function declared(resources: Recorded[]) {
  return {
    image: ofType(resources, D.image)[0],
    network: ofType(resources, D.network)[0],
    volumes: ofType(resources, D.volume),
    containers: ofType(resources, D.container),
  };
}
