# Shared by scripts/run.sh and scripts/test.sh: checks the toolchain and sets where
# builds go. Sourced, not run. Safe to source any number of times.
set -euo pipefail

if ! command -v cargo >/dev/null 2>&1; then
  for candidate in "$HOME/.cargo/bin" /usr/local/cargo/bin; do
    [ -x "$candidate/cargo" ] && export PATH="$candidate:$PATH"
  done
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "error: cargo (Rust 1.85 or newer) is needed; install it with rustup (https://rustup.rs) and run this again" >&2
  exit 1
fi
if ! command -v cc >/dev/null 2>&1; then
  echo "installing a C compiler (build-essential) for crates that build C code"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq build-essential pkg-config
fi

# One target directory outside the clone, so repeated runs and fresh clones reuse builds.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ra/target}"
# Two cores here: keep the build from starving everything else.
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
RA_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/ra"
mkdir -p "$RA_CACHE"
