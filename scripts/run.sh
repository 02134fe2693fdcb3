#!/usr/bin/env bash
# Sets up and runs RA: builds the launcher and the daemon, then opens the launcher.
#
# With a display, the launcher opens as a normal desktop window with your own settings
# and model folders. Without one (a server, CI, a container), it opens under Xvfb in a
# demo home with the tiny test model, generates an image through the window, saves a
# screenshot of every page in zh-CN and en-US to out/screenshots/, and quits.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

bash scripts/plugins.sh
cargo build --release -p ra-daemon -p ra-launcher
bin="$CARGO_TARGET_DIR/release"

if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  exec "$bin/ra-launcher"
fi

demo="$(pwd)/out/demo"
shots="$(pwd)/out/screenshots"
model="$demo/data/ra/models/Stable-diffusion/ra-tiny.safetensors"
if [ ! -f "$model" ]; then
  mkdir -p "$(dirname "$model")"
  "$bin/ra-daemon" dev make-model --preset tiny --layout single-file --out "$model" --seed 0 >/dev/null
fi
rm -rf "$demo/config" "$shots"
mkdir -p "$shots" "$demo/run" "$demo/config/ra"
chmod 700 "$demo/run"
# A model pack naming the demo model, so the Model packs page has one to show; every
# model in it is already here, so installing it downloads nothing.
cat > "$demo/starter.toml" <<PACK
id = "demo-starter"
version = "1.0.0"
[name]
zh-CN = "演示入门包"
en-US = "Demo starter"
[description]
zh-CN = "随机权重的小模型，用来演示整个流程。"
en-US = "The tiny random-weight model that demonstrates the whole path."
[[models]]
name = "RA tiny"
file = "ra-tiny.safetensors"
kind = "checkpoint"
categories = ["演示"]
tier = "official"
urls = ["https://example.org/ra-tiny.safetensors"]
size = $(stat -c %s "$model")
sha256 = "$(sha256sum "$model" | cut -d' ' -f1)"
license = "MIT"
PACK
echo "pack_sources = [\"$demo/starter.toml\"]" > "$demo/config/ra/launcher.toml"

echo "No display found: opening the launcher under Xvfb with the tiny demo model…"
HOME="$demo" XDG_DATA_HOME="$demo/data" XDG_CONFIG_HOME="$demo/config" \
  XDG_RUNTIME_DIR="$demo/run" RA_DAEMON_ARGS="--no-session-bus" \
  RA_SCREENSHOT_DIR="$shots" QT_QPA_PLATFORM=xcb \
  xvfb-run -a -s "-screen 0 1280x800x24" "$bin/ra-launcher"

cat <<MSG

The launcher generated an image through its Generate page and photographed every page:
$(ls "$shots" | sed "s|^|  $shots/|")
The image itself: $(ls "$demo"/data/ra/outputs/*.png | tail -n 1)

The tiny demo model has random weights, so the picture is coloured noise: it shows the
whole path working (window → D-Bus → daemon → engine → PNG with A1111 infotext). On a
desktop, run this command again with a display and use your own models (the welcome
shows where to put them, or add your A1111/ComfyUI folder in Settings).
MSG
