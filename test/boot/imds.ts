/**
 * An IMDSv2 stand-in for one rehearsal node, run inside the node's network namespace on
 * 169.254.169.254:80 (`ip netns exec NS node imds.js CONFIG_JSON`). Like EC2 with
 * `httpTokens: required`: a session token from `PUT /latest/api/token` is required for every read
 * (401 without it). It serves what the boot script and the AWS CLI read: instance id, region,
 * zone, addresses, and the instance role's credentials.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";

/** The MAC address of a host's eth0, from its address (the rehearsal sets it; IMDS names the interface by it). Pure. */
export function macFor(address: string): string {
  return ["02", "00", ...address.split(".").map((o) => Number(o).toString(16).padStart(2, "0"))].join(":");
}

export interface ImdsConfig {
  instanceId: string;
  region: string;
  availabilityZone: string;
  privateIp: string;
  /** The subnet's CIDR (the fixed IP's prefix length). */
  subnetCidr: string;
  hostname: string;
  roleName: string;
  accountId: string;
  credentials: { accessKeyId: string; secretAccessKey: string; token: string };
  /** The instance's primary interface (one per instance); default: one derived from the address. */
  interfaceId?: string;
  /**
   * A file listing the interface's private addresses (the EC2 stand-in rewrites it when the claim
   * assigns the fixed IP); read at each request. Without it the fixed IP is listed from the start.
   */
  addressesFile?: string;
}

/** The metadata tree (path under /latest/ → body). Pure. */
export function metadataTree(c: ImdsConfig, addresses: string[] = [c.privateIp]): Record<string, string> {
  const creds = JSON.stringify({
    Code: "Success",
    LastUpdated: new Date().toISOString(),
    Type: "AWS-HMAC",
    AccessKeyId: c.credentials.accessKeyId,
    SecretAccessKey: c.credentials.secretAccessKey,
    Token: c.credentials.token,
    Expiration: new Date(Date.now() + 6 * 3600_000).toISOString(),
  });
  const identity = JSON.stringify({
    accountId: c.accountId,
    architecture: "x86_64",
    availabilityZone: c.availabilityZone,
    imageId: "ami-0rehearsal0debian13",
    instanceId: c.instanceId,
    instanceType: "m7i.large",
    privateIp: c.privateIp,
    region: c.region,
    version: "2017-09-30",
  });
  return {
    "meta-data/instance-id": c.instanceId,
    "meta-data/local-ipv4": addresses[0] ?? c.privateIp,
    // The primary interface, by its MAC (the container's eth0, ./plan.ts macFor): the boot claim finds
    // its interface id, subnet and addresses here. The fixed IP is already among them.
    "meta-data/mac": macFor(c.privateIp),
    [`meta-data/network/interfaces/macs/${macFor(c.privateIp)}/interface-id`]:
      c.interfaceId ??
      `eni-0${c.privateIp
        .split(".")
        .map((o) => Number(o).toString(16).padStart(2, "0"))
        .join("")}`,
    [`meta-data/network/interfaces/macs/${macFor(c.privateIp)}/subnet-ipv4-cidr-block`]: c.subnetCidr,
    [`meta-data/network/interfaces/macs/${macFor(c.privateIp)}/local-ipv4s`]: addresses.join("\n"),
    "meta-data/local-hostname": c.hostname,
    "meta-data/hostname": c.hostname,
    "meta-data/placement/region": c.region,
    "meta-data/placement/availability-zone": c.availabilityZone,
    "meta-data/iam/info": JSON.stringify({
      Code: "Success",
      InstanceProfileArn: `arn:aws:iam::${c.accountId}:instance-profile/${c.roleName}`,
    }),
    "meta-data/iam/security-credentials/": c.roleName,
    [`meta-data/iam/security-credentials/${c.roleName}`]: creds,
    "dynamic/instance-identity/document": identity,
  };
}

function main(): void {
  const config = JSON.parse(process.argv[2]) as ImdsConfig;
  const tokens = new Set<string>();
  const server = createServer((req, res) => {
    const url = (req.url ?? "/").split("?")[0];
    if (req.method === "PUT" && url === "/latest/api/token") {
      const ttl = Number(req.headers["x-aws-ec2-metadata-token-ttl-seconds"]);
      if (!(ttl >= 1 && ttl <= 21600)) {
        res.writeHead(400);
        return res.end();
      }
      const token = randomBytes(24).toString("base64");
      tokens.add(token);
      res.writeHead(200, { "content-type": "text/plain", "x-aws-ec2-metadata-token-ttl-seconds": String(ttl) });
      return res.end(token);
    }
    if (req.method !== "GET") {
      res.writeHead(405);
      return res.end();
    }
    if (!tokens.has(String(req.headers["x-aws-ec2-metadata-token"] ?? ""))) {
      res.writeHead(401);
      return res.end();
    }
    let addresses: string[] | undefined;
    try {
      addresses = config.addressesFile ? readFileSync(config.addressesFile, "utf8").split(/\s+/).filter(Boolean) : undefined;
    } catch {
      addresses = [];
    }
    const tree = metadataTree(config, addresses);
    // A leaf answers with or without a trailing slash, as EC2's does (the AWS CLI asks for
    // placement/availability-zone/ to find its region); a listing is stored with its slash.
    const path = url.replace(/^\/latest\//, "");
    const body = tree[path] ?? tree[`${path}/`] ?? tree[path.replace(/\/$/, "")];
    if (body === undefined) {
      res.writeHead(404);
      return res.end();
    }
    res.writeHead(200, { "content-type": body.startsWith("{") ? "application/json" : "text/plain" });
    res.end(body);
  });
  server.listen(80, "169.254.169.254", () => process.stdout.write("imds: listening\n"));
  process.on("SIGTERM", () => server.close(() => process.exit(0)));
}

if (require.main === module) main();
