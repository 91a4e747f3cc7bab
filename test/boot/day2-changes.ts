/**
 * The day-2 changes the rehearsal replays (docs/day2.md, docs/testing.md "Boot rehearsal"), each the
 * component's args of a second (third, ...) `pulumi up` of the same stack, cumulative, in this order:
 *  1. a new AMI (the launch templates' image: every host's revision changes, so every host rolls);
 *  2. a larger instance type for the PostgreSQL nodes (only they roll);
 *  3. nodeCount 3 → 5 (two new groups launch; the HAProxies and the NLB learn the new nodes);
 *  4. etcd members 3 → 5 (two new dedicated members join by etcd's runtime reconfiguration);
 *  5. the hosts' certificates renewed (new certificates in their SSM parameters; no host rolls: the
 *     refresh rewrites the files and the services serve the new ones);
 *  6. a replica's instance killed outright (no `pulumi up`: its group's health check replaces it).
 * Pure: the args are derived from the rehearsal's own (./plan.ts rehearsalArgs).
 */
import type { HaPostgresClusterArgs } from "../../lib";
import { rehearsalArgs } from "./plan";

export interface Day2Change {
  /** Short name printed with its figures. */
  name: string;
  /** The args of this `pulumi up` (undefined: no `pulumi up`, only the fault). */
  args?: HaPostgresClusterArgs;
  /** Certificates the provider renews at this `pulumi up` (resource names after the component name). */
  renew?: (hosts: string[]) => string[];
  /** An instance killed outright (a PostgreSQL replica's). */
  kill?: "replica";
}

/** The AMI of the "new AMI" change (the first render takes the mocks' Debian 13 lookup). */
export const NEW_AMI = "ami-0rehearsal1debian13";
export const NEW_INSTANCE_TYPE = "m7i.xlarge";

export function day2Changes(): Day2Change[] {
  const base = rehearsalArgs("dedicated");
  const ami: HaPostgresClusterArgs = { ...base, amiId: NEW_AMI };
  const type: HaPostgresClusterArgs = { ...ami, instanceType: NEW_INSTANCE_TYPE };
  const nodes: HaPostgresClusterArgs = { ...type, nodeCount: 5 };
  const etcd: HaPostgresClusterArgs = { ...nodes, etcd: { ...nodes.etcd, members: 5 } };
  return [
    { name: "new AMI", args: ami },
    { name: "instance type", args: type },
    { name: "nodeCount 3 → 5", args: nodes },
    { name: "etcd members 3 → 5", args: etcd },
    { name: "certificate renewal", args: etcd, renew: (hosts) => hosts.map((h) => `${h}-tls-cert`) },
    { name: "instance killed", kill: "replica" },
  ];
}
