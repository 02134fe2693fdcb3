//! Depth-to-image: the depth map a 5-channel UNet (SD 2's `512-depth-ema`) reads as its
//! fifth input channel.
//!
//! The map comes from outside the engine (a depth estimator such as MiDaS or Depth
//! Anything, run on the init image by a preprocessor); this module only checks it and
//! turns it into the UNet's extra channel the way diffusers'
//! `StableDiffusionDepth2ImgPipeline` and A1111's `depth2img_image_conditioning` do:
//! bicubic resize to the latent's size, then each map stretched to [-1, 1].

use candle_core::{Device, Tensor};

use crate::error::{EngineError, Result};

/// A depth map: `width × height` values, row-major, a larger value nearer to the camera
/// (as MiDaS and Depth Anything give it). Any range and any size: it is resized to the
/// latent and normalised per image.
#[derive(Debug, Clone, PartialEq)]
pub struct DepthMap {
    pub width: u32,
    pub height: u32,
    pub values: Vec<f32>,
}

impl DepthMap {
    /// Checks the map's shape and values; messages name the request's `depth` field.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(EngineError::InvalidRequest(m));
        if self.width == 0 || self.height == 0 || self.values.is_empty() {
            return bad(format!(
                "depth map must not be empty, got {}×{} with {} values",
                self.width,
                self.height,
                self.values.len()
            ));
        }
        // usize from u32 cannot overflow a 64-bit product; checked_mul covers 32-bit.
        let expected = (self.width as usize).checked_mul(self.height as usize);
        if expected != Some(self.values.len()) {
            return bad(format!(
                "depth map values must hold width × height = {}×{} numbers (row-major), got {}",
                self.width,
                self.height,
                self.values.len()
            ));
        }
        if let Some((i, v)) = self.values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return bad(format!(
                "depth map values must all be finite, value {i} (row {}, column {}) is {v}",
                i / self.width as usize,
                i % self.width as usize
            ));
        }
        Ok(())
    }

    /// The UNet's extra input channel for a `lh × lw` latent: `[1, 1, lh, lw]` f32 in
    /// [-1, 1]. Guidance batches it with the latent, so both halves of CFG see it.
    pub fn latent_channel(&self, lh: usize, lw: usize, dev: &Device) -> Result<Tensor> {
        self.validate()?;
        let (w, h) = (self.width as usize, self.height as usize);
        // Bicubic, as both reference pipelines call `interpolate(mode="bicubic",
        // align_corners=False)`; bilinear would soften the edges the model follows.
        let across = bicubic_rows(&self.values, w, h, lw);
        let resized = bicubic_columns(&across, lw, h, lh);
        Ok(Tensor::from_vec(normalise(&resized), (1, 1, lh, lw), dev)?)
    }
}

/// `2·(d − min)/(max − min) − 1`, in f64 so that a finite map with a range wider than
/// f32's cannot overflow. A flat map carries no depth: it becomes all zeros, the middle
/// of the range, instead of a division by zero.
fn normalise(values: &[f32]) -> Vec<f32> {
    let (min, max) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(f64::from(v)), hi.max(f64::from(v)))
        });
    let range = max - min;
    if range.is_nan() || range <= 0.0 {
        return vec![0.0; values.len()];
    }
    values
        .iter()
        .map(|&v| (2.0 * (f64::from(v) - min) / range - 1.0) as f32)
        .collect()
}

/// PyTorch's cubic convolution kernel (`A = −0.75`) at offset `t ∈ [0, 1)`: the weights
/// of the samples at −1, 0, +1 and +2.
fn cubic_weights(t: f64) -> [f64; 4] {
    const A: f64 = -0.75;
    let near = |x: f64| ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
    let far = |x: f64| ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A;
    [far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)]
}

/// For each of `out` destination samples over a source of `len`: the four source indices
/// (clamped at the edges, as PyTorch does) and their weights. `align_corners=False`: the
/// source position is `(i + 0.5)·len/out − 0.5`, not clamped for cubic.
fn taps(len: usize, out: usize) -> Vec<([usize; 4], [f64; 4])> {
    let scale = len as f64 / out as f64;
    let last = len as i64 - 1;
    (0..out)
        .map(|i| {
            let src = (i as f64 + 0.5) * scale - 0.5;
            let base = src.floor();
            let at = |k: i64| (base as i64 + k).clamp(0, last) as usize;
            ([at(-1), at(0), at(1), at(2)], cubic_weights(src - base))
        })
        .collect()
}

