#!/usr/bin/env bash
# Sets up and runs every test: unit and integration tests of all crates, and a check
# that the benchmark still builds.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

cargo check --workspace --benches --quiet
cargo test --workspace
