#!/usr/bin/env bash
# Sets up and runs every test: unit and integration tests of all crates, and a check
# that the benchmark still builds.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

cargo check --workspace --benches --quiet
# The launcher's tests drive these two binaries.
cargo build -p ra-daemon -p ra-launcher --quiet
# The launcher's window renders on Qt's offscreen platform: no display needed.
export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"
cargo test --workspace
