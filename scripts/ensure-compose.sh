#!/usr/bin/env bash
# Install Debian's `docker-compose` (the compose client) for the test that checks
# deploy/compose/ with `docker-compose config`: it parses, interpolates and validates the
# file against the compose schema without a Docker engine. Idempotent.
set -euo pipefail

if command -v docker-compose >/dev/null 2>&1; then
  echo "docker-compose present: $(command -v docker-compose)"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends docker-compose \
  || { $SUDO apt-get -o DPkg::Lock::Timeout=600 update -q
       $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends \
         docker-compose; }
docker-compose version
