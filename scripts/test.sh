#!/usr/bin/env bash
# Sets up and runs every test: unit and integration tests of all crates, the plugins'
# own tests, and a check that the benchmark still builds.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

# Every plugin in plugins/, built for wasm32-wasip2 from source (the daemon's tests load
# them), and their plain-Rust tests on this machine.
bash scripts/plugins.sh
CARGO_TARGET_DIR="$RA_CACHE/target-plugins" cargo test --manifest-path plugins/Cargo.toml --workspace --quiet
# The launcher's tests drive these two binaries.
cargo build -p ra-daemon -p ra-launcher --quiet
# The benchmarks still build: compiled as tests (not run), they share this build's
# artifacts, where `cargo check` would make a second, metadata-only pass over every crate.
cargo test --workspace --benches --no-run --quiet
# The launcher's window renders on Qt's offscreen platform: no display needed.
export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"
cargo test --workspace
