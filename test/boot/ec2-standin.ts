/**
 * An EC2 API stand-in on the rehearsal's bridge for the boot claim (`hapg claim`, sidecar/boot/claim.ts):
 * DescribeVolumes answers each data volume's attachment to the instance of its host that runs now (the
 * rehearsal exposes the volume to that container), and a claim that asks to attach a volume still
 * attached elsewhere is refused as EC2 refuses it. Like AWS it requires a SigV4 request signed with the
 * instance role's key and token, and it holds the request to the role's policy (the claim policy's
 * Describe statement). The fixed IP needs no call here: the rehearsal's IMDS lists it among the
 * interface's addresses already (the container's address is the fixed IP).
 */
import { createServer, IncomingMessage, Server, ServerResponse } from "node:http";
import { Credentials, policyAllows, signatureProblem } from "./aws-standins";
import { REGION } from "./plan";

export interface Ec2Tenant {
  credentials: Credentials;
  policies: string[];
}

export interface Ec2Served {
  action: string;
  status: number;
}

/** A DescribeVolumes response (EC2's Query protocol, XML) for one volume. Pure. */
export function describeVolumesXml(volumeId: string, instanceId: string | undefined): string {
  const attachment = instanceId
    ? `<attachmentSet><item><volumeId>${volumeId}</volumeId><instanceId>${instanceId}</instanceId><device>/dev/xvdf</device><status>attached</status><deleteOnTermination>false</deleteOnTermination></item></attachmentSet>`
    : "<attachmentSet/>";
  return (
    `<?xml version="1.0" encoding="UTF-8"?><DescribeVolumesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">` +
    `<requestId>rehearsal</requestId><volumeSet><item><volumeId>${volumeId}</volumeId><size>10</size>` +
    `<availabilityZone>${REGION}a</availabilityZone><status>${instanceId ? "in-use" : "available"}</status>` +
    `<volumeType>gp3</volumeType><encrypted>true</encrypted>${attachment}</item></volumeSet></DescribeVolumesResponse>`
  );
}

const errorXml = (code: string) =>
  `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>${code}</Code><Message>${code}</Message></Error></Errors><RequestID>rehearsal</RequestID></Response>`;

export class Ec2Standin {
  readonly served: Ec2Served[] = [];
  /** Data volume id → the instance it is attached to (the host's running instance). */
  readonly attachments = new Map<string, string>();
  private server?: Server;

  constructor(private readonly tenants: () => Ec2Tenant[]) {}

  async start(address: string, port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const s = createServer((req, res) => {
        this.handle(req, res).catch((e) => {
          res.writeHead(500);
          res.end(String(e));
        });
      });
      s.once("error", reject);
      s.listen(port, address, () => resolve());
      this.server = s;
    });
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((r) => (s.closeAllConnections(), s.close(() => r())));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const form = new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
    const action = form.get("Action") ?? "";
    const reply = (status: number, xml: string) => {
      this.served.push({ action, status });
      res.writeHead(status, { "content-type": "text/xml" });
      res.end(xml);
    };
    const tenant = this.tenants().find((t) => !signatureProblem(req.headers, t.credentials, "ec2"));
    if (!tenant) return reply(401, errorXml("AuthFailure"));
    if (action === "DescribeVolumes") {
      if (!policyAllows(tenant.policies, "ec2:DescribeVolumes", "*")) return reply(403, errorXml("UnauthorizedOperation"));
      const volumeId = form.get("VolumeId.1") ?? "";
      if (!this.attachments.has(volumeId)) return reply(400, errorXml("InvalidVolume.NotFound"));
      return reply(200, describeVolumesXml(volumeId, this.attachments.get(volumeId)));
    }
    // The rehearsal attaches every volume to its host's container itself: a claim that tries is a bug.
    return reply(400, errorXml("UnsupportedOperation"));
  }
}
