/**
 * The backup repository's S3 endpoint on the rehearsal's bridge: what pgBackRest on a node talks to
 * when its agent config names `s3.<region>.amazonaws.com` (the rehearsal maps that name, and the
 * bucket's virtual host, to the bridge in each container's /etc/hosts, and port 443 to this server).
 * HTTPS with a certificate for those names from a rehearsal CA the containers trust, like AWS's.
 *
 * It serves the S3 calls pgBackRest makes — ListObjectsV2, Get/Head/Put/DeleteObject, DeleteObjects,
 * multipart uploads — signed (SigV4) with the instance role's key and session token, and enforces
 * the role's policy as the component declared it, conditions included (s3:ListBucket only with an
 * `s3:prefix` the role may list): a request outside the cluster's prefix gets AccessDenied, as on AWS.
 */
import { randomBytes } from "node:crypto";
import { IncomingMessage, ServerResponse } from "node:http";
import { createServer, Server } from "node:https";
import { Credentials, policyAllows, signatureProblem } from "./aws-standins";

export interface S3RepoContent {
  bucket: string;
  /** The regional endpoint host, e.g. s3.eu-west-3.amazonaws.com. */
  endpoint: string;
  policies: string[];
  credentials: Credentials;
}

export interface RepoRequest {
  op: string;
  key: string;
  status: number;
  /** The access key that signed it (each cluster's role has its own), when it was signed by one. */
  by?: string;
}

interface StoredObject {
  data: Buffer;
  etag: string;
  modified: Date;
}

const xmlEscape = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

