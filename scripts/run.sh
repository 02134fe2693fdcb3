#!/usr/bin/env bash
# Sets up and runs RA's main job today: builds ra-daemon, makes the tiny test model
# (random weights, real on-disk format) and generates one image with it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

cargo build --release -p ra-daemon
bin="$CARGO_TARGET_DIR/release/ra-daemon"

model="$RA_CACHE/models/ra-tiny.safetensors"
if [ ! -f "$model" ]; then
  mkdir -p "$(dirname "$model")"
  "$bin" dev make-model --preset tiny --layout single-file --out "$model" --seed 0 >/dev/null
fi

mkdir -p out
"$bin" generate --model "$model" --prompt "a lighthouse on a cliff at dusk, 灯塔" \
  --negative-prompt "blurry" --steps 20 --sampler "DPM++ 2M" --schedule-type Karras \
  --seed 42 --width 256 --height 256 --out out/ra-demo.png >/dev/null

cat <<MSG

Generated: $(pwd)/out/ra-demo.png
Its generation parameters (as A1111 writes them):
$("$bin" png-info out/ra-demo.png | sed 's/^/  /')

The tiny model has random weights, so the image is coloured noise: this run shows the
whole pipeline working (tokenizer, text encoder, UNet, sampler, VAE, PNG with infotext).
For real pictures, point --model at a real Stable Diffusion 1.x/2.x checkpoint, e.g.
  $bin generate --model ~/stable-diffusion-webui/models/Stable-diffusion/v1-5-pruned-emaonly.safetensors \\
      --prompt "a lighthouse at dusk" --out lighthouse.png
(an A1111 single-file .safetensors, or a diffusers folder with model_index.json).
MSG
