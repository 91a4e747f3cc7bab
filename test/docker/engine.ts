/**
 * Debian's Docker engine (`docker.io`), started by the test and only for it: its own data root, exec
 * root, pid file and socket in a temporary directory, so nothing collides with another engine or
 * test. Networking is closed: no default bridge (`--bridge=none`), no iptables rules, no IP
 * forwarding, no masquerade — containers reach only each other and the host on the bridge of the
 * network the test creates (whose subnet is checked free first); published ports go through
 * docker-proxy on the host's loopback. Stopped by its pid at the end.
 */
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { overlaps } from "../../local/netns";
import { run } from "../boot/rootfs";
import { Cleanup } from "../boot/cleanup";

export interface Engine {
  /** DOCKER_HOST for the docker CLI. */
  host: string;
  dir: string;
  pid: number;
  /** Runs the docker CLI against this engine. */
  docker(args: string[], opts?: { timeoutMs?: number; input?: string }): Promise<string>;
}

/** Why the engine cannot run here, or undefined. */
export function engineUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "the Docker engine needs root (run as root: npm run test:docker)";
  const has = (cmd: string) => {
    try {
      execFileSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  };
  // scripts/ensure-deps.sh --docker (npm run test:docker) installs it as root, as it does etcd.
  if (!has("dockerd")) return "dockerd is missing: run bash scripts/ensure-deps.sh --docker as root (installs Debian's docker.io)";
  if (!has("docker")) return "the docker CLI is missing: apt-get install docker.io (or docker-cli)";
  if (!existsSync("/sys/fs/cgroup")) return "no cgroup file system at /sys/fs/cgroup";
  return undefined;
}

/** Throws, naming the clash, if a route or address of the host overlaps `subnet`. */
export async function assertSubnetFree(subnet: string): Promise<void> {
  const routes = (await run("ip", ["-4", "-o", "route", "show"])).split("\n").map((l) => l.split(" ").find((t) => /^\d/.test(t)) ?? "");
  const addrs = (await run("ip", ["-4", "-o", "addr", "show"])).split("\n").map((l) => / inet (\S+)/.exec(l)?.[1] ?? "");
  const clash = [...routes, ...addrs].filter((c) => c && overlaps(c, subnet));
  if (clash.length)
    throw new Error(`the test's subnet ${subnet} overlaps ${clash.join(", ")} on this host: change SUBNET in test/docker/run.ts`);
}

/** Starts dockerd; its stop (by pid) and the removal of its directory are registered in `cleanup`. */
export async function startEngine(cleanup: Cleanup, log: (m: string) => void): Promise<Engine> {
  const dir = mkdtempSync(join(tmpdir(), "hapg-dockerd-"));
  cleanup.add(`engine directory ${dir}`, () => removeEngineDir(dir));
  const host = `unix://${join(dir, "docker.sock")}`;
  const out = openSync(join(dir, "dockerd.log"), "a");
  const child: ChildProcess = spawn(
    "dockerd",
    [
      `--data-root=${join(dir, "data")}`,
      `--exec-root=${join(dir, "exec")}`,
      `--pidfile=${join(dir, "dockerd.pid")}`,
      `--host=${host}`,
      "--bridge=none",
      "--iptables=false",
      "--ip-forward=false",
      "--ip-masq=false",
      "--storage-driver=overlay2",
      // Its own containerd namespaces, so it never sees another engine's containers.
      "--containerd-namespace=hapg-test",
      "--containerd-plugins-namespace=hapg-test-plugins",
    ],
    { stdio: ["ignore", out, out] },
  );
  const pid = child.pid!;
  cleanup.add(`dockerd (pid ${pid})`, () => stopEngine(child, dir));
  const docker = (args: string[], opts: { timeoutMs?: number; input?: string } = {}) =>
    run("docker", ["--host", host, ...args], { timeoutMs: opts.timeoutMs ?? 120_000, input: opts.input });
  for (const deadline = Date.now() + 60_000; ;) {
    if (child.exitCode !== null) throw new Error(`dockerd exited (${child.exitCode}): ${tail(join(dir, "dockerd.log"))}`);
    try {
      const v = await docker(["version", "--format", "{{.Server.Version}}"], { timeoutMs: 5000 });
      log(`Docker engine ${v.trim()} up (pid ${pid}, ${dir})`);
      return { host, dir, pid, docker };
    } catch (e) {
      if (Date.now() > deadline)
        throw new Error(`dockerd did not answer within 60 s: ${(e as Error).message}\n${tail(join(dir, "dockerd.log"))}`, { cause: e });
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** SIGTERM to dockerd (it stops its containers and its containerd), SIGKILL after 30 s. */
async function stopEngine(child: ChildProcess, dir: string): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  await exited;
  clearTimeout(timer);
  // A containerd it started outlives a SIGKILLed dockerd: stop it by its own pid file.
  const containerdPid = join(dir, "exec", "containerd", "containerd.pid");
  if (existsSync(containerdPid)) {
    const pid = Number(readFileSync(containerdPid, "utf8"));
    try {
      process.kill(pid, 0);
      process.kill(pid, "SIGTERM");
    } catch {
      // already gone
    }
  }
}

async function removeEngineDir(dir: string): Promise<void> {
  const mounts = readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[1])
    .filter((m) => m && m.startsWith(`${dir}/`))
    .reverse();
  for (const m of mounts) await run("umount", ["-l", m]).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
}

function tail(file: string): string {
  return existsSync(file) ? readFileSync(file, "utf8").split("\n").slice(-15).join("\n") : "";
}
