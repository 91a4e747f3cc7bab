/**
 * The cluster's TLS: a private CA and one certificate per host (PostgreSQL server TLS, the agent API's
 * HTTPS, etcd server, peer and client authentication). Keys go to SSM SecureString; certificates to plain String
 * parameters (public). etcd requires a client certificate signed by this CA (its authentication).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { ResolvedClusterArgs } from "../args/types";
import { childName, parameterNames, resourceTags } from "../naming/names";
import { secureParameter } from "./passwords";

export interface ClusterCa {
  certPem: pulumi.Output<string>;
  privateKeyPem: pulumi.Output<string>;
  parameter: aws.ssm.Parameter;
}

const TEN_YEARS_HOURS = 10 * 365 * 24;
const FIVE_YEARS_HOURS = 5 * 365 * 24;

export function createCa(name: string, args: ResolvedClusterArgs, parent: pulumi.Resource): ClusterCa {
  const key = new tls.PrivateKey(childName(name, "ca-key"), { algorithm: "ECDSA", ecdsaCurve: "P256" }, { parent });
  const cert = new tls.SelfSignedCert(
    childName(name, "ca-cert"),
    {
      privateKeyPem: key.privateKeyPem,
      isCaCertificate: true,
      subject: { commonName: `${args.clusterName} cluster CA`, organization: "HaPostgresCluster" },
      validityPeriodHours: TEN_YEARS_HOURS,
      allowedUses: ["cert_signing", "crl_signing", "digital_signature"],
    },
    { parent },
  );
  const parameter = new aws.ssm.Parameter(
    childName(name, "ca-cert-param"),
    {
      name: parameterNames(args.ssmParameterPrefix, args.clusterName).caCertificate,
      type: "String",
      value: cert.certPem,
      description: `TLS CA certificate of ${args.clusterName} (public)`,
      tags: resourceTags(args.tags, args.clusterName),
    },
    { parent },
  );
  return { certPem: cert.certPem, privateKeyPem: key.privateKeyPem, parameter };
}

export interface HostCertificate {
  certParameter: aws.ssm.Parameter;
  keyParameter: aws.ssm.Parameter;
}

/**
 * A host's key and certificate, valid for its fixed private IP, 127.0.0.1, its host name (e.g. pg-0)
 * and `dnsNames` (the NLB's name, so clients can use sslmode=verify-full through it). PostgreSQL,
 * etcd and the agent's API (HTTPS) all serve it.
 */
export function createHostCertificate(
  name: string,
  host: string,
  privateIp: pulumi.Input<string>,
  dnsNames: pulumi.Input<string>[],
  ca: ClusterCa,
  args: ResolvedClusterArgs,
  parent: pulumi.Resource,
): HostCertificate {
  const names = parameterNames(args.ssmParameterPrefix, args.clusterName);
  const key = new tls.PrivateKey(childName(name, `${host}-tls-key`), { algorithm: "ECDSA", ecdsaCurve: "P256" }, { parent });
  const csr = new tls.CertRequest(
    childName(name, `${host}-tls-csr`),
    {
      privateKeyPem: key.privateKeyPem,
      subject: { commonName: host, organization: "HaPostgresCluster" },
      ipAddresses: [privateIp, "127.0.0.1"],
      // The host name: HAProxy verifies the agent API's certificate by it (verifyhost), since its checks go to an address.
      // The address as a DNS name too: pgBackRest 2.45 reads only DNS names when it checks a TLS server it reaches by address.
      dnsNames: [host, "localhost", privateIp, ...dnsNames],
    },
    { parent },
  );
  const cert = new tls.LocallySignedCert(
    childName(name, `${host}-tls-cert`),
    {
      certRequestPem: csr.certRequestPem,
      caPrivateKeyPem: ca.privateKeyPem,
      caCertPem: ca.certPem,
      validityPeriodHours: FIVE_YEARS_HOURS,
      // Renewed by `pulumi up` in the last year; nodes pick it up on their next node-init.
      earlyRenewalHours: 365 * 24,
      allowedUses: ["digital_signature", "key_encipherment", "server_auth", "client_auth"],
    },
    { parent },
  );
  return {
    certParameter: new aws.ssm.Parameter(
      childName(name, `${host}-tls-cert-param`),
      {
        name: names.hostCertificate(host),
        type: "String",
        value: cert.certPem,
        description: `TLS certificate of ${host} (public)`,
        tags: resourceTags(args.tags, args.clusterName),
      },
      { parent },
    ),
    keyParameter: secureParameter(
      childName(name, `${host}-tls-key-param`),
      names.hostKey(host),
      key.privateKeyPem,
      `TLS private key of ${host}`,
      args,
      parent,
    ),
  };
}
