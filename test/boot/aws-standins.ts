/**
 * S3 and SSM stand-ins on the rehearsal's bridge, answering the calls a node makes at boot with
 * the AWS CLI: S3 HeadObject/GetObject (path style, as the CLI uses for an IP endpoint) and SSM
 * GetParameter (JSON protocol, `X-Amz-Target: AmazonSSM.GetParameter`). Like AWS they require a
 * SigV4 request signed with the instance role's key and session token (what the emulated IMDS hands
 * out), and they enforce the instance role's policy as the component declared it: a parameter or
 * object the role may not read is refused with AccessDenied, as it would be on AWS.
 */
import { createServer, IncomingMessage, Server, ServerResponse } from "node:http";
import { REGION } from "./plan";

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  token: string;
}

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

/** An IAM wildcard pattern (* and ?) as a regular expression. Pure. */
function wildcard(pattern: string, flags: string): RegExp {
  return new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replace(/\*/g, ".*")
      .replace(/\?/g, ".")}$`,
    flags,
  );
}

/** Does an IAM pattern (with * and ?) match a value? Pure. */
export function iamMatch(pattern: string, value: string): boolean {
  return wildcard(pattern, "i").test(value);
}

const list = (v: string | string[]) => (Array.isArray(v) ? v : [v]);

/**
 * Does a statement's Condition hold for the request's context keys (e.g. `s3:prefix`)? The operators
 * the component's policies use: StringLike, StringEquals, Bool. A key the request lacks fails the
 * condition, as on AWS; an operator this stand-in does not know fails it too (never grants). Pure.
 */
export function conditionHolds(condition: Statement["Condition"], context: Record<string, string>): boolean {
  return Object.entries(condition ?? {}).every(([op, keys]) =>
    Object.entries(keys).every(([k, want]) => {
      const have = context[k];
      if (have === undefined) return false;
      if (op === "StringLike") return list(want).some((w) => wildcard(w, "").test(have));
      if (op === "StringEquals" || op === "Bool") return list(want).includes(have);
      return false;
    }),
  );
}

/** Is `action` on `resource` (with these context keys) allowed by these policy documents (explicit Deny wins)? Pure. */
export function policyAllows(policies: string[], action: string, resource: string, context: Record<string, string> = {}): boolean {
  const statements: Statement[] = policies.flatMap((p) => {
    const doc = JSON.parse(p) as { Statement: Statement | Statement[] };
    return Array.isArray(doc.Statement) ? doc.Statement : [doc.Statement];
  });
  const hits = statements.filter(
    (s) =>
      list(s.Action).some((a) => iamMatch(a, action)) &&
      list(s.Resource).some((r) => iamMatch(r, resource)) &&
      conditionHolds(s.Condition, context),
  );
  return hits.some((s) => s.Effect === "Allow") && !hits.some((s) => s.Effect === "Deny");
}

export interface StandinContent {
  bucket: string;
  objects: Map<string, Buffer>;
  parameters: Map<string, { type: string; value: string }>;
  policies: string[];
  credentials: Credentials;
  accountId: string;
}

export interface ServedRequest {
  service: "s3" | "ssm";
  what: string;
  status: number;
}

function body(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

/** Why a request is not signed with the role's credentials (undefined when it is). Pure. */
export function signatureProblem(headers: IncomingMessage["headers"], creds: Credentials, service: string): string | undefined {
  const auth = String(headers.authorization ?? "");
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request/.exec(auth);
  if (!m) return "not signed with SigV4";
  if (m[1] !== creds.accessKeyId) return `signed with key ${m[1]}, not the instance role's`;
  if (m[2] !== REGION) return `signed for region ${m[2]}, not ${REGION}`;
  if (m[3] !== service) return `signed for service ${m[3]}, not ${service}`;
  if (headers["x-amz-security-token"] !== creds.token) return "without the instance role's session token";
  return undefined;
}

export class AwsStandins {
  readonly served: ServedRequest[] = [];
  private servers: Server[] = [];
  /** One per cluster of the account: its role's credentials and policies, its bundle, its parameters. */
  private readonly tenants: StandinContent[];

  constructor(content: StandinContent) {
    this.tenants = [content];
  }

  /**
   * Another cluster in the same account (the restored one): its role signs with its own credentials
   * and is held to its own policies; every cluster's objects and parameters exist for every role, as
   * in one account, and only the policy decides who may read them.
   */
  addTenant(content: StandinContent): void {
    this.tenants.push(content);
  }

  /** `pulumi up` changed the role's policies (e.g. the new hosts' parameters): the role with these credentials gets them. */
  setPolicies(credentials: Credentials, policies: string[]): void {
    const t = this.tenants.find((x) => x.credentials.accessKeyId === credentials.accessKeyId);
    if (t) t.policies = policies;
  }

