//! The `dwtDct` invisible watermark of the Python `invisible-watermark` package
//! (`imwatermark`, the one the original Stable Diffusion scripts used), at its
//! default settings, reimplemented so that marks interoperate both ways and our
//! encoder's pixels match the package's bit for bit.
//!
//! Pure Rust, no dependencies, no threads or I/O: it runs inside WASM.
//!
//! # The algorithm (as the package does it, quirks included)
//!
//! 1. The 8-bit image goes to YUV the way OpenCV's `COLOR_BGR2YUV` does for
//!    `uint8`: 14-bit fixed point, round half up, saturating.
//! 2. Only the U plane is marked. The package's scales are `[0, 36, 36]` for
//!    Y, U, V, but its loop runs over channels 0 and 1 only and skips scale 0,
//!    so Y and V are never touched; the scale for U is 36.
//! 3. U is cropped to `(h / 4 * 4) x (w / 4 * 4)` (the rest is left alone) and
//!    given a one-level Haar DWT (PyWavelets `dwt2(.., 'haar')`: filters
//!    ±1/√2, along axis 0 (down the columns) first, then axis 1; float64).
//! 4. The LL band is cut into 4x4 blocks, row-major; block `k` carries bit
//!    `k % n_bits`. Despite the method's name **no DCT is applied** (the
//!    package's `cv2.dct` is only in its unused SVD variant): in each block the
//!    entry with the largest absolute value, excluding the top-left `[0][0]`
//!    (first one in row-major order on ties) is quantised as
//!    `sign(v) * (floor(|v| / 36) + 0.25 + 0.5 * bit) * 36`.
//! 5. The inverse DWT is given the detail bands with horizontal and vertical
//!    swapped (a package bug, `idwt2((ca, (v, h, d)))`), which amounts to
//!    transposing every 2x2 pixel square of the U plane. The float result is
//!    stored into the `uint8` plane by truncation (numpy cast), so the float
//!    arithmetic here mirrors PyWavelets' operation for operation.
//! 6. Back to BGR with OpenCV's `COLOR_YUV2BGR` (fixed point, saturating).
//!    Every pixel goes through the YUV round trip, marked or not.
//!
//! Payload bits: bytes, most significant bit first (`np.unpackbits`). Reading:
//! same conversion and DWT, the same max-|entry| per block, bit vote
//! `(|v| mod 36) > 18`, each payload bit is the mean of its blocks' votes,
//! `mean * 255 > 127`.
//!
//! The package refuses images with `width * height < 256 * 256`; so do we.
//! Where it would silently misbehave we return errors instead: an empty
//! payload, or more payload bits than blocks (`(w / 8) * (h / 8)`; the package
//! drops the extra bits when marking and reads them as 0).
//!
//! The SD 1.x release scripts marked with `b"StableDiffusionV1"` (17 bytes), the
//! SD 2.x scripts with `b"SDV2"` (4 bytes).

use std::fmt;

/// Smallest `width * height` the package (and so this module) accepts.
pub const MIN_PIXELS: u64 = 256 * 256;
/// Quantisation step for the U channel (the package default).
pub const SCALE: f64 = 36.0;
/// Block side in the LL band.
const BLOCK: usize = 4;

/// What can go wrong embedding or reading a mark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatermarkError {
    /// `width * height` is below [`MIN_PIXELS`].
    TooSmall { width: u32, height: u32 },
    /// A zero dimension, or one whose buffer size overflows.
    BadDimensions { width: u32, height: u32 },
    /// The RGBA buffer is not `width * height * 4` bytes.
    BufferLength { expected: usize, actual: usize },
    /// No payload (the package divides by the payload length).
    EmptyPayload,
    /// More payload bits than 4x4 blocks in the image, so some bits would
    /// never be written (the package silently drops them).
    PayloadTooLong { bits: usize, blocks: usize },
}

impl fmt::Display for WatermarkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooSmall { width, height } => write!(
                f,
                "image {width}x{height} is too small for the invisible watermark: \
                 it needs at least 256x256 = 65536 pixels (width * height)"
            ),
            Self::BadDimensions { width, height } => {
                write!(f, "bad image dimensions {width}x{height}")
            }
            Self::BufferLength { expected, actual } => write!(
                f,
                "RGBA buffer is {actual} bytes, expected {expected} (width * height * 4)"
            ),
            Self::EmptyPayload => write!(f, "the watermark payload is empty"),
            Self::PayloadTooLong { bits, blocks } => write!(
                f,
                "watermark payload of {bits} bits does not fit: the image has {blocks} blocks \
                 (one bit each; (width / 8) * (height / 8))"
            ),
        }
    }
}

impl std::error::Error for WatermarkError {}

