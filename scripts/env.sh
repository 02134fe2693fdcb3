# Shared by scripts/run.sh and scripts/test.sh: checks the toolchain and sets where
# builds go. Sourced, not run. Safe to source any number of times.
set -euo pipefail

if ! command -v cargo >/dev/null 2>&1; then
  for candidate in "$HOME/.cargo/bin" /usr/local/cargo/bin; do
    [ -x "$candidate/cargo" ] && export PATH="$candidate:$PATH"
  done
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "error: cargo (Rust 1.95 or newer) is needed; install it with rustup (https://rustup.rs) and run this again" >&2
  exit 1
fi
# wasmtime (the plugin host) needs Rust 1.95.
rust_minor=$(rustc --version 2>/dev/null | sed -nE 's/^rustc 1\.([0-9]+).*/\1/p')
if [ "${rust_minor:-0}" -lt 95 ]; then
  echo "error: Rust 1.95 or newer is needed (found: $(rustc --version 2>/dev/null || echo none)); run \`rustup update stable\` and run this again" >&2
  exit 1
fi
# Debian packages: a C/C++ compiler for crates that build C, Qt 6 with its QML modules
# for the launcher, CJK fonts so Chinese renders, Xvfb for a window without a display.
RA_APT_PACKAGES="build-essential pkg-config qt6-base-dev qt6-declarative-dev
  qml6-module-qtquick qml6-module-qtquick-controls qml6-module-qtquick-layouts
  qml6-module-qtquick-window qml6-module-qtquick-templates qml6-module-qtquick-dialogs
  qml6-module-qtqml-workerscript qml6-module-qttest qt6-qpa-plugins fonts-noto-cjk
  xvfb xauth"
missing=""
for p in $RA_APT_PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "installing Debian packages:$missing"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
fi

# One target directory outside the clone, so repeated runs and fresh clones reuse builds.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ra/target}"
# No incremental caches: they grew past 13 GB here and filled the disk; a test build
# recompiles only our own crates anyway.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
# Two cores here: keep the build from starving everything else.
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
RA_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/ra"
mkdir -p "$RA_CACHE"
