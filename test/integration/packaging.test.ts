/**
 * What ships is what runs: the npm package holds the built component, the agent and the operator CLI
 * (no tests, fixtures, snapshots, source maps, nor the local cluster), and the agent bundle a node
 * downloads holds only the modules the agent loads and the production packages — and the agent
 * starts from that bundle alone. The packed tarball, installed into a fresh Pulumi program, runs the
 * README's five-line program under Pulumi's mocks and its `hapg`.
 * Runs `npm pack`, `npm install` (the npm registry only; the Pulumi peers are linked from this
 * checkout), tsc and node; no ports, no cluster.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { agentBundleContents, NODE_ENTRY, packageRoot } from "../../lib/bundle/agent-bundle";
import { AGENT_VERSION } from "../../sidecar/contract/version";

const root = packageRoot();
/** The Pulumi peers (package.json's peerDependencies, the optional @pulumi/docker included). */
const PEERS = Object.keys(
  (JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { peerDependencies: object }).peerDependencies,
);

/** The README's five-line program: its first TypeScript block that imports the package. */
export function readmeProgram(readme: string): string {
  const block = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]).find((b) => b.includes('from "ha-postgres-cluster"'));
  if (!block) throw new Error('README.md: no ```ts block imports "ha-postgres-cluster"');
  return block;
}

/**
 * Upper bound of the unpacked agent bundle. Every node downloads it from S3 at first boot, so it
 * should stay small; today it is about 10 MB, most of it zod (about 6 MB: its locales and both module
 * formats). The bound is there to catch a dev dependency slipping into the production set (the
 * @pulumi/aws SDK alone is over 100 MB, typescript over 20 MB) or test output in the bundle.
 */
const BUNDLE_LIMIT_BYTES = 16 * 1024 * 1024;

function bytesOf(p: string): number {
  const st = fs.lstatSync(p);
  if (!st.isDirectory()) return st.size;
  return fs.readdirSync(p).reduce((sum, e) => sum + bytesOf(path.join(p, e)), 0);
}