/// Resizes each of `h` rows of width `w` to `out_w` (bicubic is separable, so a pass
/// across then one down equals PyTorch's 4×4 kernel).
fn bicubic_rows(src: &[f32], w: usize, h: usize, out_w: usize) -> Vec<f32> {
    let taps = taps(w, out_w);
    let mut out = Vec::with_capacity(out_w * h);
    for row in src.chunks_exact(w).take(h) {
        out.extend(taps.iter().map(|(idx, wt)| {
            idx.iter()
                .zip(wt)
                .map(|(&i, &k)| f64::from(row[i]) * k)
                .sum::<f64>() as f32
        }));
    }
    out
}

/// Resizes each of `w` columns of height `h` to `out_h`.
fn bicubic_columns(src: &[f32], w: usize, h: usize, out_h: usize) -> Vec<f32> {
    let taps = taps(h, out_h);
    let mut out = Vec::with_capacity(w * out_h);
    for (idx, wt) in &taps {
        out.extend((0..w).map(|x| {
            idx.iter()
                .zip(wt)
                .map(|(&i, &k)| f64::from(src[i * w + x]) * k)
                .sum::<f64>() as f32
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(width: u32, height: u32, values: Vec<f32>) -> DepthMap {
        DepthMap {
            width,
            height,
            values,
        }
    }

    fn channel(m: &DepthMap, lh: usize, lw: usize) -> Vec<f32> {
        m.latent_channel(lh, lw, &Device::Cpu)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    }

    #[test]
    fn cubic_weights_sum_to_one_and_interpolate() {
        for t in [0.0, 0.25, 0.5, 0.9] {
            let s: f64 = cubic_weights(t).iter().sum();
            assert!((s - 1.0).abs() < 1e-12, "{t}: {s}");
        }
        assert_eq!(cubic_weights(0.0), [0.0, 1.0, 0.0, 0.0]);
    }

    #[test]
    fn same_size_keeps_values_and_normalises_to_the_full_range() {
        let out = channel(&map(2, 2, vec![10.0, 20.0, 30.0, 50.0]), 2, 2);
        assert_eq!(out, vec![-1.0, -0.5, 0.0, 1.0]);
    }

    #[test]
    fn downscaling_a_ramp_keeps_its_order_and_ends() {
        // A horizontal ramp 0..63 over 64×8, to 8×2: rows stay equal, columns rise.
        let values = (0..8).flat_map(|_| (0..64).map(|x| x as f32)).collect();
        let out = channel(&map(64, 8, values), 2, 8);
        assert_eq!(out[..8], out[8..]);
        assert!(out[..8].windows(2).all(|p| p[0] < p[1]), "{out:?}");
        assert_eq!((out[0], out[7]), (-1.0, 1.0));
        // PyTorch's bicubic (align_corners=False) samples 8-wide cells at their centres:
        // column 0 reads the ramp at 3.5, column 7 at 59.5, column 3 at 27.5.
        let expected = 2.0 * (27.5 - 3.5) / (59.5 - 3.5) - 1.0;
        assert!((f64::from(out[3]) - expected).abs() < 1e-5, "{}", out[3]);
    }

    #[test]
    fn a_flat_map_is_all_zeros() {
        assert_eq!(channel(&map(3, 2, vec![7.5; 6]), 4, 4), vec![0.0; 16]);
    }

    #[test]
    fn bad_maps_are_refused_naming_the_field() {
        let msg = |m: DepthMap| m.validate().unwrap_err().to_string();
        assert!(msg(map(0, 0, vec![])).contains("depth map must not be empty"));
        assert!(msg(map(2, 2, vec![1.0; 3])).contains("depth map values must hold"));
        let nan = msg(map(2, 2, vec![1.0, 2.0, f32::NAN, 0.0]));
        assert!(
            nan.contains("must all be finite, value 2 (row 1, column 0)"),
            "{nan}"
        );
        assert!(map(1, 1, vec![-3e38]).validate().is_ok());
    }
}