/// Marks `payload` into an RGBA8 image in place (alpha untouched). Gives the
/// same pixels as `WatermarkEncoder(); set_watermark('bytes', payload);
/// encode(bgr, 'dwtDct')` on the image's RGB.
pub fn embed(
    rgba: &mut [u8],
    width: u32,
    height: u32,
    payload: &[u8],
) -> Result<(), WatermarkError> {
    embed_bits(rgba, width, height, &bytes_to_bits(payload))
}

/// Reads `n_bytes` of payload from an RGBA8 image, as
/// `WatermarkDecoder('bytes', n_bytes * 8).decode(bgr, 'dwtDct')` does. Any image
/// reads as *something*: an unmarked one gives arbitrary bytes, so compare with
/// the payload you expect.
pub fn read(
    rgba: &[u8],
    width: u32,
    height: u32,
    n_bytes: usize,
) -> Result<Vec<u8>, WatermarkError> {
    let n_bits = n_bytes
        .checked_mul(8)
        .ok_or(WatermarkError::PayloadTooLong {
            bits: usize::MAX,
            blocks: block_count(width, height),
        })?;
    Ok(bits_to_bytes(&read_bits(rgba, width, height, n_bits)?))
}

/// [`embed`] for a payload given as bits (the package's `'bits'` type).
pub fn embed_bits(
    rgba: &mut [u8],
    width: u32,
    height: u32,
    bits: &[bool],
) -> Result<(), WatermarkError> {
    let (w, h) = check(rgba.len(), width, height)?;
    check_payload(bits.len(), width, height)?;

    // YUV of every pixel; only U changes, but every pixel goes back through
    // YUV -> BGR (the package converts the whole image both ways).
    let mut yuv = vec![[0u8; 3]; w * h];
    for (p, px) in yuv.iter_mut().zip(rgba.chunks_exact(4)) {
        *p = rgb_to_yuv(px[0], px[1], px[2]);
    }

    let (hc, wc) = (h / 4 * 4, w / 4 * 4);
    let (h2, w2) = (hc / 2, wc / 2);
    // Haar DWT of the cropped U plane, kept per 2x2 square: ll band plus the
    // three detail coefficients (da = "horizontal", ad = "vertical", dd).
    let mut ll = vec![0f64; h2 * w2];
    let mut detail = vec![[0f64; 3]; h2 * w2];
    for i in 0..h2 {
        for j in 0..w2 {
            let u = |r: usize, c: usize| f64::from(yuv[r * w + c][1]);
            let (aa, da, ad, dd) = haar_fwd(
                u(2 * i, 2 * j),
                u(2 * i, 2 * j + 1),
                u(2 * i + 1, 2 * j),
                u(2 * i + 1, 2 * j + 1),
            );
            ll[i * w2 + j] = aa;
            detail[i * w2 + j] = [da, ad, dd];
        }
    }

    let (bh, bw) = (h2 / BLOCK, w2 / BLOCK);
    for bi in 0..bh {
        for bj in 0..bw {
            let bit = bits[(bi * bw + bj) % bits.len()];
            let (r, c) = max_entry(&ll, w2, bi, bj);
            let v = &mut ll[r * w2 + c];
            *v = quantise(*v, bit);
        }
    }

    // Inverse DWT with the package's swapped detail bands, then numpy's
    // float -> uint8 store (truncation; the value provably stays in 0..=255 for
    // U planes coming from 8-bit RGB, the cast only mirrors numpy on x86).
    for i in 0..h2 {
        for j in 0..w2 {
            let [da, ad, dd] = detail[i * w2 + j];
            let px = haar_inv(ll[i * w2 + j], ad, da, dd);
            for (k, v) in px.into_iter().enumerate() {
                let (r, c) = (2 * i + k / 2, 2 * j + k % 2);
                yuv[r * w + c][1] = (v as i64) as u8;
            }
        }
    }

    for (px, p) in rgba.chunks_exact_mut(4).zip(&yuv) {
        let (r, g, b) = yuv_to_rgb(p[0], p[1], p[2]);
        px[0] = r;
        px[1] = g;
        px[2] = b;
    }
    Ok(())
}

