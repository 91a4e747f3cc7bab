/**
 * An EC2 API stand-in on the rehearsal's bridge (Query protocol, XML answers) for what a host calls:
 * the boot claim (`hapg claim`, sidecar/boot/claim.ts: AssignPrivateIpAddresses, DescribeVolumes,
 * AttachVolume) and the roll's replacer (sidecar/roll/replacer.ts: DescribeInstances by tags). It keeps
 * EC2's state as the rules of the EC2 API Reference say:
 *  - a volume attaches to one instance at a time: AttachVolume of a volume still attached to another
 *    instance that is not terminated is refused (`VolumeInUse`); a terminating instance's volume goes
 *    `detaching` and then is `available`;
 *  - AssignPrivateIpAddresses with AllowReassignment moves an address from the interface that has it
 *    (without: `PrivateIpAddressInUse`); the instance metadata then lists it (./imds.ts reads the list);
 *  - every call is SigV4-signed with an instance role's key and token and held to that role's policy,
 *    with the resource's tags as `aws:ResourceTag/...` condition keys (the claim policy's conditions).
 * The rehearsal exposes a volume's device in the container only while EC2 has it attached (`onAttach`).
 */
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { close, listen, readForm } from "./query-api-server";
import { Credentials, policyAllows, signatureProblem } from "./aws-standins";
import { REGION } from "./plan";

export interface Ec2Tenant {
  credentials: Credentials;
  policies: string[];
  accountId?: string;
}

export interface Ec2Served {
  action: string;
  status: number;
  detail?: string;
}

export interface Ec2Instance {
  id: string;
  /** The rehearsal's host key (pg-N, etcd-N). */
  host: string;
  state: "running" | "shutting-down" | "terminated";
  tags: Record<string, string>;
  /** Its primary interface (one per instance, deleted with it). */
  eni: string;
  /** The interface's private addresses, the primary first. */
  addresses: string[];
}

export interface Ec2Volume {
  id: string;
  host: string;
  /** The rehearsal's device behind it (a loop device). */
  device: string;
  tags: Record<string, string>;
  attachment?: { instanceId: string; state: "attaching" | "attached" | "detaching" };
}

export interface Ec2Hooks {
  /** The interface's addresses changed (the IMDS stand-in lists them). */
  onAddresses(i: Ec2Instance): void;
  /** The volume is attached to the instance now (its device appears) / was detached (it disappears). */
  onAttach(v: Ec2Volume, i: Ec2Instance): void;
  onDetach(v: Ec2Volume): void;
}

const NS = "http://ec2.amazonaws.com/doc/2016-11-15/";
const ACCOUNT = "123456789012";
const arn = (type: string, id: string) => `arn:aws:ec2:${REGION}:${ACCOUNT}:${type}/${id}`;
const tagContext = (tags: Record<string, string>) => Object.fromEntries(Object.entries(tags).map(([k, v]) => [`aws:ResourceTag/${k}`, v]));
const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const tagSet = (tags: Record<string, string>) =>
  `<tagSet>${Object.entries(tags)
    .map(([k, v]) => `<item><key>${esc(k)}</key><value>${esc(v)}</value></item>`)
    .join("")}</tagSet>`;

/** A DescribeVolumes response (EC2's Query protocol, XML) for one volume. Pure. */
export function describeVolumesXml(volumeId: string, instanceId: string | undefined, state = "attached"): string {
  const attachment = instanceId
    ? `<attachmentSet><item><volumeId>${volumeId}</volumeId><instanceId>${instanceId}</instanceId><device>/dev/xvdf</device><status>${state}</status><deleteOnTermination>false</deleteOnTermination></item></attachmentSet>`
    : "<attachmentSet/>";
  return (
    `<?xml version="1.0" encoding="UTF-8"?><DescribeVolumesResponse xmlns="${NS}">` +
    `<requestId>rehearsal</requestId><volumeSet><item><volumeId>${volumeId}</volumeId><size>10</size>` +
    `<availabilityZone>${REGION}a</availabilityZone><status>${instanceId ? "in-use" : "available"}</status>` +
    `<volumeType>gp3</volumeType><encrypted>true</encrypted>${attachment}</item></volumeSet></DescribeVolumesResponse>`
  );
}

