/**
 * The agent config's `bootstrap` section of a node of a cluster restored from another cluster's
 * backups (the component's `bootstrap` arg): the source's repository read with the node's instance
 * role (no key on the node), its stanza, the passphrase file node-init writes from SSM, the target.
 */
import type { AgentConfigInput } from "../../sidecar/config/schema";
import type { ResolvedBootstrap } from "../args/bootstrap";

export interface RestoreSectionOptions {
  /** The source's bucket, resolved. */
  bucketName: string;
  /** This cluster's region: the bucket's unless `fromBackup.region` says otherwise. */
  region: string;
  /** Where node-init writes the source repository's passphrase (from `fromBackup.cipherPassParameter`), when it has one. */
  cipherPassphraseFile?: string;
}

export function restoreBootstrapSection(b: ResolvedBootstrap, o: RestoreSectionOptions): NonNullable<AgentConfigInput["bootstrap"]> {
  const f = b.fromBackup;
  return {
    fromBackup: {
      repo: { bucket: o.bucketName, region: f.region ?? o.region, path: `/${f.prefix}`, credentials: { source: "instanceRole" } },
      stanza: f.clusterName,
      ...(o.cipherPassphraseFile ? { cipherPassphraseFile: o.cipherPassphraseFile } : {}),
      target: b.target,
    },
  };
}
