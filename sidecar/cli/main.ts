#!/usr/bin/env node
/**
 * The `hapg` CLI: `agent` runs the node agent; `list`, `history`, `topology`, `show-config` read a
 * running cluster; `switchover`, `failover`, `restart`, `reload`, `reinit`, `pause`, `resume`, `edit-config`
 * operate it. (`hapg local`, a whole cluster on one machine, is a development tool: local/main.ts.)
 */
import "../runtime";
import { existsSync } from "node:fs";
import { Command } from "commander";
import { runAgent } from "../agent";
import { loadAgentConfig } from "../config/load";
import { ConfigError } from "../contract/agent-config";
import { AGENT_VERSION } from "../contract/version";
import { missingDeviceProblem } from "../watchdog/plan";
import { registerConfigCommands } from "./config-cmds";
import { registerPromoteClusterCommand } from "./promote-cluster";
import { registerOpsCommands } from "./ops";
import { registerRestartCommands } from "./restart";
import { registerSwitchoverCommands } from "./switchover";
import { registerBackupCommands } from "./backup";
import { registerDay2Commands } from "./day2";

export function buildProgram(): Command {
  const program = new Command("hapg")
    .description("Highly available PostgreSQL: the node agent and the operator commands")
    .version(AGENT_VERSION);
  program
    .command("agent")
    .description("run the HA agent for one PostgreSQL node (leader election, failover, REST API)")
    .requiredOption("-c, --config <file>", "agent config file (YAML or JSON)")
    .action(async (opts: { config: string }) => {
      await runAgent(loadAgentConfig(opts.config), opts.config);
    });
  program
    .command("check-config")
    .description("validate an agent config file and print the effective settings (passwords are never read)")
    .requiredOption("-c, --config <file>", "agent config file (YAML or JSON)")
    .action((opts: { config: string }) => {
      const config = loadAgentConfig(opts.config);
      // What the agent would refuse at start on this machine, beyond the file itself.
      const missing = missingDeviceProblem(config.watchdog.mode, config.watchdog.device, existsSync(config.watchdog.device));
      if (missing) throw new Error(missing);
      console.log(JSON.stringify(config, null, 2));
    });
  program
    .command("node-init")
    .description("on an AWS node at boot: fetch this node's secrets from SSM and write the agent config and password files (0600)")
    .requiredOption("--plan <file>", "the node-init plan the user-data wrote (JSON)")
    .option("--refresh", "periodic refresh (a timer): rewrite only the files whose parameter changed, then reload what reads them")
    .action(async (opts: { plan: string; refresh?: boolean }) => {
      const { runNodeInit } = await import("../boot/node-init");
      if (opts.refresh) {
        const { runRefresh } = await import("../boot/refresh");
        const { changed, reloaded } = await runRefresh(opts.plan);
        console.log(`node-init --refresh: ${changed.length} file(s) changed${reloaded.length ? `, reloaded ${reloaded.join(", ")}` : ""}`);
        return;
      }
      const { written } = await runNodeInit(opts.plan);
      console.log(`node-init: wrote ${written.length} file(s)`);
    });
  program
    .command("claim")
    .description(
      "on an AWS host at boot (root): take the host's fixed IP and attach its data volume, waiting for the replaced instance to let go",
    )
    .requiredOption("--volume-id <id>", "the host's data volume")
    .requiredOption("--fixed-ip <ip>", "the host's fixed private IP")
    .requiredOption("--ip-env <file>", "where to write the fixed IP for the unit that configures it at every boot")
    .action(async (opts: { volumeId: string; fixedIp: string; ipEnv: string }) => {
      const { claim, systemClaimDeps } = await import("../boot/claim");
      await claim({ volumeId: opts.volumeId, fixedIp: opts.fixedIp, ipEnvFile: opts.ipEnv }, systemClaimDeps());
    });
  registerOpsCommands(program);
  registerSwitchoverCommands(program);
  registerRestartCommands(program);
  registerConfigCommands(program);
  registerPromoteClusterCommand(program);
  registerBackupCommands(program);
  registerDay2Commands(program);
  return program;
}

/** Runs a program as the `hapg` command does: a usage error exits 2, any other error 1, each with its message. */
export function runProgram(program: Command): void {
  program.parseAsync(process.argv).catch((e: unknown) => {
    // A refused flag is a usage error, like a bad config. FlagError (ops-source.ts) is matched by name:
    // that module loads only with its commands.
    const usage = e instanceof ConfigError || (e instanceof Error && e.name === "FlagError");
    console.error(`hapg: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(usage ? 2 : 1);
  });
}

if (require.main === module) runProgram(buildProgram());
