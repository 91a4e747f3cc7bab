/**
 * A cluster ("ledger", backups on by default) and a second one created from its backups ("pitr"):
 * a clone, or a point-in-time restore next to a cluster that lost data. Set the stack config
 * `targetTime` (e.g. "2026-11-27T16:05:00Z") to restore every transaction committed up to it; without
 * it the clone gets the latest point the archive holds. The clone archives into its own prefix and
 * stanza; its instance role only reads the source's prefix and passphrase. In your project import
 * from "ha-postgres-cluster" instead of "../../lib".
 */
import * as pulumi from "@pulumi/pulumi";
import { HaPostgresCluster } from "../../lib";

const config = new pulumi.Config();
const ledger = new HaPostgresCluster("ledger");

const targetTime = config.get("targetTime");
const pitr = new HaPostgresCluster("pitr", {
  bootstrap: {
    // The source's clusterName (its stanza and prefix) and its bucket; the passphrase parameter defaults to the source's.
    fromBackup: { clusterName: "ledger", bucketName: ledger.backupBucketName.apply((b) => b!) },
    ...(targetTime ? { targetTime } : {}),
  },
});

export const ledgerEndpoint = ledger.primaryEndpoint;
export const pitrEndpoint = pitr.primaryEndpoint;
export const pitrSuperuserPasswordParameter = pitr.superuserPasswordParameterName;
