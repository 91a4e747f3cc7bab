/**
 * The second `pulumi up`, under mocks: the same program (same component name, so the same URNs) run
 * twice, first with one set of args and then with changed args, and the two registrations of every
 * resource compared the way Pulumi's engine compares a resource's old and new inputs. No engine runs
 * here: what the engine would plan for a changed input is modelled below from the provider's
 * documented replace-on-change (force-new) properties, each cited in docs/day2.md.
 */
import { childCollector, recorded, valueOf, Recorded } from "./mocks";
import { HaPostgresCluster, HaPostgresClusterArgs } from "../../lib";

/** One run of the program: every resource it registered, by `type name`. */
export type Run = Map<string, Recorded>;

const key = (r: Recorded) => `${r.type} ${r.name}`;

/** Runs the program once and returns what it registered (a later run of the same name registers again). */
export async function up(name: string, args: HaPostgresClusterArgs): Promise<Run> {
  const start = recorded.length;
  const c = childCollector();
  const cluster = new HaPostgresCluster(name, args, c.opts);
  await c.settle();
  await valueOf(cluster.nodePrivateIps);
  await valueOf(cluster.topologyParameterName);
  await c.settle();
  return new Map(
    recorded
      .slice(start)
      .filter((r) => r.name === name || r.name.startsWith(`${name}-`))
      .map((r) => [key(r), r]),
  );
}

/**
 * Inputs whose change makes the provider replace the resource (delete + create), per type; every
 * other input changes in place. Sources (docs/day2.md): the Pulumi AWS provider's resource docs and
 * the Terraform AWS provider schema it bridges (ForceNew).
 */
export const FORCE_NEW: Record<string, string[]> = {
  "aws:ebs/volume:Volume": ["availabilityZone", "encrypted", "kmsKeyId", "snapshotId", "outpostArn"],
  "aws:ec2/subnetCidrReservation:SubnetCidrReservation": ["cidrBlock", "subnetId", "reservationType", "description"],
  "aws:ec2/launchTemplate:LaunchTemplate": ["name", "namePrefix"],
  "aws:autoscaling/group:Group": ["name", "namePrefix"],
  "aws:ssm/parameter:Parameter": ["name"],
};

/** What the engine would do with one resource between two runs. */
export type Step = "create" | "delete" | "same" | "update" | "replace";

export interface PlannedStep {
  step: Step;
  /** Inputs that differ (update/replace). */
  changed: string[];
}

/** Properties a resource's options tell the engine to ignore (ignoreChanges), by type. */
export type Ignored = Record<string, readonly string[]>;

/** The step for each resource of either run. Pure. */
export function plan(before: Run, after: Run, ignored: Ignored = {}): Map<string, PlannedStep> {
  const steps = new Map<string, PlannedStep>();
  for (const [k, r] of after) {
    const old = before.get(k);
    if (!old) {
      steps.set(k, { step: "create", changed: [] });
      continue;
    }
    const skip = new Set(ignored[r.type] ?? []);
    const names = new Set([...Object.keys(old.inputs), ...Object.keys(r.inputs)]);
    const changed = [...names].filter((n) => !skip.has(n) && JSON.stringify(old.inputs[n]) !== JSON.stringify(r.inputs[n])).sort();
    const forceNew = FORCE_NEW[r.type] ?? [];
    const step: Step = changed.length === 0 ? "same" : changed.some((c) => forceNew.includes(c)) ? "replace" : "update";
    steps.set(k, { step, changed });
  }
  for (const k of before.keys()) if (!after.has(k)) steps.set(k, { step: "delete", changed: [] });
  return steps;
}

/** Resources of `type` with a given step, as names. */
export function withStep(steps: Map<string, PlannedStep>, type: string, step: Step): string[] {
  return [...steps]
    .filter(([k, s]) => k.startsWith(`${type} `) && s.step === step)
    .map(([k]) => k.slice(type.length + 1))
    .sort();
}

/** The topology document a run published. */
export function topologyOf(run: Run, name: string): { nodes: any[]; etcd: any[]; etcdInitialMembers: string[] } {
  const p = run.get(`aws:ssm/parameter:Parameter ${name}-topology`);
  if (!p) throw new Error(`${name} published no topology`);
  return JSON.parse(p.inputs.insecureValue as string);
}
