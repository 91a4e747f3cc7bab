/**
 * An EC2 Auto Scaling API stand-in on the rehearsal's bridge (Query protocol, XML answers) for the
 * roll's replacer (sidecar/roll/replacer.ts on AWS): `TerminateInstanceInAutoScalingGroup`. Like the
 * other stand-ins it takes only SigV4 requests signed with an instance role's key and token and holds
 * them to the role's policy, with the group's tags as `aws:ResourceTag/...` condition keys (the
 * replace policy allows only this cluster's groups). As the Auto Scaling API Reference says:
 *  - with `ShouldDecrementDesiredCapacity=false` the group launches an instance to replace the
 *    terminated one: `onTerminate` does what the group would (the rehearsal powers the container off,
 *    terminates it in the EC2 stand-in and boots a fresh one from the latest launch template version);
 *  - with `true`, a group at its minimum size refuses (`ValidationError`: the desired capacity may not
 *    go below the minimum), which a group of one always is.
 * The rehearsal's groups are the component's: one per host, min = max = desired = 1.
 */
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { close, listen, readForm } from "./query-api-server";
import { randomUUID } from "node:crypto";
import { policyAllows, signatureProblem } from "./aws-standins";
import { Ec2Tenant } from "./ec2-standin";
import { REGION } from "./plan";

export interface AsgGroup {
  name: string;
  /** The rehearsal's host key of the group's one instance. */
  host: string;
  tags: Record<string, string>;
}

export interface AsgServed {
  action: string;
  status: number;
  detail?: string;
}

const NS = "http://autoscaling.amazonaws.com/doc/2011-01-01/";

/** The ARN IAM evaluates for a group. Pure. */
export function groupArn(name: string, accountId = "123456789012"): string {
  return `arn:aws:autoscaling:${REGION}:${accountId}:autoScalingGroup:00000000-0000-4000-8000-000000000000:autoScalingGroupName/${name}`;
}

const errorXml = (code: string, message: string) =>
  `<?xml version="1.0" encoding="UTF-8"?><ErrorResponse xmlns="${NS}"><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>rehearsal</RequestId></ErrorResponse>`;

export class AsgStandin {
  readonly served: AsgServed[] = [];
  readonly groups = new Map<string, AsgGroup>();
  private server?: Server;

  constructor(
    private readonly tenants: Ec2Tenant[],
    /** The group's instance of this host now (its id), if any. */
    private readonly instanceOf: (host: string) => string | undefined,
    /** What the group does after a termination without decrement: replace the instance (not awaited). */
    private readonly onTerminate: (group: AsgGroup, instanceId: string) => void,
  ) {}

  setGroup(g: AsgGroup): void {
    this.groups.set(g.name, g);
  }

  async start(address: string, port: number): Promise<void> {
    this.server = await listen(address, port, (req, res) => this.handle(req, res));
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    await close(s);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = await readForm(req);
    const action = form.get("Action") ?? "";
    const reply = (status: number, xml: string, detail?: string) => {
      this.served.push({ action, status, detail });
      res.writeHead(status, { "content-type": "text/xml" });
      res.end(xml);
    };
    const fail = (status: number, code: string, message: string) => reply(status, errorXml(code, message), `${code}: ${message}`);
    const tenant = this.tenants.find((t) => !signatureProblem(req.headers, t.credentials, "autoscaling"));
    if (!tenant) return fail(403, "InvalidClientTokenId", "The security token included in the request is invalid");
    if (action !== "TerminateInstanceInAutoScalingGroup") return fail(400, "InvalidAction", `${action} is not served by the rehearsal`);
    const instanceId = form.get("InstanceId") ?? "";
    const group = [...this.groups.values()].find((g) => this.instanceOf(g.host) === instanceId);
    if (!group) return fail(400, "ValidationError", `Instance Id not found - No managed instance found for instance ID: ${instanceId}`);
    const context = Object.fromEntries(Object.entries(group.tags).map(([k, v]) => [`aws:ResourceTag/${k}`, v]));
    if (!policyAllows(tenant.policies, "autoscaling:TerminateInstanceInAutoScalingGroup", groupArn(group.name), context))
      return fail(403, "AccessDenied", `not authorized to perform: autoscaling:TerminateInstanceInAutoScalingGroup on ${group.name}`);
    const decrement = form.get("ShouldDecrementDesiredCapacity");
    if (decrement === null) return fail(400, "ValidationError", "ShouldDecrementDesiredCapacity is required");
    if (decrement === "true")
      return fail(
        400,
        "ValidationError",
        "Currently, desiredSize equals minSize (1). Terminating instance without replacement will violate group's min size constraint.",
      );
    this.onTerminate(group, instanceId);
    return reply(
      200,
      `<?xml version="1.0" encoding="UTF-8"?><TerminateInstanceInAutoScalingGroupResponse xmlns="${NS}"><TerminateInstanceInAutoScalingGroupResult><Activity>` +
        `<ActivityId>${randomUUID()}</ActivityId><AutoScalingGroupName>${group.name}</AutoScalingGroupName>` +
        `<Description>Terminating EC2 instance: ${instanceId}</Description><Cause>At ${new Date().toISOString()} instance ${instanceId} was taken out of service in response to a user request.</Cause>` +
        `<StartTime>${new Date().toISOString()}</StartTime><StatusCode>InProgress</StatusCode><Progress>0</Progress>` +
        `</Activity></TerminateInstanceInAutoScalingGroupResult><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></TerminateInstanceInAutoScalingGroupResponse>`,
      group.host,
    );
  }
}
