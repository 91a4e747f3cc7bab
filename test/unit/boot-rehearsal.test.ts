/**
 * The boot rehearsal's pure parts: its addresses and names, the rootfs cache key, the mirror found
 * in apt sources, the NLB stand-in's config from the component's own health checks, the S3/SSM
 * stand-ins' policy and signature checks, and the IMDS tree. (The rehearsal itself: npm run test:boot.)
 */
import assert from "node:assert/strict";
import { healthCheckFor, targetPortFor } from "../../lib/nlb/nlb";
import { renderBootScript } from "../../lib/userdata/boot-script";
import { hostSpecs } from "../../lib/userdata/hosts";
import { iamMatch, policyAllows, signatureProblem } from "../boot/aws-standins";
import { macFor, metadataTree } from "../boot/imds";
import { describeVolumesXml } from "../boot/ec2-standin";
import { renderNlbStandin } from "../boot/nlb-standin";
import {
  debianMirror,
  ebsDevicePath,
  hostAddress,
  hostKey,
  RESTORED_CLUSTER,
  rootfsKey,
  rootfsPackages,
  SUBNET_PREFIX,
  volumeIdFor,
} from "../boot/plan";
import { extensionSection, subjectLine } from "../boot/tls-provider";
import { secretNeedles } from "../boot/checks";
import { HA_DEFAULTS } from "../../sidecar/contract/settings/schema";

describe("boot rehearsal: plan", () => {
  it("gives nodes and etcd members fixed addresses on its own subnet, and refuses unknown hosts", () => {
    assert.equal(hostAddress("pg-0"), `${SUBNET_PREFIX}.11`);
    assert.equal(hostAddress("etcd-2"), `${SUBNET_PREFIX}.23`);
    assert.throws(() => hostAddress("db-1"), /pg-N or etcd-N/);
    // The restored cluster's hosts have keys and addresses of their own.
    assert.equal(hostKey(RESTORED_CLUSTER, "pg-1"), "rpg-1");
    assert.equal(hostKey("rehearsal-dedicated", "pg-1"), "pg-1");
    assert.equal(hostAddress(hostKey(RESTORED_CLUSTER, "pg-1")), `${SUBNET_PREFIX}.32`);
    assert.equal(hostAddress(hostKey(RESTORED_CLUSTER, "etcd-0")), `${SUBNET_PREFIX}.41`);
  });

  it("mints EBS-like volume ids, and the device path the boot script waits for", () => {
    const id = volumeIdFor("pg-1");
    assert.match(id, /^vol-0[0-9a-f]{16}$/);
    assert.equal(volumeIdFor("pg-1"), id, "stable per host");
    assert.equal(ebsDevicePath("vol-0abc"), "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0abc");
  });

  it("waits for the same device name as the boot script the component renders", () => {
    const [spec] = hostSpecs({
      clusterName: "c",
      ssmParameterPrefix: "/p",
      architecture: "x86_64",
      sessionManager: false,
      bundle: { bucket: "b", key: "k" },
      nodes: [{ name: "pg-0", privateIp: "10.0.0.1" }],
      etcdMembers: [{ name: "pg-0", privateIp: "10.0.0.1" }],
      etcdPlacement: "colocated",
      volumeIds: { "pg-0": "vol-0123" },
      postgres: {
        version: 17,
        allowedCidrs: ["10.0.0.0/16"],
        settings: { ...HA_DEFAULTS, maximumLagOnFailover: 1, synchronousMode: "on", watchdog: { ...HA_DEFAULTS.watchdog, mode: "off" } },
        routing: "haproxy",
      },
    });
    const script = renderBootScript(spec);
    const prefix = ebsDevicePath("vol-0123").replace("vol0123", "");
    assert.ok(script.includes(`device="${prefix}\${VOLUME_ID//-/}"`), "the script derives the path from the volume id the same way");
  });

  it("puts every user-data package into the rootfs, and a changed list changes the cache key", () => {
    const pkgs = rootfsPackages([
      ["curl", "postgresql-17"],
      ["curl", "etcd-server"],
    ]);
    for (const p of ["curl", "postgresql-17", "etcd-server", "cloud-init", "systemd"]) assert.ok(pkgs.includes(p), p);
    assert.deepEqual(pkgs, [...pkgs].sort());
    assert.equal(pkgs.filter((p) => p === "curl").length, 1);
    const key = rootfsKey("http://m/debian", pkgs);
    assert.equal(rootfsKey("http://m/debian", [...pkgs]), key);
    assert.notEqual(rootfsKey("http://m/debian", [...pkgs, "jq"]), key);
    assert.notEqual(rootfsKey("http://other/debian", pkgs), key);
  });

  it("finds the Debian mirror in deb822 and one-line apt sources, skipping security and third-party repositories", () => {
    const deb822 = "Types: deb\n# http://snapshot.debian.org/archive/debian/2025\nURIs: http://deb.debian.org/debian\nSuites: bookworm\n";
    const security = "Types: deb\nURIs: http://deb.debian.org/debian-security\n";
    assert.equal(debianMirror([security, deb822]), "http://deb.debian.org/debian");
    assert.equal(debianMirror(["deb [arch=amd64] https://mirror.example/debian/ bookworm main\n"]), "https://mirror.example/debian");
    assert.equal(debianMirror(["deb https://packages.cloud.google.com/apt cloud-sdk main\n"]), undefined);
  });
});

