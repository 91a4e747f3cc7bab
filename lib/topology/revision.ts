/**
 * A host's revision: a digest of everything its instance is launched from. Pure, so the component, the
 * tests and the second-`pulumi up` checks compute the very same value. Two launches with the same
 * revision boot the same machine; a host whose running revision (its `hosts/<name>` report in etcd)
 * differs from the topology's is stale and gets replaced, one host at a time, by the leader's agent.
 */
import { createHash } from "node:crypto";

/** What an instance of a host is launched from (the launch template's inputs, and the data volume's). */
export interface LaunchInputs {
  ami: string;
  instanceType: string;
  /**
   * The rendered user-data WITHOUT the revision itself (the revision is digested from it, then written
   * into the final user-data so the node knows which revision it booted).
   */
  userData: string;
  dataVolume: { sizeGiB: number; type: string; iops?: number; throughputMiBps?: number };
}

/** Length of a revision (hex characters of the sha256). */
export const REVISION_LENGTH = 16;

/** sha256 over a canonical JSON of the launch inputs, first 16 hex characters. */
export function hostRevision(inputs: LaunchInputs): string {
  const canonical = JSON.stringify([
    inputs.ami,
    inputs.instanceType,
    inputs.userData,
    inputs.dataVolume.sizeGiB,
    inputs.dataVolume.type,
    inputs.dataVolume.iops ?? null,
    inputs.dataVolume.throughputMiBps ?? null,
  ]);
  return createHash("sha256").update(canonical).digest("hex").slice(0, REVISION_LENGTH);
}
