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
# for the launcher, CJK fonts so Chinese renders, Xvfb for a window without a display,
# curl and unzip to take ONNX Runtime out of its PyPI wheel.
RA_APT_PACKAGES="build-essential pkg-config curl unzip ca-certificates qt6-base-dev qt6-declarative-dev
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

# ONNX Runtime for the ONNX backend (ort, load-dynamic): the shared library inside the
# onnxruntime wheel from PyPI. A wheel is a zip, so curl + unzip (or Python's zipfile when
# unzip is absent) is enough; nothing is pip-installed. Fetched once, checked by sha256.
RA_ORT_VERSION=1.31.1
RA_ORT_DIR="$RA_CACHE/onnxruntime/$RA_ORT_VERSION"
RA_ORT_LIB="$RA_ORT_DIR/libonnxruntime.so.$RA_ORT_VERSION"
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) ra_ort_wheel="onnxruntime-$RA_ORT_VERSION-cp311-cp311-manylinux_2_28_x86_64.whl" ;;
  Linux-aarch64) ra_ort_wheel="onnxruntime-$RA_ORT_VERSION-cp311-cp311-manylinux_2_28_aarch64.whl" ;;
  *) ra_ort_wheel="" ;;
esac
if [ ! -s "$RA_ORT_LIB" ] && [ -n "$ra_ort_wheel" ]; then
  echo "fetching ONNX Runtime $RA_ORT_VERSION ($ra_ort_wheel) from PyPI"
  mkdir -p "$RA_ORT_DIR"
  # The simple index names each file with its sha256 after '#sha256='.
  ra_ort_href=$(curl -fsSL https://pypi.org/simple/onnxruntime/ \
    | grep -o "href=\"[^\"]*/$ra_ort_wheel#sha256=[0-9a-f]*\"" | head -n1 | sed -E 's/^href="//; s/"$//') || ra_ort_href=""
  if [ -n "$ra_ort_href" ]; then
    ra_ort_tmp=$(mktemp -d)
    if curl -fsSL -o "$ra_ort_tmp/w.whl" "${ra_ort_href%%#*}" \
      && echo "${ra_ort_href##*#sha256=}  $ra_ort_tmp/w.whl" | sha256sum -c --quiet -; then
      ra_ort_member="onnxruntime/capi/libonnxruntime.so.$RA_ORT_VERSION"
      if command -v unzip >/dev/null 2>&1; then
        unzip -p "$ra_ort_tmp/w.whl" "$ra_ort_member" > "$ra_ort_tmp/lib.so"
      else
        python3 -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))' \
          "$ra_ort_tmp/w.whl" "$ra_ort_member" > "$ra_ort_tmp/lib.so"
      fi
      # Renamed into place only when whole, so an interrupted run leaves nothing half-written.
      [ -s "$ra_ort_tmp/lib.so" ] && mv "$ra_ort_tmp/lib.so" "$RA_ORT_LIB"
    fi
    rm -rf "$ra_ort_tmp"
  fi
  [ -s "$RA_ORT_LIB" ] || echo "warning: could not fetch ONNX Runtime; ONNX models will not load (candle models still work)" >&2
fi
if [ -z "${ORT_DYLIB_PATH:-}" ] && [ -s "$RA_ORT_LIB" ]; then
  export ORT_DYLIB_PATH="$RA_ORT_LIB"
fi
