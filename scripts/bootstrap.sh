#!/usr/bin/env bash
# Install everything Liangfa Hub needs on a fresh Debian machine, idempotently and cached:
# the Python virtualenv with the package and its dev tools, the Kafka broker and Apicurio
# Registry from Maven Central (cached in ~/.cache/liangfa-hub), and for tests PostgreSQL
# and Chromium from Debian. Re-running it is cheap: each step checks before it works.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test_deps=0
[ "${1:-}" = "--test" ] && want_test_deps=1

python=${PYTHON:-python3.11}
command -v "$python" >/dev/null 2>&1 || python=python3
"$python" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
  || { echo "Python 3.11 is required" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e ".[dev]"
  rm -f .venv/.installed-* && touch "$stamp"
fi

need_apt=()
command -v java >/dev/null 2>&1 || need_apt+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || need_apt+=(maven)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
if [ "${#need_apt[@]}" -gt 0 ]; then
  echo "installing from Debian: ${need_apt[*]}"
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    "${need_apt[@]}" >/dev/null
fi
if [ "$want_test_deps" = 1 ]; then
  scripts/ensure-postgres.sh >/dev/null   # PostgreSQL 15 binaries for the store tests
  scripts/ensure-chromium.sh >/dev/null   # Debian's Chromium for the browser tests
  scripts/ensure-prometheus.sh >/dev/null   # Prometheus and promtool for the rule tests
  scripts/ensure-compose.sh >/dev/null   # docker-compose for `config` over deploy/compose/
fi

# The connector's native row path (Rust, when cargo is there; else rows map in Python).
scripts/build-native.sh || echo "the native row path did not build: connectors map rows in Python" >&2

# Kafka broker classpath and Apicurio Registry from Maven Central (first time only).
.venv/bin/python -c 'from hub.local.artifacts import ensure_artifacts; ensure_artifacts()'

# The view's chart library, installed from npm into the package's static folder.
scripts/vendor-assets.sh >/dev/null
