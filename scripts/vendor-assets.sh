#!/usr/bin/env bash
# Install the view's browser assets from the npm registry and copy them into
# hub/view/static/vendor/, from where the view serves them (no CDN at run time).
# The view works without them (tables instead of charts); run this in the build.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VIEW="$ROOT/hub/view"
VENDOR="$VIEW/static/vendor"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

if [ -f "$VENDOR/chart.umd.min.js" ] && [ "${1:-}" != "--force" ]; then
  echo "chart.js already vendored in $VENDOR (use --force to reinstall)"
  exit 0
fi
command -v npm >/dev/null || { echo "npm is required (apt-get install -y npm)" >&2; exit 1; }

cp "$VIEW/package.json" "$WORK/"
(cd "$WORK" && npm install --no-audit --no-fund --ignore-scripts --omit=dev --loglevel=error)
mkdir -p "$VENDOR"
SRC="$WORK/node_modules/chart.js/dist"
if [ -f "$SRC/chart.umd.min.js" ]; then
  cp "$SRC/chart.umd.min.js" "$VENDOR/chart.umd.min.js"
else
  cp "$SRC/chart.umd.js" "$VENDOR/chart.umd.min.js"
fi
cp "$WORK/node_modules/chart.js/LICENSE.md" "$VENDOR/chart.js.LICENSE.md"
echo "vendored chart.js $(node -p "require('$WORK/node_modules/chart.js/package.json').version") into $VENDOR"
