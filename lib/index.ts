/**
 * ha-postgres-cluster: a highly available PostgreSQL cluster on AWS EC2 as one Pulumi component.
 *
 *   import { HaPostgresCluster } from "ha-postgres-cluster";
 *   const db = new HaPostgresCluster("orders", { nodeCount: 3 });
 *   export const endpoint = db.primaryEndpoint;
 *
 * On one Docker host instead: `new HaPostgresDockerCluster("dev", { nodeCount: 3 })` (docs/docker.md).
 *
 * The public API: the components, their argument and output types, its argument error and the
 * stack-config reader. Everything else is internal (tests import it by path) and may change in any release.
 */
export { HaPostgresCluster } from "./cluster/component";
export type {
  BackupArgs,
  BootstrapArgs,
  DataVolumeArgs,
  EgressMode,
  EtcdArgs,
  EtcdPlacement,
  FromBackupArgs,
  HaPostgresClusterArgs,
  HaSettings,
  HaSettingsInput,
  ListenerPortsArgs,
  PostgresArgs,
  Routing,
  SynchronousMode,
  VolumeType,
  WatchdogInput,
  WatchdogMode,
} from "./args/types";
export type { ResolvedEgress } from "./network/egress";
export { ClusterArgsError } from "./args/validate";
export type { HaPostgresDockerClusterArgs } from "./docker/args";
export { argsFromStackConfig, CONFIG_NAMESPACE } from "./config/stack-config";

import type * as DockerComponent from "./docker/component";
/**
 * The cluster on one Docker host (docs/docker.md). Loaded on first use, with @pulumi/docker (an
 * optional peer dependency), so a program on AWS needs no @pulumi/docker installed.
 */
export declare const HaPostgresDockerCluster: typeof DockerComponent.HaPostgresDockerCluster;
Object.defineProperty(exports, "HaPostgresDockerCluster", {
  enumerable: true,
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  get: () => (require("./docker/component") as typeof DockerComponent).HaPostgresDockerCluster,
});