describe("boot rehearsal: NLB stand-in", () => {
  const targets = [
    { name: "pg-0", address: "10.1.0.11" },
    { name: "pg-1", address: "10.1.0.12" },
  ];

  it("uses the target group's TCP check for haproxy routing (interval, thresholds, traffic port)", () => {
    const cfg = renderNlbStandin(
      [{ port: 5432, targetPort: targetPortFor("haproxy", "primary"), healthCheck: healthCheckFor("haproxy", "primary") }],
      "10.1.0.1",
      targets,
    );
    assert.match(cfg, /bind 10\.1\.0\.1:5432/);
    assert.match(cfg, /server pg-1 10\.1\.0\.12:5000 check inter 5s fall 2 rise 2\n/);
    assert.doesNotMatch(cfg, /httpchk/);
  });

  it("uses the HTTPS check on the agent's API for direct routing (not verifying the certificate, as an NLB)", () => {
    const cfg = renderNlbStandin(
      [{ port: 5432, targetPort: targetPortFor("direct", "primary"), healthCheck: healthCheckFor("direct", "primary") }],
      "10.1.0.1",
      targets,
    );
    assert.match(cfg, /option httpchk GET \/primary/);
    assert.match(cfg, /http-check expect status 200/);
    assert.match(cfg, /server pg-0 10\.1\.0\.11:5432 check inter 5s fall 2 rise 2 port 8008 check-ssl verify none\n/);
  });
});

describe("boot rehearsal: S3/SSM stand-ins", () => {
  const policy = JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      { Effect: "Allow", Action: ["ssm:GetParameter"], Resource: ["arn:aws:ssm:r:1:parameter/p/c/tls/ca.crt"] },
      { Effect: "Allow", Action: ["s3:GetObject"], Resource: ["arn:aws:s3:::b/agent/*"] },
      { Effect: "Deny", Action: "s3:*", Resource: "arn:aws:s3:::b/agent/secret" },
    ],
  });

  it("allows exactly what the role's policy allows, with wildcards, and an explicit Deny wins", () => {
    assert.ok(policyAllows([policy], "ssm:GetParameter", "arn:aws:ssm:r:1:parameter/p/c/tls/ca.crt"));
    assert.ok(!policyAllows([policy], "ssm:GetParameter", "arn:aws:ssm:r:1:parameter/p/c/tls/pg-0.key"));
    assert.ok(policyAllows([policy], "s3:GetObject", "arn:aws:s3:::b/agent/hapg-agent.zip"));
    assert.ok(!policyAllows([policy], "s3:GetObject", "arn:aws:s3:::b/agent/secret"));
    assert.ok(!policyAllows([policy], "s3:PutObject", "arn:aws:s3:::b/agent/hapg-agent.zip"));
    assert.ok(iamMatch("ssm:Get*", "ssm:GetParameter") && !iamMatch("ssm:Get?", "ssm:GetParameter"));
  });

  it("accepts only SigV4 requests signed with the instance role's key and session token", () => {
    const creds = { accessKeyId: "ASIAKEY", secretAccessKey: "s", token: "tok" };
    const auth = (key: string, service: string) =>
      `AWS4-HMAC-SHA256 Credential=${key}/20260101/eu-west-3/${service}/aws4_request, SignedHeaders=host, Signature=x`;
    assert.equal(signatureProblem({ authorization: auth("ASIAKEY", "ssm"), "x-amz-security-token": "tok" }, creds, "ssm"), undefined);
    assert.match(
      signatureProblem({ authorization: auth("AKIAOTHER", "ssm"), "x-amz-security-token": "tok" }, creds, "ssm")!,
      /not the instance role's/,
    );
    assert.match(signatureProblem({ authorization: auth("ASIAKEY", "ssm") }, creds, "ssm")!, /session token/);
    assert.match(signatureProblem({ authorization: auth("ASIAKEY", "s3"), "x-amz-security-token": "tok" }, creds, "ssm")!, /service s3/);
    assert.match(signatureProblem({}, creds, "s3")!, /SigV4/);
  });
});

