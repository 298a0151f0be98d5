#!/usr/bin/env bash
# The connector's native row path (native/rowpath → connectors/rowpath/_rowpath.so),
# built with Rust's cargo when it is there. Without it a connector maps every row in
# Python: the same bytes, ~7 times the mapping's CPU (connectors/PERFORMANCE.md).
set -euo pipefail
cd "$(dirname "$0")/.."

out=connectors/rowpath/_rowpath.so
cargo=$(command -v cargo || echo "$HOME/.cargo/bin/cargo")
if [ ! -x "$cargo" ]; then
  echo "cargo not found: connectors map rows in Python (install Rust with rustup)" >&2
  exit 0
fi
if [ -f "$out" ] && [ "$out" -nt native/rowpath/src/lib.rs ] \
   && [ "$out" -nt native/rowpath/Cargo.lock ] && [ "$out" -nt native/rowpath/Cargo.toml ]; then
  exit 0
fi
PYO3_PYTHON="$PWD/.venv/bin/python" "$cargo" build --release --locked --quiet \
  --manifest-path native/rowpath/Cargo.toml
cp native/rowpath/target/release/lib_rowpath.so "$out.tmp"
mv "$out.tmp" "$out"
