/** An ActionExecutor for unit tests: silent log, empty memory, a valid lease, no watchdog, no peers unless given. */
import { ActionExecutor, type ExecutorDeps } from "../../sidecar/ha/executor";
import { watchdogOff } from "../../sidecar/watchdog/watchdog";
import { silentLogger } from "./silent-logger";

export function testExecutor(d: Pick<ExecutorDeps, "self" | "dcs" | "pg" | "clock" | "lease"> & Partial<ExecutorDeps>): ActionExecutor {
  return new ActionExecutor({
    log: silentLogger(),
    memory: {},
    isLeaseValid: () => true,
    watchdog: watchdogOff(),
    fetchPeers: async () => [],
    ...d,
  });
}
