/** The etcd backup key's claim in the schedule tests: the first full backup, done by "a"; override what a case needs. */
import type { BackupClaim } from "../../sidecar/dcs/types";

export function backupClaim(over: Partial<BackupClaim> = {}): BackupClaim {
  return {
    slot: "initial",
    type: "full",
    member: "a",
    state: "done",
    started: "2026-11-27T11:00:00.000Z",
    finished: "2026-11-27T11:01:00.000Z",
    lastSlot: "2026-11-27T01:00Z",
    ...over,
  };
}