  /** `pulumi up` changed (or created) a parameter: the cluster's that has it, else the first cluster's. */
  putParameter(name: string, type: string, value: string): void {
    const t = this.tenants.find((x) => x.parameters.has(name)) ?? this.tenants[0];
    t.parameters.set(name, { type, value });
  }

  /** The cluster whose role signed the request, or why none did. */
  private signer(headers: IncomingMessage["headers"], service: string): { tenant?: StandinContent; problem?: string } {
    let problem: string | undefined;
    for (const t of this.tenants) {
      const p = signatureProblem(headers, t.credentials, service);
      if (!p) return { tenant: t };
      problem ??= p;
    }
    return { problem };
  }

  async start(address: string, s3Port: number, ssmPort: number): Promise<void> {
    const listen = (port: number, handler: (req: IncomingMessage, res: ServerResponse) => Promise<void>) =>
      new Promise<void>((resolve, reject) => {
        const s = createServer((req, res) => {
          handler(req, res).catch((e) => {
            res.writeHead(500);
            res.end(String(e));
          });
        });
        s.once("error", reject);
        s.listen(port, address, () => resolve());
        this.servers.push(s);
      });
    await listen(s3Port, (req, res) => this.s3(req, res));
    await listen(ssmPort, (req, res) => this.ssm(req, res));
  }

  async stop(): Promise<void> {
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => (s.closeAllConnections(), s.close(() => r())))));
    this.servers = [];
  }

  private async s3(req: IncomingMessage, res: ServerResponse): Promise<void> {
    await body(req);
    const path = decodeURIComponent((req.url ?? "/").split("?")[0]);
    const [, bucket, ...rest] = path.split("/");
    const key = rest.join("/");
    const reply = (status: number, code?: string) => {
      this.served.push({ service: "s3", what: `${req.method} ${bucket}/${key}`, status });
      if (code) {
        res.writeHead(status, { "content-type": "application/xml" });
        res.end(
          req.method === "HEAD"
            ? undefined
            : `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${code}</Message></Error>`,
        );
      }
    };
    const { tenant } = this.signer(req.headers, "s3");
    if (!tenant) return reply(403, "InvalidAccessKeyId");
    if (req.method !== "GET" && req.method !== "HEAD") return reply(405, "MethodNotAllowed");
    if (!policyAllows(tenant.policies, "s3:GetObject", `arn:aws:s3:::${bucket}/${key}`)) return reply(403, "AccessDenied");
    const data = this.tenants.find((t) => t.bucket === bucket)?.objects.get(key);
    if (!data) return reply(404, "NoSuchKey");
    reply(200);
    res.writeHead(200, {
      "content-type": "application/zip",
      "content-length": data.length,
      etag: `"${data.length.toString(16)}"`,
      "last-modified": new Date(0).toUTCString(),
      "x-amz-server-side-encryption": "AES256",
    });
    res.end(req.method === "HEAD" ? undefined : data);
  }

  private async ssm(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const text = await body(req);
    const target = String(req.headers["x-amz-target"] ?? "");
    const answer = (status: number, doc: unknown, what: string) => {
      this.served.push({ service: "ssm", what, status });
      res.writeHead(status, { "content-type": "application/x-amz-json-1.1" });
      res.end(JSON.stringify(doc));
    };
    const { tenant, problem } = this.signer(req.headers, "ssm");
    if (!tenant)
      return answer(
        400,
        { __type: "UnrecognizedClientException", message: `The security token included in the request is invalid (${problem})` },
        target,
      );
    if (target !== "AmazonSSM.GetParameter")
      return answer(400, { __type: "InvalidAction", message: `${target} is not served by the rehearsal` }, target);
    const { Name: name, WithDecryption: decrypt } = JSON.parse(text) as { Name: string; WithDecryption?: boolean };
    const what = `GetParameter ${name}`;
    const arn = `arn:aws:ssm:${REGION}:${tenant.accountId}:parameter${name}`;
    if (!policyAllows(tenant.policies, "ssm:GetParameter", arn)) {
      return answer(
        400,
        { __type: "AccessDeniedException", message: `not authorized to perform: ssm:GetParameter on resource: ${arn}` },
        what,
      );
    }
    const p = this.tenants.map((t) => t.parameters.get(name)).find((x) => x !== undefined);
    if (!p) return answer(400, { __type: "ParameterNotFound", message: "" }, what);
    const value = p.type === "SecureString" && !decrypt ? Buffer.from(`encrypted:${name}`).toString("base64") : p.value;
    answer(
      200,
      { Parameter: { Name: name, Type: p.type, Value: value, Version: 1, ARN: arn, DataType: "text", LastModifiedDate: 1.7e9 } },
      what,
    );
  }
}
