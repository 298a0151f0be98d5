#!/usr/bin/env bash
# Install Debian's headless-capable Chromium for the view's browser tests.
# The tests drive /usr/bin/chromium through the Python playwright package; we never run
# `playwright install` (it downloads a browser build from outside the package registries).
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  echo "chromium already installed: $(/usr/bin/chromium --version 2>/dev/null || echo unknown)"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
# Other jobs may hold the dpkg lock (another install in progress): wait instead of failing.
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -q
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends \
  chromium fonts-noto-cjk
/usr/bin/chromium --version
