/**
 * ha-postgres-cluster: a highly available PostgreSQL cluster on AWS EC2 as one Pulumi component.
 *
 *   import { HaPostgresCluster } from "ha-postgres-cluster";
 *   const db = new HaPostgresCluster("orders", { nodeCount: 3 });
 *   export const endpoint = db.primaryEndpoint;
 */
export { HaPostgresCluster } from "./cluster/component";
export * from "./args/types";
export { validateClusterArgs, validatePlacement, ClusterArgsError, isCidr, isArmInstanceType, SubnetInfo } from "./args/validate";
export { argsFromStackConfig, settingKeys, SettingKey, SettingKind, STACK_CONFIG_KEYS } from "./config/stack-config";
export { HA_DEFAULTS, haSettingsSchema, SYNCHRONOUS_MODES, WATCHDOG_MODES } from "../sidecar/settings/schema";
export { renderUserData, renderFiles, renderNodeInitPlan, hostPackages, readWrittenFiles, USER_DATA_LIMIT_BYTES } from "./userdata/render";
export { agentConfigForNode } from "./userdata/agent-config";
export { desiredConfigDocument } from "./dynamic/desired-config";
export { hostSpecs, ClusterLayout } from "./userdata/hosts";
export { HostSpec, Member, RestoreHostSpec, SecretFile } from "./userdata/spec";
export { decideEgress, defaultRoute, egressArgProblems, EgressDecision, ResolvedEgress } from "./network/egress";
export { RouteInfo, SubnetRouteTable } from "./network/egress";
export { healthCheckFor, targetPortFor } from "./nlb/nlb";
export { internalRules, RuleSpec, GroupRole } from "./security/rules";
export { nodePolicyDocument } from "./iam/role";
export { restoreSourceStatements, RestoreSourceGrant } from "./restore/source";
export { COMPONENT_TYPE, childName, parameterNames } from "./naming/names";
