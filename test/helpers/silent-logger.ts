/** A logger that drops everything, for tests. */
import pino from "pino";
import type { Logger } from "../../sidecar/log";

export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
