//! Running the VAE over overlapping tiles of a large input and blending the outputs,
//! so that its activations (128 channels at full image resolution: about 1.5 GB for a
//! 512² decode in f32, 16 times that at 2048²) stay those of one tile.
//!
//! Tiles are laid out evenly with at least the configured overlap; in each overlap the
//! two tiles' outputs are blended with linear ramps, and every output pixel is divided
//! by the sum of its weights, so the ramps form a partition of unity wherever tiles
//! meet. Tiles see only their own pixels, so GroupNorm statistics and the middle
//! attention are per tile: the result is close to, not equal to, the whole run.

use candle_core::{DType, Result, Tensor};

/// When and how the VAE works in tiles, in latent pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VaeTiling {
    /// Tile when the latent is larger than this on either side.
    pub above: usize,
    /// Tile side (768 image pixels at 96).
    pub tile: usize,
    /// The least overlap between neighbouring tiles.
    pub overlap: usize,
}

impl VaeTiling {
    /// Latents up to 96×96 (768² images) run whole, and larger ones in tiles of that
    /// size overlapping by at least 32 (256 image pixels): memory never exceeds that of
    /// the largest whole run. Measured on the tiny random VAE, 96-tiles stray half as far
    /// from the whole decode as 64-tiles for the same arithmetic at a 128 latent.
    pub const DEFAULT: Self = Self {
        above: 96,
        tile: 96,
        overlap: 32,
    };

    /// Whether a latent of this size is tiled.
    pub fn applies(&self, height: usize, width: usize) -> bool {
        height > self.above || width > self.above
    }
}

