/** Structured JSON logs (pino). Every HA decision is one line with `reason`. */
import pino from "pino";

export type Logger = pino.Logger;

export function createLogger(name: string, level: string = "info"): Logger {
  return pino({ name, level, base: { member: name }, timestamp: pino.stdTimeFunctions.isoTime });
}
