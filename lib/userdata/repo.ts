/**
 * An S3 repository as a node's agent config names it (`backup.repo`, and `bootstrap.fromBackup.repo`
 * of a restored cluster): pgBackRest signs its S3 requests with the instance role's credentials,
 * which it fetches from the instance metadata itself (`credentials: instanceRole`, i.e.
 * repo1-s3-key-type=auto), so no key is anywhere on the node or in the user-data. A bucket name
 * with dots cannot be a host name under AWS's wildcard certificate, so such a bucket is addressed path-style.
 */
import type { RepoConfigInput } from "../../sidecar/contract/backup-config";

export function s3RepoSection(r: { bucket: string; region: string; endpoint: string; path: string; kmsKeyId?: string }): RepoConfigInput {
  return {
    type: "s3",
    bucket: r.bucket,
    region: r.region,
    endpoint: r.endpoint,
    path: r.path,
    uriStyle: r.bucket.includes(".") ? "path" : "host",
    ...(r.kmsKeyId ? { kmsKeyId: r.kmsKeyId } : {}),
    credentials: { source: "instanceRole" },
  };
}