/// [`read`] giving bits (the package's `'bits'` type).
pub fn read_bits(
    rgba: &[u8],
    width: u32,
    height: u32,
    n_bits: usize,
) -> Result<Vec<bool>, WatermarkError> {
    let (w, _) = check(rgba.len(), width, height)?;
    check_payload(n_bits, width, height)?;
    let h = height as usize;
    let (hc, wc) = (h / 4 * 4, w / 4 * 4);
    let (h2, w2) = (hc / 2, wc / 2);

    let mut u = vec![0u8; hc * wc];
    for r in 0..hc {
        for c in 0..wc {
            let px = &rgba[(r * w + c) * 4..][..3];
            u[r * wc + c] = rgb_to_yuv(px[0], px[1], px[2])[1];
        }
    }
    let mut ll = vec![0f64; h2 * w2];
    for i in 0..h2 {
        for j in 0..w2 {
            let at = |r: usize, c: usize| f64::from(u[r * wc + c]);
            ll[i * w2 + j] = haar_fwd(
                at(2 * i, 2 * j),
                at(2 * i, 2 * j + 1),
                at(2 * i + 1, 2 * j),
                at(2 * i + 1, 2 * j + 1),
            )
            .0;
        }
    }

    let mut ones = vec![0u32; n_bits];
    let mut votes = vec![0u32; n_bits];
    let (bh, bw) = (h2 / BLOCK, w2 / BLOCK);
    for bi in 0..bh {
        for bj in 0..bw {
            let k = (bi * bw + bj) % n_bits;
            let (r, c) = max_entry(&ll, w2, bi, bj);
            let v = ll[r * w2 + c].abs();
            votes[k] += 1;
            // numpy's float `%` with a positive divisor and dividend is fmod.
            if v % SCALE > 0.5 * SCALE {
                ones[k] += 1;
            }
        }
    }
    // check_payload guarantees every bit got at least one vote.
    Ok(ones
        .iter()
        .zip(&votes)
        .map(|(&o, &n)| (f64::from(o) / f64::from(n)) * 255.0 > 127.0)
        .collect())
}

/// Number of 4x4 LL blocks, i.e. of payload bit slots: `(h / 8) * (w / 8)`.
pub fn block_count(width: u32, height: u32) -> usize {
    (height as usize / 4 * 2 / BLOCK) * (width as usize / 4 * 2 / BLOCK)
}

fn check(len: usize, width: u32, height: u32) -> Result<(usize, usize), WatermarkError> {
    let bad = WatermarkError::BadDimensions { width, height };
    if width == 0 || height == 0 {
        return Err(bad);
    }
    let expected = (width as usize)
        .checked_mul(height as usize)
        .and_then(|n| n.checked_mul(4))
        .ok_or(bad)?;
    if u64::from(width) * u64::from(height) < MIN_PIXELS {
        return Err(WatermarkError::TooSmall { width, height });
    }
    if len != expected {
        return Err(WatermarkError::BufferLength {
            expected,
            actual: len,
        });
    }
    Ok((width as usize, height as usize))
}

fn check_payload(bits: usize, width: u32, height: u32) -> Result<(), WatermarkError> {
    if bits == 0 {
        return Err(WatermarkError::EmptyPayload);
    }
    let blocks = block_count(width, height);
    if bits > blocks {
        return Err(WatermarkError::PayloadTooLong { bits, blocks });
    }
    Ok(())
}

fn bytes_to_bits(bytes: &[u8]) -> Vec<bool> {
    bytes
        .iter()
        .flat_map(|&b| (0..8).rev().map(move |i| b >> i & 1 == 1))
        .collect()
}

fn bits_to_bytes(bits: &[bool]) -> Vec<u8> {
    bits.chunks(8)
        .map(|c| {
            c.iter()
                .enumerate()
                .fold(0u8, |acc, (i, &b)| acc | (u8::from(b) << (7 - i)))
        })
        .collect()
}

/// OpenCV `COLOR_BGR2YUV` for 8-bit: coefficients 0.299/0.587/0.114, 0.492,
/// 0.877 in 14-bit fixed point, rounding half up, saturating.
fn rgb_to_yuv(r: u8, g: u8, b: u8) -> [u8; 3] {
    const SHIFT: i32 = 14;
    const HALF: i32 = 1 << (SHIFT - 1);
    const DELTA: i32 = 128 << SHIFT;
    let (r, g, b) = (i32::from(r), i32::from(g), i32::from(b));
    let y = (r * 4899 + g * 9617 + b * 1868 + HALF) >> SHIFT;
    let u = ((b - y) * 8061 + DELTA + HALF) >> SHIFT;
    let v = ((r - y) * 14369 + DELTA + HALF) >> SHIFT;
    [y as u8, sat(u), sat(v)]
}

/// OpenCV `COLOR_YUV2BGR` for 8-bit: 2.032, -0.395, -0.581, 1.140 in 14-bit
/// fixed point, rounding half up, saturating.
fn yuv_to_rgb(y: u8, u: u8, v: u8) -> (u8, u8, u8) {
    const SHIFT: i32 = 14;
    const HALF: i32 = 1 << (SHIFT - 1);
    let (y, u, v) = (i32::from(y), i32::from(u) - 128, i32::from(v) - 128);
    let b = y + ((u * 33292 + HALF) >> SHIFT);
    let g = y + ((v * -9519 + u * -6472 + HALF) >> SHIFT);
    let r = y + ((v * 18678 + HALF) >> SHIFT);
    (sat(r), sat(g), sat(b))
}

fn sat(v: i32) -> u8 {
    v.clamp(0, 255) as u8
}

