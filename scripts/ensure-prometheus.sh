#!/usr/bin/env bash
# Install Debian's Prometheus (the server and `promtool`) for the monitoring tests:
# `promtool check config|rules` and `promtool test rules` over deploy/monitoring/, and a
# throwaway Prometheus the integration test starts itself on a free port. Idempotent: does
# nothing when both binaries are present. The tests never use the package's system service.
set -euo pipefail

if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then
  echo "prometheus present: $(command -v prometheus), $(command -v promtool)"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -q
# Recommends would add prometheus-node-exporter, which the hub does not need.
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends prometheus
promtool --version
prometheus --version
