#!/usr/bin/env python3
"""Reference side of the invisible-watermark interop tests.

Runs the Python `invisible-watermark` package (imwatermark) at its default
'dwtDct' settings. Not needed by `cargo test`; run by hand to (re)make the
vectors in tests/data and to check images our Rust encoder marked.

    python reference.py make            # write tests/data/py_*.png (marked by Python)
    python reference.py check DIR       # DIR from `RA_WM_OUT=DIR cargo test --release --
                                        #   --ignored write_marked_for_python`: Python
                                        # re-encodes the inputs and compares pixels with
                                        # ours, and decodes ours and the inputs, comparing
                                        # with what our `read` got (DIR/reads.txt)
    python reference.py decode FILE N   # decode N bytes from FILE

The test pattern must stay identical to `pattern()` in tests/interop.rs.
"""
import os
import sys

import types

import cv2
import numpy as np

# imwatermark/rivaGan.py imports torch at module level, but the 'dwtDct' method
# never touches it; a stub lets the package import without the multi-GB wheel.
if "torch" not in sys.modules:
    try:
        import torch  # noqa: F401
    except ImportError:
        sys.modules["torch"] = types.ModuleType("torch")

from imwatermark import WatermarkDecoder, WatermarkEncoder

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")

# (file name, width, height, seed, payload) of the vectors marked by Python.
VECTORS = [
    ("py_sd1_256x256.png", 256, 256, 1, b"StableDiffusionV1"),
    ("py_ra_300x257.png", 300, 257, 5, b"RA test"),
    ("py_sdv2_384x200.png", 384, 200, 1, b"SDV2"),
]


def hash32(x):
    """Same integer hash as tests/interop.rs (wrapping u32 arithmetic); x: uint64 array."""
    m = np.uint64(0xFFFFFFFF)
    x = ((x ^ (x >> np.uint64(16))) * np.uint64(0x7FEB352D)) & m
    x = ((x ^ (x >> np.uint64(15))) * np.uint64(0x846CA68B)) & m
    return x ^ (x >> np.uint64(16))


# Noise amplitude per R, G, B: strong blue noise gives the U (blue-difference)
# channel, which carries the mark, the texture the max-coefficient scheme needs.
AMPS = (0, 0, 64)


def pattern(width, height, seed):
    """Deterministic RGB gradient + noise, shape (height, width, 3), RGB order."""
    y, x = np.mgrid[0:height, 0:width].astype(np.int64)
    base = [
        x * 255 // (width - 1),
        y * 255 // (height - 1),
        (x + y) * 255 // (width + height - 2),
    ]
    img = np.zeros((height, width, 3), dtype=np.uint8)
    for c in range(3):
        idx = ((y * width + x) * 3 + c).astype(np.uint64)
        key = (np.uint64(seed) * np.uint64(0x9E3779B9) + idx) & np.uint64(0xFFFFFFFF)
        a = AMPS[c]
        n = (hash32(key) % np.uint64(2 * a + 1)).astype(np.int64) - a
        img[..., c] = np.clip(base[c] + n, 0, 255)
    return img


def encode(rgb, payload):
    enc = WatermarkEncoder()
    enc.set_watermark("bytes", payload)
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    return enc.encode(bgr, "dwtDct")  # BGR


def decode_bgr(bgr, n_bytes):
    return WatermarkDecoder("bytes", n_bytes * 8).decode(bgr, "dwtDct")


def versions():
    import imwatermark.maxDct  # noqa: F401
    import pywt
    from importlib.metadata import version

    return (
        f"invisible-watermark {version('invisible-watermark')}, "
        f"opencv {cv2.__version__}, PyWavelets {pywt.__version__}, numpy {np.__version__}"
    )


def make():
    print(versions())
    for name, w, h, seed, payload in VECTORS:
        bgr = encode(pattern(w, h, seed), payload)
        path = os.path.join(DATA, name)
        cv2.imwrite(path, bgr)
        back = decode_bgr(cv2.imread(path), len(payload))
        note = "(= payload)" if back == payload else "(NOT the payload: the scheme is fragile)"
        print(f"{name}: {w}x{h} seed {seed} payload {payload!r} -> python decodes {back!r} {note}")


def check(directory):
    """DIR holds ours_<payload hex>_<tag>.png (marked by our encoder), the unmarked
    in_<tag>.png it started from, and reads.txt (what our `read` got from each file)."""
    print(versions())
    ours_reads = dict(line.split() for line in open(os.path.join(directory, "reads.txt")))
    agree = exact = recovered = n = 0
    for f in sorted(os.listdir(directory)):
        if not f.startswith("ours_"):
            continue
        n += 1
        hexp, tag = f[len("ours_"):-4].split("_", 1)
        payload = bytes.fromhex(hexp)
        ours = cv2.imread(os.path.join(directory, f))
        src_name = f"in_{tag}.png"
        src = cv2.imread(os.path.join(directory, src_name))
        theirs = WatermarkEncoder()
        theirs.set_watermark("bytes", payload)
        theirs = theirs.encode(src, "dwtDct")
        diff = np.abs(theirs.astype(int) - ours.astype(int))
        same_pixels = int(diff.max()) == 0
        got = decode_bgr(ours, len(payload))
        got_src = decode_bgr(src, len(payload))
        same_reads = (got.hex() == ours_reads[f] and got_src.hex() == ours_reads[src_name])
        exact += same_pixels
        agree += same_reads
        recovered += got == payload
        print(f"{f} ({ours.shape[1]}x{ours.shape[0]}): python decodes {got!r} "
              f"({'= payload' if got == payload else 'NOT the payload'}); "
              f"pixels vs python encode: {int((diff > 0).sum())} values differ (max {diff.max()}); "
              f"decodes of marked+unmarked agree with ours: {same_reads}")
    print(f"{n} images: {exact} pixel-identical to the python encoder, {agree} with python's "
          f"decode = our read (marked and unmarked), {recovered} decode to the payload")
    return exact == n and agree == n


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else "make"
    if cmd == "make":
        make()
    elif cmd == "check":
        sys.exit(0 if check(sys.argv[2]) else 1)
    elif cmd == "decode":
        print(decode_bgr(cv2.imread(sys.argv[2]), int(sys.argv[3])))
    else:
        sys.exit(__doc__)
