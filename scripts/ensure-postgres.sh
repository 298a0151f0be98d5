#!/usr/bin/env bash
# Install PostgreSQL 15 server binaries for the view's PostgreSQL tests.
# Tests start their own throwaway cluster from /usr/lib/postgresql/15/bin (initdb, pg_ctl)
# as the unprivileged `postgres` user; no system service is needed or started here.
set -euo pipefail

PG_BIN="${LIANGFA_PG_BIN:-/usr/lib/postgresql/15/bin}"
if [ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ]; then
  echo "postgresql binaries present in $PG_BIN"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -q
# postgresql-15 on Debian bookworm; `postgresql` is the distribution's default major.
if apt-cache show postgresql-15 >/dev/null 2>&1; then
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends postgresql-15
else
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends postgresql
fi
# The package creates the `postgres` system user the tests run initdb/pg_ctl as.
id postgres
ls "$PG_BIN"/initdb "$PG_BIN"/pg_ctl