/** A DescribeInstances response for these instances. Pure. */
export function describeInstancesXml(instances: Ec2Instance[]): string {
  const code = { running: 16, "shutting-down": 32, terminated: 48 };
  const items = instances
    .map(
      (i) =>
        `<item><reservationId>r-${i.id.slice(2)}</reservationId><ownerId>${ACCOUNT}</ownerId><groupSet/><instancesSet><item>` +
        `<instanceId>${i.id}</instanceId><imageId>ami-0rehearsal</imageId><instanceState><code>${code[i.state]}</code><name>${i.state}</name></instanceState>` +
        `<privateIpAddress>${i.addresses[0]}</privateIpAddress>${tagSet(i.tags)}</item></instancesSet></item>`,
    )
    .join("");
  return `<?xml version="1.0" encoding="UTF-8"?><DescribeInstancesResponse xmlns="${NS}"><requestId>rehearsal</requestId><reservationSet>${items}</reservationSet></DescribeInstancesResponse>`;
}

/** The Query API's `Filter.N.Name` / `Filter.N.Value.M` as name → values. Pure. */
export function queryFilters(form: URLSearchParams): Map<string, string[]> {
  const filters = new Map<string, string[]>();
  for (const [k, v] of form) {
    const m = /^Filter\.(\d+)\.Name$/.exec(k);
    if (!m) continue;
    const values = [...form].filter(([vk]) => new RegExp(`^Filter\\.${m[1]}\\.Value\\.\\d+$`).test(vk)).map(([, vv]) => vv);
    filters.set(v, values);
  }
  return filters;
}

/** Does an instance match DescribeInstances' filters (tag:K, instance-state-name)? Pure; unknown filters match nothing. */
export function instanceMatches(i: Ec2Instance, filters: Map<string, string[]>): boolean {
  return [...filters].every(([name, values]) => {
    if (name === "instance-state-name") return values.includes(i.state);
    if (name.startsWith("tag:")) return values.includes(i.tags[name.slice(4)]);
    return false;
  });
}

const errorXml = (code: string, message = code) =>
  `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>${code}</Code><Message>${esc(message)}</Message></Error></Errors><RequestID>rehearsal</RequestID></Response>`;

export class Ec2Standin {
  readonly served: Ec2Served[] = [];
  readonly instances = new Map<string, Ec2Instance>();
  readonly volumes = new Map<string, Ec2Volume>();
  private server?: Server;

  constructor(
    private readonly tenants: Ec2Tenant[],
    private readonly hooks: Ec2Hooks,
  ) {}

  addTenant(t: Ec2Tenant): void {
    this.tenants.push(t);
  }

  /** `pulumi up` changed a role's policies. */
  setPolicies(credentials: Credentials, policies: string[]): void {
    const t = this.tenants.find((x) => x.credentials.accessKeyId === credentials.accessKeyId);
    if (t) t.policies = policies;
  }

  /** A data volume of the deployment (created by `pulumi up`, available until an instance attaches it). */
  addVolume(id: string, host: string, tags: Record<string, string>, device: string): void {
    if (!this.volumes.has(id)) this.volumes.set(id, { id, host, tags, device });
  }

  /** The group launched an instance: running, its interface with a primary address of its own. */
  launch(i: Omit<Ec2Instance, "state">): Ec2Instance {
    const inst: Ec2Instance = { ...i, state: "running" };
    this.instances.set(i.id, inst);
    this.hooks.onAddresses(inst);
    return inst;
  }

  /** The instance of a host that is not terminated (at most one: a group of one). */
  current(host: string): Ec2Instance | undefined {
    return [...this.instances.values()].find((i) => i.host === host && i.state !== "terminated");
  }

  /** Termination begins: the OS shuts down; its volume is detaching. */
  shuttingDown(id: string): void {
    const i = this.instances.get(id);
    if (!i || i.state === "terminated") return;
    i.state = "shutting-down";
    for (const v of this.volumes.values()) if (v.attachment?.instanceId === id) v.attachment.state = "detaching";
  }

