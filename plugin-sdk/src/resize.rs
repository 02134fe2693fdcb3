//! Separable Lanczos-3 resampling on RGBA8, horizontal pass then vertical, in f32: what
//! A1111's "Lanczos" upscaler does through PIL (window centred on each output pixel's
//! centre, weights normalised per pixel, taps outside the image dropped rather than
//! mirrored, the kernel widened when shrinking so every source pixel counts).

use crate::Image;

const A: f32 = 3.0;

fn sinc(x: f32) -> f32 {
    if x == 0.0 {
        1.0
    } else {
        let px = core::f32::consts::PI * x;
        px.sin() / px
    }
}

fn kernel(x: f32) -> f32 {
    if x.abs() < A {
        sinc(x) * sinc(x / A)
    } else {
        0.0
    }
}

/// For each output index: the first source index and the normalised weights.
fn taps(src: u32, dst: u32) -> Vec<(usize, Vec<f32>)> {
    let ratio = src as f32 / dst as f32;
    let support_scale = ratio.max(1.0);
    let support = A * support_scale;
    (0..dst)
        .map(|i| {
            let centre = (i as f32 + 0.5) * ratio;
            let lo = ((centre - support).floor().max(0.0)) as usize;
            let hi = ((centre + support).ceil() as usize).min(src as usize);
            let mut weights: Vec<f32> = (lo..hi)
                .map(|j| kernel((j as f32 + 0.5 - centre) / support_scale))
                .collect();
            let sum: f32 = weights.iter().sum();
            if sum != 0.0 {
                weights.iter_mut().for_each(|w| *w /= sum);
            }
            (lo, weights)
        })
        .collect()
}

impl Image {
    /// The image resampled to `width` × `height` with Lanczos-3 (both at least 1).
    pub fn resize(&self, width: u32, height: u32) -> Image {
        resize(self, width, height)
    }
}

fn resize(image: &Image, width: u32, height: u32) -> Image {
    let (sw, sh) = (image.width as usize, image.height as usize);
    // Horizontal: sh rows of `width` pixels.
    let xt = taps(image.width, width);
    let mut mid = vec![0f32; sh * width as usize * 4];
    for y in 0..sh {
        let row = &image.rgba[y * sw * 4..(y + 1) * sw * 4];
        for (x, (lo, weights)) in xt.iter().enumerate() {
            let mut acc = [0f32; 4];
            for (k, w) in weights.iter().enumerate() {
                let p = &row[(lo + k) * 4..(lo + k) * 4 + 4];
                for c in 0..4 {
                    acc[c] += w * p[c] as f32;
                }
            }
            mid[(y * width as usize + x) * 4..][..4].copy_from_slice(&acc);
        }
    }
    // Vertical.
    let yt = taps(image.height, height);
    let mut out = Image::new(width, height);
    let stride = width as usize * 4;
    for (y, (lo, weights)) in yt.iter().enumerate() {
        for i in 0..stride {
            let mut acc = 0f32;
            for (k, w) in weights.iter().enumerate() {
                acc += w * mid[(lo + k) * stride + i];
            }
            out.rgba[y * stride + i] = acc.round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}
