#!/usr/bin/env bash
# Builds every plugin in plugins/ for wasm32-wasip2 and lays each out as a plugin folder
# (plugin.toml + component): shipped plugins in $CARGO_TARGET_DIR/plugins, which
# `ra-daemon serve` finds beside its binary, test-only ones in
# $CARGO_TARGET_DIR/plugins-testing. Safe to run any number of times.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
  echo "adding the wasm32-wasip2 target"
  rustup target add wasm32-wasip2
fi
wasm_target="$RA_CACHE/target-plugins"
CARGO_TARGET_DIR="$wasm_target" cargo build --release --target wasm32-wasip2 \
  --manifest-path plugins/Cargo.toml --workspace --quiet

lay_out() { # manifest-dir output-root
  local id wasm out
  id=$(sed -n 's/^id = "\(.*\)"/\1/p' "$1/plugin.toml")
  wasm=$(sed -n 's/^wasm = "\(.*\)"/\1/p' "$1/plugin.toml")
  out="$2/$id"
  mkdir -p "$out.part"
  cp "$1/plugin.toml" "$wasm_target/wasm32-wasip2/release/$wasm" "$out.part/"
  for extra in locales icons data; do
    [ -d "$1/$extra" ] && cp -r "$1/$extra" "$out.part/"
  done
  rm -rf "$out" && mv "$out.part" "$out"
}
mkdir -p "$CARGO_TARGET_DIR/plugins" "$CARGO_TARGET_DIR/plugins-testing"
for dir in plugins/*/; do
  [ -f "$dir/plugin.toml" ] && lay_out "${dir%/}" "$CARGO_TARGET_DIR/plugins"
done
for dir in plugins/testing/*/; do
  [ -f "$dir/plugin.toml" ] && lay_out "${dir%/}" "$CARGO_TARGET_DIR/plugins-testing"
done
echo "plugins built into $CARGO_TARGET_DIR/plugins"