impl Default for VaeTiling {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Where tiles start along a side of `len`, spread evenly, each `tile` long (or one tile
/// of `len` when it fits) and overlapping its neighbours by at least `overlap`.
pub(crate) fn starts(len: usize, tile: usize, overlap: usize) -> Vec<usize> {
    if len <= tile {
        return vec![0];
    }
    let stride = tile.saturating_sub(overlap).max(1);
    let n = (len - overlap.min(tile - 1)).div_ceil(stride).max(2);
    let span = len - tile;
    (0..n).map(|i| (i * span + (n - 1) / 2) / (n - 1)).collect()
}

/// Blend weights along one side of a tile `size` long whose overlaps with the tiles
/// before and after it are `before` and `after` long (0 at the edge of the image).
pub(crate) fn ramp(size: usize, before: usize, after: usize) -> Vec<f32> {
    (0..size)
        .map(|x| {
            let mut w = 1f32;
            if before > 0 {
                w = w.min((x as f32 + 0.5) / before as f32);
            }
            if after > 0 {
                w = w.min(((size - x) as f32 - 0.5) / after as f32);
            }
            w
        })
        .collect()
}

/// One side's tiles: (start, length) in latent pixels, and each tile's overlaps.
struct Side {
    tiles: Vec<(usize, usize)>,
    overlaps: Vec<(usize, usize)>,
}

impl Side {
    fn new(len: usize, t: &VaeTiling) -> Self {
        let size = t.tile.min(len);
        let s = starts(len, t.tile, t.overlap);
        let overlap = |a: usize, b: usize| (a + size).saturating_sub(b);
        let overlaps = (0..s.len())
            .map(|i| {
                let before = if i > 0 { overlap(s[i - 1], s[i]) } else { 0 };
                let after = s.get(i + 1).map_or(0, |&next| overlap(s[i], next));
                (before, after)
            })
            .collect();
        Self {
            tiles: s.iter().map(|&st| (st, size)).collect(),
            overlaps,
        }
    }
}

/// Runs `f` on overlapping tiles of `input` (`[b, c, h, w]`, `per_in` input pixels per
/// latent pixel) and blends its outputs (`per_out` output pixels per latent pixel) into
/// one tensor of `f`'s dtype.
pub(crate) fn run(
    input: &Tensor,
    t: &VaeTiling,
    per_in: usize,
    per_out: usize,
    f: impl Fn(&Tensor) -> Result<Tensor>,
) -> Result<Tensor> {
    let (_, _, ih, iw) = input.dims4()?;
    let (rows, cols) = (Side::new(ih / per_in, t), Side::new(iw / per_in, t));
    let (oh, ow) = ((ih / per_in) * per_out, (iw / per_in) * per_out);
    let mut acc: Vec<f32> = Vec::new();
    let mut weight = vec![0f32; oh * ow];
    let (mut batch, mut channels, mut dtype) = (0, 0, DType::F32);
    for (&(y0, th), &(ybefore, yafter)) in rows.tiles.iter().zip(&rows.overlaps) {
        let wy = ramp(th * per_out, ybefore * per_out, yafter * per_out);
        for (&(x0, tw), &(xbefore, xafter)) in cols.tiles.iter().zip(&cols.overlaps) {
            let wx = ramp(tw * per_out, xbefore * per_out, xafter * per_out);
            let piece =
                input
                    .narrow(2, y0 * per_in, th * per_in)?
                    .narrow(3, x0 * per_in, tw * per_in)?;
            let out = f(&piece)?;
            let (b, c, h, w) = out.dims4()?;
            if h != wy.len() || w != wx.len() {
                return Err(candle_core::Error::Msg(format!(
                    "VAE tile came out {h}×{w}, expected {}×{}",
                    wy.len(),
                    wx.len()
                )));
            }
            if acc.is_empty() {
                (batch, channels, dtype) = (b, c, out.dtype());
                acc = vec![0f32; b * c * oh * ow];
            }
            let values = out.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
            let (oy, ox) = (y0 * per_out, x0 * per_out);
            for plane in 0..b * c {
                for y in 0..h {
                    let src = &values[(plane * h + y) * w..][..w];
                    let dst = &mut acc[(plane * oh + oy + y) * ow + ox..][..w];
                    for ((d, s), wxv) in dst.iter_mut().zip(src).zip(&wx) {
                        *d += s * wy[y] * wxv;
                    }
                }
            }
            for y in 0..h {
                let dst = &mut weight[(oy + y) * ow + ox..][..w];
                for (d, wxv) in dst.iter_mut().zip(&wx) {
                    *d += wy[y] * wxv;
                }
            }
        }
    }
    for plane in acc.chunks_mut(oh * ow) {
        for (v, w) in plane.iter_mut().zip(&weight) {
            *v /= w;
        }
    }
    Tensor::from_vec(acc, (batch, channels, oh, ow), input.device())?.to_dtype(dtype)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_cover_the_side_with_at_least_the_overlap() {
        assert_eq!(starts(128, 96, 32), vec![0, 32]);
        assert_eq!(starts(256, 96, 32), vec![0, 53, 107, 160]);
        assert_eq!(starts(64, 64, 16), vec![0]);
        assert_eq!(starts(40, 64, 16), vec![0]);
        assert_eq!(starts(128, 64, 16), vec![0, 32, 64]);
        assert_eq!(starts(97, 64, 16), vec![0, 33]);
        for len in 65..400 {
            let s = starts(len, 64, 16);
            assert_eq!(s[0], 0);
            assert_eq!(s.last().copied(), Some(len - 64), "len {len}");
            for pair in s.windows(2) {
                assert!(pair[0] + 64 - pair[1] >= 16, "len {len}: {s:?}");
            }
        }
    }

    #[test]
    fn ramps_add_up_to_one_across_an_overlap() {
        let a = ramp(64, 0, 24);
        let b = ramp(64, 24, 0);
        // b starts where a's last 24 pixels begin.
        for i in 0..24 {
            assert!((a[40 + i] + b[i] - 1.0).abs() < 1e-6);
        }
        assert!(a[..40].iter().all(|&w| w == 1.0));
        assert!(a.iter().chain(&b).all(|&w| w > 0.0));
    }
}