describe("packaging", function () {
  this.timeout(120_000);

  describe("npm pack", () => {
    let files: string[];
    before(() => {
      // --ignore-scripts: prepack would rebuild dist/ while this suite runs from it.
      const r = spawnSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: root, encoding: "utf8", timeout: 60_000 });
      assert.equal(r.status, 0, r.stderr);
      files = (JSON.parse(r.stdout) as { files: { path: string }[] }[])[0].files.map((f) => f.path);
    });

    it("ships the component, the agent, its docs and README", () => {
      for (const f of ["package.json", "README.md", "docs/architecture.md", "dist/lib/index.js", "dist/lib/index.d.ts", NODE_ENTRY]) {
        assert.ok(files.includes(f), `${f} is missing from the package`);
      }
    });

    it("ships no tests, fixtures, snapshots, examples or source maps", () => {
      const unwanted = files.filter(
        (f) =>
          f.startsWith("dist/test/") ||
          /\.test\.|__snapshots__|fixtures|\.map$|tsbuildinfo/.test(f) ||
          !/^(dist\/(lib|sidecar)\/|docs\/|docker\/Dockerfile$|README\.md$|package\.json$|LICENSE$)/.test(f),
      );
      assert.deepEqual(unwanted, []);
    });

    it("ships no compiled file without a source (left over from an older build: run npm run clean && npm run build)", () => {
      const orphans = files
        .filter((f) => f.startsWith("dist/") && f.endsWith(".js"))
        .filter((f) => !fs.existsSync(path.join(root, f.replace(/^dist\//, "").replace(/\.js$/, ".ts"))));
      assert.deepEqual(orphans, []);
    });
  });

  describe("agent bundle", () => {
    const contents = agentBundleContents(root);

    it("holds the modules a node loads and nothing of the tests, the component or the local cluster", () => {
      const onNode = [
        "dist/sidecar/api/metrics.js",
        "dist/sidecar/http/transport.js",
        "dist/sidecar/cli/ops-source.js",
        "dist/sidecar/cli/ops-render.js",
        // `hapg list` on a node with no flag reads the CLI config the user-data wrote.
        "dist/sidecar/contract/cli-config.js",
      ];
      for (const f of [
        "package.json",
        NODE_ENTRY,
        "dist/sidecar/agent.js",
        "dist/sidecar/boot/node-init.js",
        "dist/sidecar/contract/version.js",
        ...onNode,
      ]) {
        assert.ok(contents.files.includes(f), `${f} is missing from the bundle`);
      }
      const unwanted = contents.files.filter((f) => f !== "package.json" && (!f.startsWith("dist/sidecar/") || !f.endsWith(".js")));
      assert.deepEqual(unwanted, [], "only compiled agent modules (no maps, declarations, tests, lib/, local/)");
    });

    it("stays within its size budget (printed)", () => {
      const dist = contents.files.reduce((s, f) => s + bytesOf(path.join(root, f)), 0);
      const pkgs = contents.packages.reduce((s, p) => s + bytesOf(path.join(root, p)), 0);
      const mb = (b: number) => `${(b / 1024 / 1024).toFixed(2)} MB`;
      console.log(
        `      agent bundle (unpacked): ${mb(dist + pkgs)} = ${contents.files.length} files ${mb(dist)} + ${contents.packages.length} packages ${mb(pkgs)}`,
      );
      assert.ok(dist + pkgs < BUNDLE_LIMIT_BYTES, `${mb(dist + pkgs)} is over the ${mb(BUNDLE_LIMIT_BYTES)} budget`);
    });

    describe("unpacked alone in a directory", () => {
      let dir: string;
      const cli = () => path.join(dir, NODE_ENTRY);
      const run = (args: string[]) => spawnSync(process.execPath, args, { cwd: dir, encoding: "utf8", timeout: 30_000 });

      before(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "hapg-bundle-"));
        for (const f of [...contents.files, ...contents.packages]) fs.cpSync(path.join(root, f), path.join(dir, f), { recursive: true });
      });
      after(() => fs.rmSync(dir, { recursive: true, force: true }));

      it("loads neither the operator commands nor the metrics exporter where the agent starts (they load when used)", () => {
        const probe = `require(${JSON.stringify(cli())}); console.log(JSON.stringify(Object.keys(require.cache)))`;
        const r = run(["-e", probe]);
        assert.equal(r.status, 0, r.stderr);
        const loaded = (JSON.parse(r.stdout) as string[]).map((f) => path.relative(dir, f));
        assert.ok(loaded.includes(path.join("dist", "sidecar", "agent.js")), "the probe loaded the CLI");
        const lazy = loaded.filter((f) => /cli[/\\]ops-|api[/\\]metrics|prom-client/.test(f));
        assert.deepEqual(lazy, []);
      });

      it("runs the CLI with the version of package.json", () => {
        const r = run([cli(), "--version"]);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout.trim(), AGENT_VERSION);
        assert.equal(AGENT_VERSION, (JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { version: string }).version);
      });

      it("validates an agent config and loads node-init", () => {
        const cfg = path.join(dir, "agent.json");
        fs.writeFileSync(
          cfg,
          JSON.stringify({
            cluster: "main",
            name: "node1",
            etcd: { endpoints: ["http://127.0.0.1:2379"] },
            postgres: {
              dataDir: path.join(dir, "data"),
              listen: { host: "127.0.0.1", port: 5432 },
              superuser: { passwordFile: path.join(dir, "su") },
              replication: { passwordFile: path.join(dir, "rep") },
            },
            api: { listen: { host: "127.0.0.1", port: 8008 } },
            watchdog: { mode: "off" },
          }),
        );
        const check = run([cli(), "check-config", "--config", cfg]);
        assert.equal(check.status, 0, check.stderr);
        const init = run(["-e", `require(${JSON.stringify(path.join(dir, "dist/sidecar/boot/node-init.js"))})`]);
        assert.equal(init.status, 0, init.stderr);
      });

      it("offers no `hapg local` (a development tool: local/main.ts)", () => {
        const r = run([cli(), "local", "status"]);
        assert.equal(r.status, 1);
        assert.match(r.stderr, /unknown command 'local'/);
      });
    });
  });

  describe("installed from the tarball into a fresh Pulumi program", () => {
    let dir: string;
    let app: string;
    const run = (cmd: string, args: string[], timeout = 60_000) => spawnSync(cmd, args, { cwd: app, encoding: "utf8", timeout });

    before(function () {
      this.timeout(300_000);
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "hapg-pack-"));
      app = path.join(dir, "app");
      fs.mkdirSync(app);
      // --ignore-scripts: prepack would rebuild dist/ while this suite runs from it.
      const pack = spawnSync("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", dir], {
        cwd: root,
        encoding: "utf8",
        timeout: 120_000,
      });
      assert.equal(pack.status, 0, pack.stderr);
      const tarball = path.join(dir, (JSON.parse(pack.stdout) as { filename: string }[])[0].filename);
      fs.writeFileSync(
        path.join(app, "package.json"),
        JSON.stringify({ name: "app", private: true, dependencies: { "ha-postgres-cluster": `file:${tarball}` } }),
      );
      // The package's own dependencies come from the npm registry (or the cache); the Pulumi peers,
      // hundreds of MB, are linked from this checkout after the install (--legacy-peer-deps: npm leaves them to us).
      const install = run("npm", ["install", "--prefer-offline", "--legacy-peer-deps", "--no-audit", "--no-fund"], 240_000);
      assert.equal(install.status, 0, install.stderr);
      fs.mkdirSync(path.join(app, "node_modules", "@pulumi"), { recursive: true });
      for (const p of PEERS) fs.symlinkSync(path.join(root, "node_modules", p), path.join(app, "node_modules", p), "dir");
      fs.writeFileSync(path.join(app, "index.ts"), readmeProgram(fs.readFileSync(path.join(root, "README.md"), "utf8")));
      fs.writeFileSync(
        path.join(app, "tsconfig.json"),
        JSON.stringify({
          compilerOptions: {
            target: "ES2022",
            module: "commonjs",
            strict: true,
            esModuleInterop: true,
            skipLibCheck: true,
            types: [],
            outDir: "out",
          },
          files: ["index.ts"],
        }),
      );
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("the README's program has five lines", () => {
      assert.ok(fs.readFileSync(path.join(app, "index.ts"), "utf8").trim().split("\n").length <= 5);
    });

    it("type-checks the README's five-line program against the installed package (tsc)", () => {
      const r = run(process.execPath, [path.join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "."]);
      assert.equal(r.status, 0, r.stdout + r.stderr);
    });

    it("runs it under Pulumi's mocks: the component and its children, the endpoint exported", () => {
      // The component tests' mocks (AWS's rules) load the same @pulumi/pulumi the installed package does (the linked peer).
      const probe = `
        const m = require(${JSON.stringify(path.join(root, "dist", "test", "component", "mocks.js"))});
        const program = require("./out/index.js");
        m.valueOf(program.endpoint).then(async (endpoint) => {
          await m.quiesce();
          const types = [...new Set(m.recorded.map((r) => r.type))];
          console.log(JSON.stringify({ endpoint, types }));
        });`;
      const r = run(process.execPath, ["-e", probe]);
      assert.equal(r.status, 0, r.stderr);
      const { endpoint, types } = JSON.parse(r.stdout.trim().split("\n").pop()!) as { endpoint: string; types: string[] };
      assert.match(endpoint, /\.elb\..*amazonaws\.com$/);
      for (const t of [
        "ha-postgres:index:HaPostgresCluster",
        "aws:autoscaling/group:Group",
        "aws:ec2/launchTemplate:LaunchTemplate",
        "aws:lb/loadBalancer:LoadBalancer",
        "aws:s3/bucketObjectv2:BucketObjectv2",
      ]) {
        assert.ok(types.includes(t), `no ${t} among ${types.join(", ")}`);
      }
    });

    it("builds the agent bundle from the installed package and its dependencies (no package-lock.json ships)", () => {
      const probe = `const b = require("ha-postgres-cluster/dist/lib/bundle/agent-bundle.js"); console.log(JSON.stringify(b.agentBundleContents()))`;
      const r = run(process.execPath, ["-e", probe]);
      assert.equal(r.status, 0, r.stderr);
      const c = JSON.parse(r.stdout) as { files: string[]; packages: string[]; packagesBase: string };
      assert.equal(fs.realpathSync(c.packagesBase), fs.realpathSync(app));
      for (const p of ["node_modules/pg", "node_modules/zod", "node_modules/commander", "node_modules/pino"])
        assert.ok(c.packages.includes(p), `${p} is missing`);
      assert.deepEqual(
        c.packages.filter((p) => p.includes("@pulumi") || !fs.existsSync(path.join(app, p))),
        [],
      );
      assert.ok(c.files.includes(NODE_ENTRY));
    });

    it("runs the installed hapg: --help lists the agent and the operator commands, --version the package's", () => {
      const hapg = path.join(app, "node_modules", ".bin", "hapg");
      const help = run(hapg, ["--help"]);
      assert.equal(help.status, 0, help.stderr);
      for (const c of ["agent", "check-config", "node-init", "list", "switchover", "restart", "edit-config"])
        assert.match(help.stdout, new RegExp(`\\n  ${c}\\b`));
      assert.doesNotMatch(help.stdout, /\n {2}local\b/);
      const version = run(hapg, ["--version"]);
      assert.equal(version.stdout.trim(), AGENT_VERSION);
    });
  });
});
