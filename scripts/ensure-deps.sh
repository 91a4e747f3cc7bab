#!/usr/bin/env bash
# Installs what the demo and the tests need and are missing: npm packages, and (as root) Debian's
# etcd, HAProxy, PostgreSQL and pgBackRest plus the checkers for rendered user-data. Without root it says what to run.
# What the boot rehearsal needs (debootstrap, systemd-nspawn, zip, openssl) is installed as root, or
# asked for with --boot (npm run test:boot); without root and --boot, npm test skips the rehearsal.
set -euo pipefail
boot=false
{ [ "${1:-}" = "--boot" ] || [ "$(id -u)" -eq 0 ]; } && boot=true
cd "$(dirname "$0")/.."

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "ensure-deps: installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi

have_pg() { ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || command -v pg_config >/dev/null 2>&1; }
missing=()
command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || missing+=(etcd-client)
command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
have_pg || missing+=(postgresql)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v iptables >/dev/null 2>&1 || missing+=(iptables)   # partitions inside the fault suite's namespaces
command -v pgbackrest >/dev/null 2>&1 || missing+=(pgbackrest) # archiving and backups (S3: s3rver from npm locally)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)       # the local S3 server's test certificate
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
command -v cloud-init >/dev/null 2>&1 || missing+=(cloud-init)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v patronictl >/dev/null 2>&1 || missing+=(patroni)   # Patroni's own client, run against our cluster
if $boot; then
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  command -v systemd-nspawn >/dev/null 2>&1 || missing+=(systemd-container)
  command -v zip >/dev/null 2>&1 || missing+=(zip)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  command -v nsenter >/dev/null 2>&1 || missing+=(util-linux)
fi

# npm run test:docker: Debian's Docker engine (the test starts its own dockerd; the docker CLI comes with it).
for arg in "$@"; do
  if [ "$arg" = "--docker" ]; then
    command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "ensure-deps: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # policy-rc.d keeps the packages' own services from starting; tests start their own processes.
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    rm -f /usr/sbin/policy-rc.d
  else
    echo "ensure-deps: missing Debian packages: ${missing[*]}" >&2
    echo "ensure-deps: run as root:  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
fi