  /** The instance is gone: its volume is available, its interface (and every address on it) deleted. */
  terminated(id: string): void {
    const i = this.instances.get(id);
    if (!i) return;
    i.state = "terminated";
    i.addresses = [];
    for (const v of this.volumes.values())
      if (v.attachment?.instanceId === id) {
        v.attachment = undefined;
        this.hooks.onDetach(v);
      }
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
    const fail = (status: number, code: string, message = code) => reply(status, errorXml(code, message), `${code}: ${message}`);
    const tenant = this.tenants.find((t) => !signatureProblem(req.headers, t.credentials, "ec2"));
    if (!tenant) return fail(401, "AuthFailure");
    const allowed = (what: string, resource: string, tags: Record<string, string> = {}) =>
      policyAllows(tenant.policies, what, resource, tagContext(tags));
    const denied = (what: string, resource: string) =>
      fail(403, "UnauthorizedOperation", `You are not authorized to perform ${what} on ${resource}`);

    if (action === "DescribeVolumes") {
      if (!allowed("ec2:DescribeVolumes", "*")) return denied("ec2:DescribeVolumes", "*");
      const v = this.volumes.get(form.get("VolumeId.1") ?? "");
      if (!v) return fail(400, "InvalidVolume.NotFound");
      return reply(200, describeVolumesXml(v.id, v.attachment?.instanceId, v.attachment?.state));
    }
    if (action === "DescribeInstances") {
      if (!allowed("ec2:DescribeInstances", "*")) return denied("ec2:DescribeInstances", "*");
      const filters = queryFilters(form);
      return reply(200, describeInstancesXml([...this.instances.values()].filter((i) => instanceMatches(i, filters))));
    }
    if (action === "AttachVolume") {
      const v = this.volumes.get(form.get("VolumeId") ?? "");
      const i = this.instances.get(form.get("InstanceId") ?? "");
      if (!v) return fail(400, "InvalidVolume.NotFound");
      if (!i || i.state === "terminated") return fail(400, "InvalidInstanceID.NotFound");
      if (!allowed("ec2:AttachVolume", arn("volume", v.id), v.tags)) return denied("ec2:AttachVolume", arn("volume", v.id));
      if (!allowed("ec2:AttachVolume", arn("instance", i.id), i.tags)) return denied("ec2:AttachVolume", arn("instance", i.id));
      if (v.attachment) return fail(400, "VolumeInUse", `${v.id} is already attached to an instance (${v.attachment.instanceId})`);
      v.attachment = { instanceId: i.id, state: "attaching" };
      // "attaching" for a moment, as EC2 reports it; then the device appears in the instance.
      setTimeout(() => {
        if (v.attachment?.instanceId !== i.id) return;
        v.attachment.state = "attached";
        this.hooks.onAttach(v, i);
      }, 1000);
      return reply(
        200,
        `<?xml version="1.0" encoding="UTF-8"?><AttachVolumeResponse xmlns="${NS}"><requestId>rehearsal</requestId><volumeId>${v.id}</volumeId><instanceId>${i.id}</instanceId><device>${esc(form.get("Device") ?? "")}</device><status>attaching</status><attachTime>${new Date().toISOString()}</attachTime></AttachVolumeResponse>`,
      );
    }
    if (action === "AssignPrivateIpAddresses") {
      const eni = form.get("NetworkInterfaceId") ?? "";
      const i = [...this.instances.values()].find((x) => x.eni === eni && x.state !== "terminated");
      if (!i) return fail(400, "InvalidNetworkInterfaceID.NotFound");
      if (!allowed("ec2:AssignPrivateIpAddresses", arn("network-interface", eni), i.tags))
        return denied("ec2:AssignPrivateIpAddresses", arn("network-interface", eni));
      const ips = [...form].filter(([k]) => /^PrivateIpAddress\.\d+$/.test(k)).map(([, v]) => v);
      const reassign = form.get("AllowReassignment") === "true";
      for (const ip of ips) {
        const holder = [...this.instances.values()].find((x) => x !== i && x.addresses.includes(ip));
        if (holder && !reassign) return fail(400, "PrivateIpAddressInUse", `${ip} is assigned to ${holder.eni}`);
        if (holder) {
          holder.addresses = holder.addresses.filter((a) => a !== ip);
          this.hooks.onAddresses(holder);
        }
        if (!i.addresses.includes(ip)) i.addresses.push(ip);
      }
      this.hooks.onAddresses(i);
      const set = ips.map((ip) => `<item><privateIpAddress>${ip}</privateIpAddress></item>`).join("");
      return reply(
        200,
        `<?xml version="1.0" encoding="UTF-8"?><AssignPrivateIpAddressesResponse xmlns="${NS}"><requestId>rehearsal</requestId><networkInterfaceId>${eni}</networkInterfaceId><assignedPrivateIpAddressesSet>${set}</assignedPrivateIpAddressesSet><return>true</return></AssignPrivateIpAddressesResponse>`,
      );
    }
    return fail(400, "UnsupportedOperation", `${action} is not served by the rehearsal`);
  }
}
