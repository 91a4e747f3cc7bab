/**
 * The first-boot script (`/usr/local/sbin/hapg-boot`, run once per instance by cloud-init's runcmd).
 * It does only what must happen before the agent's code runs: fetch and unpack the agent bundle from
 * S3, claim the host's fixed IP and data volume (`hapg claim`, in the bundle: an instance of a host's
 * Auto Scaling group starts without either), mount the volume and grow its file system. Secrets and
 * the agent config are node-init's job (in the agent bundle, tested there). Checked by shellcheck.
 */
import { day2Units } from "./day2-units";
import { NODE_PATHS, UNITS } from "./paths";
import { HostSpec } from "./spec";

/** Single-quotes a value for bash. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

export function renderBootScript(spec: HostSpec): string {
  const units = [...(spec.etcd ? [UNITS.etcd] : []), ...(spec.postgres ? [UNITS.haproxy, UNITS.agent] : []), ...day2Units(spec)];
  // Debian's packages ship their own services; ours replace them (own config paths, TLS, data volume).
  const distroUnits = [...(spec.etcd ? ["etcd.service"] : []), ...(spec.postgres ? ["haproxy.service"] : [])];
  const ssmArch = spec.architecture === "arm64" ? "debian_arm64" : "debian_amd64";
  const dirs = [
    ...(spec.postgres ? [`install -d -o postgres -g postgres -m 0700 ${NODE_PATHS.dataMount}/postgres`] : []),
    ...(spec.etcd ? [`install -d -o etcd -g etcd -m 0700 ${NODE_PATHS.dataMount}/etcd`] : []),
  ];
  return `#!/bin/bash
# First boot of ${spec.hostName} (HA PostgreSQL cluster ${spec.clusterName}). Written by HaPostgresCluster.
set -euo pipefail

readonly BUCKET=${shellQuote(spec.bundle.bucket)}
readonly KEY=${shellQuote(spec.bundle.key)}
readonly VOLUME_ID=${shellQuote(spec.dataVolumeId)}
readonly FIXED_IP=${shellQuote(spec.privateIp)}
readonly MOUNT=${shellQuote(NODE_PATHS.dataMount)}

log() { echo "hapg-boot: $*" >&2; }

# Package installs are over: let services start normally again.
rm -f /usr/sbin/policy-rc.d
systemctl disable --now ${distroUnits.join(" ")} || true

# IMDSv2 (a session token is required: IMDSv1 is turned off on these instances).
imds_token=$(curl -fsS -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' http://169.254.169.254/latest/api/token)
region=$(curl -fsS -H "X-aws-ec2-metadata-token: $imds_token" http://169.254.169.254/latest/meta-data/placement/region)
export AWS_DEFAULT_REGION="$region" AWS_REGION="$region"
${
  spec.sessionManager
    ? `
# Session Manager: Debian ships no SSM agent; AWS publishes it per region.
if ! systemctl is-active --quiet amazon-ssm-agent; then
  if curl -fsS -o /tmp/amazon-ssm-agent.deb "https://s3.$region.amazonaws.com/amazon-ssm-$region/latest/${ssmArch}/amazon-ssm-agent.deb" \\
    && dpkg -i /tmp/amazon-ssm-agent.deb; then
    systemctl enable --now amazon-ssm-agent
  else
    log "SSM agent install failed; continuing without Session Manager"
  fi
fi
`
    : ""
}
# The agent bundle is far over the 16 KB user-data limit: it comes from S3 (the instance role may read only it).
mkdir -p "$(dirname ${NODE_PATHS.bundleZip})"
for attempt in 1 2 3 4 5 6 7 8 9 10; do
  aws s3 cp --only-show-errors "s3://$BUCKET/$KEY" ${NODE_PATHS.bundleZip} && break
  log "bundle download failed (attempt $attempt); retrying"
  sleep 3
done
[ -s ${NODE_PATHS.bundleZip} ] || { log "no agent bundle"; exit 1; }
rm -rf ${NODE_PATHS.appDir}.new
unzip -q ${NODE_PATHS.bundleZip} -d ${NODE_PATHS.appDir}.new
rm -rf ${NODE_PATHS.appDir}
mv ${NODE_PATHS.appDir}.new ${NODE_PATHS.appDir}

# The host's fixed IP and data volume live outside any instance: take them (the IP moves from the
# terminated instance, the volume is attached once the old instance has let it go).
${NODE_PATHS.node} ${NODE_PATHS.cli} claim --volume-id "$VOLUME_ID" --fixed-ip "$FIXED_IP" --ip-env ${NODE_PATHS.fixedIpEnv}
systemctl daemon-reload
systemctl enable --now ${UNITS.fixedIp}

# Wait for the data volume's NVMe device (serial = volume id).
device="/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_\${VOLUME_ID//-/}"
for _ in $(seq 1 600); do
  [ -e "$device" ] && break
  sleep 1
done
[ -e "$device" ] || { log "data volume $VOLUME_ID did not appear"; exit 1; }
# Format only a blank volume: a volume kept from a replaced instance holds the cluster's data.
if ! blkid "$device" >/dev/null 2>&1; then
  log "formatting blank data volume $VOLUME_ID"
  mkfs.ext4 -q -L hapg-data "$device"
fi
mkdir -p "$MOUNT"
if ! grep -q " $MOUNT " /etc/fstab; then
  echo "UUID=$(blkid -s UUID -o value "$device") $MOUNT ext4 defaults,noatime,nofail 0 2" >> /etc/fstab
fi
mountpoint -q "$MOUNT" || mount "$MOUNT"
# A volume grown in place (a larger size in \`pulumi up\`) is grown here, online, by the next instance.
resize2fs "$device" >/dev/null 2>&1 || log "resize2fs failed; continuing with the current size"
${dirs.join("\n")}


${
  spec.postgres
    ? `# The agent rewrites HAProxy's config from the topology (atomically, in its own directory).
chown -R postgres:postgres ${NODE_PATHS.haproxyDir}
`
    : ""
}# Secrets and the agent config: fetched from SSM and written 0600 by node-init (in the bundle).
${NODE_PATHS.node} ${NODE_PATHS.cli} node-init --plan ${NODE_PATHS.nodeInitPlan}
${
  spec.etcd
    ? `# Before etcd starts: bootstrap (only the initial members, empty data, no cluster), join (member add) or just start.
${NODE_PATHS.node} ${NODE_PATHS.cli} etcd-join --plan ${NODE_PATHS.nodeInitPlan}
`
    : ""
}
systemctl daemon-reload
systemctl enable --now ${units.join(" ")}
# What this host booted (its revision), for the leader's roll: written to etcd once it answers.
${NODE_PATHS.node} ${NODE_PATHS.cli} host-report --plan ${NODE_PATHS.nodeInitPlan} || log "host report failed; the roll will wait for it"
log "done"
`;
}
