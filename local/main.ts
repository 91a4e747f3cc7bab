#!/usr/bin/env node
/**
 * The development `hapg`: the shipped CLI plus `hapg local` (a whole cluster on this machine: etcd,
 * the agents, HAProxy, fault injection, the demo). It runs from a clone of the repository
 * (`npm run demo`, `npm run hapg -- local up`), where the dev dependencies it needs (s3rver for
 * `--backup`) are installed; the published package does not hold it.
 */
import { buildProgram, runProgram } from "../sidecar/cli/main";
import { registerLocalCommands } from "./cli";

const program = buildProgram();
program.description("Highly available PostgreSQL: the node agent, the operator commands and a local cluster (development build)");
registerLocalCommands(program);
runProgram(program);