/// 1/√2 as PyWavelets' Haar filters hold it.
const C: f64 = std::f64::consts::FRAC_1_SQRT_2;

/// One 2x2 square `[[x00, x01], [x10, x11]]` through PyWavelets' `dwt2`:
/// along axis 0 (down the columns) first, then axis 1. Returns (aa, da, ad, dd)
/// = (LL, "horizontal" cH, "vertical" cV, diagonal cD).
fn haar_fwd(x00: f64, x01: f64, x10: f64, x11: f64) -> (f64, f64, f64, f64) {
    let (l0, h0) = (C * x00 + C * x10, C * x00 - C * x10);
    let (l1, h1) = (C * x01 + C * x11, C * x01 - C * x11);
    (
        C * l0 + C * l1,
        C * h0 + C * h1,
        C * l0 - C * l1,
        C * h0 - C * h1,
    )
}

/// PyWavelets' `idwt2((aa, (da, ad, dd)))` for one square: axis 1 first, then
/// axis 0. Returns [x00, x01, x10, x11].
fn haar_inv(aa: f64, da: f64, ad: f64, dd: f64) -> [f64; 4] {
    let (l0, l1) = (C * aa + C * ad, C * aa - C * ad);
    let (h0, h1) = (C * da + C * dd, C * da - C * dd);
    [
        C * l0 + C * h0,
        C * l1 + C * h1,
        C * l0 - C * h0,
        C * l1 - C * h1,
    ]
}

/// Position (row, col in the LL band) of the block's entry with the largest
/// absolute value, the block's top-left excluded, first in row-major order on
/// ties (`np.argmax(abs(block.flatten()[1:])) + 1`).
fn max_entry(ll: &[f64], stride: usize, bi: usize, bj: usize) -> (usize, usize) {
    let (r0, c0) = (bi * BLOCK, bj * BLOCK);
    let mut best = (r0, c0 + 1);
    let mut best_v = ll[r0 * stride + c0 + 1].abs();
    for k in 2..BLOCK * BLOCK {
        let (r, c) = (r0 + k / BLOCK, c0 + k % BLOCK);
        let v = ll[r * stride + c].abs();
        if v > best_v {
            best_v = v;
            best = (r, c);
        }
    }
    best
}

/// The package's quantisation of the chosen entry.
fn quantise(v: f64, bit: bool) -> f64 {
    let q = |a: f64| (py_floordiv(a, SCALE) + 0.25 + 0.5 * f64::from(u8::from(bit))) * SCALE;
    if v >= 0.0 {
        q(v)
    } else {
        -q(v.abs())
    }
}

/// Python/numpy float floor division (`a // b`), which is not always
/// `(a / b).floor()`: it works from `fmod` so the quotient is never rounded up
/// past an integer.
fn py_floordiv(a: f64, b: f64) -> f64 {
    let m = a % b;
    let mut div = (a - m) / b;
    if m != 0.0 && ((b < 0.0) != (m < 0.0)) {
        div -= 1.0;
    }
    if div != 0.0 {
        let mut fd = div.floor();
        if div - fd > 0.5 {
            fd += 1.0;
        }
        fd
    } else {
        0.0f64.copysign(a / b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_msb_first() {
        assert_eq!(
            bytes_to_bits(&[0b1000_0001])[..],
            [true, false, false, false, false, false, false, true]
        );
        assert_eq!(bits_to_bytes(&bytes_to_bits(b"SDV2")), b"SDV2");
    }

    #[test]
    fn floordiv_matches_python() {
        assert_eq!(py_floordiv(71.99999999999999, 36.0), 1.0);
        assert_eq!(py_floordiv(72.0, 36.0), 2.0);
        assert_eq!(py_floordiv(0.0, 36.0), 0.0);
        assert_eq!(py_floordiv(36.0f64.next_down(), 36.0), 0.0);
        // Where plain division differs: in Python `1 // 0.1 == 9.0`, `1 / 0.1 == 10.0`.
        assert_eq!((1.0f64 / 0.1).floor(), 10.0);
        assert_eq!(py_floordiv(1.0, 0.1), 9.0);
    }

    #[test]
    fn haar_round_trip_is_close() {
        let (aa, da, ad, dd) = haar_fwd(10.0, 20.0, 30.0, 41.0);
        assert!((aa - 50.5).abs() < 1e-12);
        let x = haar_inv(aa, da, ad, dd);
        for (a, b) in x.iter().zip([10.0, 20.0, 30.0, 41.0]) {
            assert!((a - b).abs() < 1e-12);
        }
        // Swapping the bands transposes the square.
        let x = haar_inv(aa, ad, da, dd);
        for (a, b) in x.iter().zip([10.0, 30.0, 20.0, 41.0]) {
            assert!((a - b).abs() < 1e-12);
        }
    }
}
