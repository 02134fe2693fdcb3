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
    /// The longest tile side (768 image pixels at 96); tiles are cut as long as
    /// needed to cover the latent, up to this.
    pub tile: usize,
    /// The least overlap between neighbouring tiles.
    pub overlap: usize,
}

impl VaeTiling {
    /// Latents up to 96×96 (768² images) run whole, and larger ones in tiles at most
    /// that size overlapping by at least 32 (256 image pixels): memory never exceeds
    /// that of the largest whole run. Measured on the tiny random VAE, large tiles stray
    /// from the whole decode half as far as 64-latent ones.
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

/// How a side of `len` is cut: the tile length and where each tile starts. As few
/// tiles as fit within `max_tile` with at least `overlap` shared between neighbours,
/// then shrunk to just cover the side, so no more is computed twice than needed (a
/// 128 side takes two 80-long tiles, not two 96-long ones).
pub(crate) fn layout(len: usize, max_tile: usize, overlap: usize) -> (usize, Vec<usize>) {
    if len <= max_tile {
        return (len, vec![0]);
    }
    let overlap = overlap.min(max_tile - 1);
    let n = (len - overlap).div_ceil(max_tile - overlap);
    // n tiles of this length, each sharing `overlap` with the next, reach `len`.
    let tile = (len + (n - 1) * overlap).div_ceil(n).min(max_tile);
    let span = len - tile;
    let starts = (0..n).map(|i| (i * span + (n - 1) / 2) / (n - 1)).collect();
    (tile, starts)
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
        let (size, s) = layout(len, t.tile, t.overlap);
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
        assert_eq!(layout(64, 96, 32), (64, vec![0]));
        assert_eq!(layout(96, 96, 32), (96, vec![0]));
        assert_eq!(layout(128, 96, 32), (80, vec![0, 48]));
        assert_eq!(layout(256, 96, 32), (88, vec![0, 56, 112, 168]));
        for (max_tile, overlap) in [(16, 4), (64, 16), (96, 32)] {
            for len in max_tile + 1..600 {
                let (tile, s) = layout(len, max_tile, overlap);
                assert!(tile <= max_tile);
                assert_eq!(s[0], 0);
                assert_eq!(s.last().map(|l| l + tile), Some(len), "len {len}");
                for pair in s.windows(2) {
                    assert!(
                        pair[0] + tile >= pair[1] + overlap,
                        "len {len}: {tile} {s:?}"
                    );
                }
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