describe("boot rehearsal: IMDS and TLS stand-ins", () => {
  const INSTANCE = {
    instanceId: "i-1",
    region: "eu-west-3",
    availabilityZone: "eu-west-3a",
    privateIp: "10.1.0.11",
    subnetCidr: "10.1.0.0/24",
    hostname: "ip-10-1-0-11",
    roleName: "role",
    accountId: "1",
    credentials: { accessKeyId: "A", secretAccessKey: "S", token: "T" },
  };

  it("lists the primary interface by MAC with the fixed IP on it, and DescribeVolumes says the volume is this instance's", () => {
    const tree = metadataTree(INSTANCE);
    const mac = tree["meta-data/mac"];
    assert.equal(mac, macFor("10.1.0.11"));
    assert.equal(mac, "02:00:0a:01:00:0b");
    assert.equal(tree[`meta-data/network/interfaces/macs/${mac}/local-ipv4s`], "10.1.0.11");
    assert.equal(tree[`meta-data/network/interfaces/macs/${mac}/subnet-ipv4-cidr-block`], "10.1.0.0/24");
    assert.match(tree[`meta-data/network/interfaces/macs/${mac}/interface-id`], /^eni-0[0-9a-f]+$/);
    const xml = describeVolumesXml("vol-1", "i-1");
    assert.match(xml, /<status>in-use<\/status>.*<instanceId>i-1<\/instanceId>.*<status>attached<\/status>/);
  });

  it("serves the instance's identity and the role's credentials under the paths the AWS CLI reads", () => {
    const tree = metadataTree(INSTANCE);
    assert.equal(tree["meta-data/placement/region"], "eu-west-3");
    assert.equal(tree["meta-data/iam/security-credentials/"], "role");
    assert.deepEqual(
      (({ AccessKeyId, SecretAccessKey, Token }) => ({ AccessKeyId, SecretAccessKey, Token }))(
        JSON.parse(tree["meta-data/iam/security-credentials/role"]),
      ),
      { AccessKeyId: "A", SecretAccessKey: "S", Token: "T" },
    );
    assert.equal(JSON.parse(tree["dynamic/instance-identity/document"]).instanceId, "i-1");
  });

  it("turns the tls provider's allowedUses and CA flag into X.509 extensions", () => {
    const ca = extensionSection({ isCaCertificate: true, allowedUses: ["cert_signing", "crl_signing", "digital_signature"] }, []);
    assert.match(ca, /basicConstraints = critical,CA:TRUE/);
    assert.match(ca, /keyUsage = critical,keyCertSign,cRLSign,digitalSignature/);
    const host = extensionSection({ allowedUses: ["digital_signature", "key_encipherment", "server_auth", "client_auth"] }, [
      "DNS:localhost",
      "IP:10.0.0.1",
    ]);
    assert.match(host, /CA:FALSE/);
    assert.match(host, /extendedKeyUsage = serverAuth,clientAuth/);
    assert.match(host, /subjectAltName = DNS:localhost,IP:10\.0\.0\.1/);
    assert.throws(() => extensionSection({ allowedUses: ["any_extended"] }, []), /not supported/);
    assert.equal(subjectLine({ commonName: "pg-0", organization: "HaPostgresCluster" }), "/O=HaPostgresCluster/CN=pg-0");
  });

  it("looks for secrets by value, and for PEM keys by their base64 body, not their armour", () => {
    const pem = `-----BEGIN EC PRIVATE KEY-----\n${"A".repeat(64)}\n${"B".repeat(20)}\n-----END EC PRIVATE KEY-----\n`;
    assert.deepEqual(secretNeedles(["pw-123", pem]), ["pw-123", "A".repeat(64)]);
  });
});