function body(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/** The bucket and key of a request, host-style (bucket.endpoint) or path-style (endpoint/bucket/key). Pure. */
export function bucketAndKey(host: string, path: string, endpoint: string): { bucket: string; key: string } {
  const h = host.replace(/:\d+$/, "");
  const p = decodeURIComponent(path);
  if (h !== endpoint && h.endsWith(`.${endpoint}`)) return { bucket: h.slice(0, -endpoint.length - 1), key: p.replace(/^\//, "") };
  const [, bucket, ...rest] = p.split("/");
  return { bucket, key: rest.join("/") };
}

/** ListObjectsV2 over sorted keys: the objects under `prefix` and, with a delimiter, the common prefixes. Pure. */
export function listObjects(keys: string[], prefix: string, delimiter: string | undefined): { contents: string[]; prefixes: string[] } {
  const contents: string[] = [];
  const prefixes = new Set<string>();
  for (const k of [...keys].sort()) {
    if (!k.startsWith(prefix)) continue;
    const rest = k.slice(prefix.length);
    const cut = delimiter ? rest.indexOf(delimiter) : -1;
    if (cut >= 0) prefixes.add(prefix + rest.slice(0, cut + delimiter!.length));
    else contents.push(k);
  }
  return { contents, prefixes: [...prefixes].sort() };
}

export class S3RepoStandin {
  readonly objects = new Map<string, StoredObject>();
  readonly served: RepoRequest[] = [];
  private uploads = new Map<string, { key: string; parts: Map<number, Buffer> }>();
  private server?: Server;
  /** The roles that may use this bucket (their credentials and policies): the first cluster's, then a restored one's. */
  private readonly roles: Array<{ credentials: Credentials; policies: string[] }>;

  constructor(private readonly content: S3RepoContent) {
    this.roles = [{ credentials: content.credentials, policies: content.policies }];
  }

  /** Another cluster's role (the restored cluster's, archiving into its own prefix of this bucket), held to its own policies. */
  addRole(credentials: Credentials, policies: string[]): void {
    this.roles.push({ credentials, policies });
  }

  async start(address: string, port: number, tls: { cert: string; key: string }): Promise<void> {
    this.server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
      this.handle(req, res).catch((e) => {
        res.writeHead(500);
        res.end(String(e));
      });
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once("error", reject);
      this.server!.listen(port, address, () => resolve());
    });
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((r) => (s.closeAllConnections(), s.close(() => r())));
  }

  /** Keys stored under a prefix. */
  keys(prefix = ""): string[] {
    return [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const data = await body(req);
    const url = new URL(req.url ?? "/", "https://x");
    const q = url.searchParams;
    const { bucket, key } = bucketAndKey(String(req.headers.host ?? ""), url.pathname, this.content.endpoint);
    const method = req.method ?? "GET";
    const op = this.operation(method, key, q);
    const role = this.roles.find((r) => signatureProblem(req.headers, r.credentials, "s3") === undefined);
    const by = role?.credentials.accessKeyId;
    const reply = (status: number, xml?: string, headers: Record<string, string | number> = {}) => {
      this.served.push({ op, key, status, by });
      res.writeHead(status, { ...(xml ? { "content-type": "application/xml" } : {}), ...headers });
      res.end(method === "HEAD" ? undefined : xml);
    };
    const error = (status: number, code: string, message = code) =>
      reply(status, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${xmlEscape(message)}</Message></Error>`);

    if (!role) return error(403, "InvalidAccessKeyId", signatureProblem(req.headers, this.content.credentials, "s3"));
    if (bucket !== this.content.bucket) return error(404, "NoSuchBucket");
    const objectArn = `arn:aws:s3:::${bucket}/${key}`;
    const allowed = (action: string, resource = objectArn, context: Record<string, string> = {}) =>
      policyAllows(role.policies, action, resource, context);

    switch (op) {
      case "ListObjectsV2": {
        const prefix = q.get("prefix") ?? "";
        if (!allowed("s3:ListBucket", `arn:aws:s3:::${bucket}`, { "s3:prefix": prefix })) return error(403, "AccessDenied");
        const { contents, prefixes } = listObjects([...this.objects.keys()], prefix, q.get("delimiter") ?? undefined);
        const items = contents
          .map((k) => {
            const o = this.objects.get(k)!;
            return `<Contents><Key>${xmlEscape(k)}</Key><LastModified>${o.modified.toISOString()}</LastModified><ETag>"${o.etag}"</ETag><Size>${o.data.length}</Size><StorageClass>STANDARD</StorageClass></Contents>`;
          })
          .join("");
        const common = prefixes.map((p) => `<CommonPrefixes><Prefix>${xmlEscape(p)}</Prefix></CommonPrefixes>`).join("");
        return reply(
          200,
          `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>${bucket}</Name><Prefix>${xmlEscape(prefix)}</Prefix>` +
            `<KeyCount>${contents.length + prefixes.length}</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>${items}${common}</ListBucketResult>`,
        );
      }
      case "GetObject":
      case "HeadObject": {
        if (!allowed("s3:GetObject")) return error(403, "AccessDenied");
        const o = this.objects.get(key);
        if (!o) return error(404, "NoSuchKey");
        this.served.push({ op, key, status: 200, by });
        res.writeHead(200, { "content-length": o.data.length, etag: `"${o.etag}"`, "last-modified": o.modified.toUTCString() });
        res.end(method === "HEAD" ? undefined : o.data);
        return;
      }
      case "PutObject": {
        if (!allowed("s3:PutObject")) return error(403, "AccessDenied");
        const etag = randomBytes(16).toString("hex");
        this.objects.set(key, { data, etag, modified: new Date() });
        return reply(200, undefined, { etag: `"${etag}"` });
      }
      case "DeleteObject":
        if (!allowed("s3:DeleteObject")) return error(403, "AccessDenied");
        this.objects.delete(key);
        return reply(204);
      case "DeleteObjects": {
        const keys = [...data.toString("utf8").matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) =>
          m[1].replace(/&amp;/g, "&").replace(/&lt;/g, "<"),
        );
        const results = keys.map((k) => {
          if (!allowed("s3:DeleteObject", `arn:aws:s3:::${bucket}/${k}`))
            return `<Error><Key>${xmlEscape(k)}</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`;
          this.objects.delete(k);
          return `<Deleted><Key>${xmlEscape(k)}</Key></Deleted>`;
        });
        return reply(200, `<?xml version="1.0" encoding="UTF-8"?><DeleteResult>${results.join("")}</DeleteResult>`);
      }
      case "CreateMultipartUpload": {
        if (!allowed("s3:PutObject")) return error(403, "AccessDenied");
        const id = randomBytes(12).toString("hex");
        this.uploads.set(id, { key, parts: new Map() });
        return reply(
          200,
          `<?xml version="1.0" encoding="UTF-8"?><InitiateMultipartUploadResult><Bucket>${bucket}</Bucket><Key>${xmlEscape(key)}</Key><UploadId>${id}</UploadId></InitiateMultipartUploadResult>`,
        );
      }
      case "UploadPart": {
        if (!allowed("s3:PutObject")) return error(403, "AccessDenied");
        const u = this.uploads.get(q.get("uploadId") ?? "");
        if (!u || u.key !== key) return error(404, "NoSuchUpload");
        u.parts.set(Number(q.get("partNumber")), data);
        return reply(200, undefined, { etag: `"${randomBytes(16).toString("hex")}"` });
      }
      case "CompleteMultipartUpload": {
        if (!allowed("s3:PutObject")) return error(403, "AccessDenied");
        const id = q.get("uploadId") ?? "";
        const u = this.uploads.get(id);
        if (!u || u.key !== key) return error(404, "NoSuchUpload");
        const parts = [...u.parts.entries()].sort((a, b) => a[0] - b[0]).map(([, b]) => b);
        const etag = `${randomBytes(16).toString("hex")}-${parts.length}`;
        this.objects.set(key, { data: Buffer.concat(parts), etag, modified: new Date() });
        this.uploads.delete(id);
        return reply(
          200,
          `<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUploadResult><Bucket>${bucket}</Bucket><Key>${xmlEscape(key)}</Key><ETag>"${etag}"</ETag></CompleteMultipartUploadResult>`,
        );
      }
      case "AbortMultipartUpload":
        if (!allowed("s3:AbortMultipartUpload")) return error(403, "AccessDenied");
        this.uploads.delete(q.get("uploadId") ?? "");
        return reply(204);
      default:
        return error(501, "NotImplemented", `${op} is not served by the rehearsal`);
    }
  }

  private operation(method: string, key: string, q: URLSearchParams): string {
    if (key === "") {
      if ((method === "GET" || method === "HEAD") && q.get("list-type") === "2") return "ListObjectsV2";
      if (method === "POST" && q.has("delete")) return "DeleteObjects";
      return `${method} bucket`;
    }
    if (method === "POST" && q.has("uploads")) return "CreateMultipartUpload";
    if (method === "PUT" && q.has("uploadId")) return "UploadPart";
    if (method === "POST" && q.has("uploadId")) return "CompleteMultipartUpload";
    if (method === "DELETE" && q.has("uploadId")) return "AbortMultipartUpload";
    return { GET: "GetObject", HEAD: "HeadObject", PUT: "PutObject", DELETE: "DeleteObject" }[method] ?? `${method} object`;
  }
}
