/**
 * The agent config's `bootstrap` section of a node of a cluster restored from another cluster's
 * backups (the component's `bootstrap` arg), in the shape of the agent's own schema
 * (sidecar/contract/restore-config.ts): the source's repository read with the node's instance role (no key
 * on the node), its stanza, the passphrase file node-init writes from the source's SSM parameter,
 * and the recovery target.
 */
import type { AgentConfigInput } from "../../sidecar/contract/agent-config";
import { NODE_PATHS } from "./paths";
import { s3RepoSection } from "./repo";
import type { RestoreHostSpec } from "./spec";

export function restoreBootstrapSection(r: RestoreHostSpec): NonNullable<AgentConfigInput["bootstrap"]> {
  return {
    fromBackup: {
      repo: s3RepoSection(r),
      stanza: r.stanza,
      cipherPassphraseFile: NODE_PATHS.restoreSourceCipherPassFile,
      target: { ...r.target },
    },
  };
}
