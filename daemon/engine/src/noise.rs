//! Seeded Gaussian noise that is the same on every machine and in every process.
//!
//! Philox 4x32-10 (Salmon et al., 2011), counter-based, turned into normals with the
//! Box–Muller transform. Counter-based means the n-th value depends only on the seed
//! and n, so a run is reproducible however its noise is consumed.

use candle_core::{Device, Result, Tensor};

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

fn philox(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let (mut c, mut k) = (counter, key);
    for round in 0..10 {
        if round > 0 {
            k = [k[0].wrapping_add(W0), k[1].wrapping_add(W1)];
        }
        let p0 = u64::from(M0) * u64::from(c[0]);
        let p1 = u64::from(M1) * u64::from(c[2]);
        c = [
            (p1 >> 32) as u32 ^ c[1] ^ k[0],
            p1 as u32,
            (p0 >> 32) as u32 ^ c[3] ^ k[1],
            p0 as u32,
        ];
    }
    c
}

/// A stream of standard normal values for one seed.
#[derive(Debug, Clone)]
pub struct NoiseStream {
    key: [u32; 2],
    /// Index of the next block of four 32-bit words.
    block: u64,
}

impl NoiseStream {
    pub fn new(seed: u64) -> Self {
        Self {
            key: [seed as u32, (seed >> 32) as u32],
            block: 0,
        }
    }

    /// A separate stream for the same seed (e.g. per-image in a batch).
    pub fn substream(seed: u64, stream: u32) -> Self {
        let mut s = Self::new(seed);
        s.block = u64::from(stream) << 40;
        s
    }

    /// The next `n` values.
    pub fn normals(&mut self, n: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(n + 1);
        while out.len() < n {
            let w = philox(
                [self.block as u32, (self.block >> 32) as u32, 0, 0],
                self.key,
            );
            self.block += 1;
            for pair in [[w[0], w[1]], [w[2], w[3]]] {
                let u1 = (f64::from(pair[0]) + 0.5) / 4_294_967_296.0;
                let u2 = (f64::from(pair[1]) + 0.5) / 4_294_967_296.0;
                let r = (-2.0 * u1.ln()).sqrt();
                let a = std::f64::consts::TAU * u2;
                out.push((r * a.cos()) as f32);
                out.push((r * a.sin()) as f32);
            }
        }
        out.truncate(n);
        out
    }

    /// The next values as a tensor of `shape` (f32).
    pub fn tensor(&mut self, shape: &[usize], device: &Device) -> Result<Tensor> {
        let n = shape.iter().product();
        Tensor::from_vec(self.normals(n), shape, device)
    }

    /// Uniform values in [0, 1), from the same counter stream.
    pub fn uniforms(&mut self, n: usize) -> Vec<f64> {
        let mut out = Vec::with_capacity(n + 3);
        while out.len() < n {
            let w = philox(
                [self.block as u32, (self.block >> 32) as u32, 1, 0],
                self.key,
            );
            self.block += 1;
            out.extend(w.iter().map(|&x| f64::from(x) / 4_294_967_296.0));
        }
        out.truncate(n);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn philox_matches_the_published_known_answer() {
        // Random123's kat_vectors for philox4x32-10 with all-ones inputs.
        assert_eq!(
            philox([u32::MAX; 4], [u32::MAX; 2]),
            [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]
        );
        assert_eq!(
            philox([0; 4], [0; 2]),
            [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]
        );
    }

    #[test]
    fn same_seed_same_values_and_standard_moments() {
        let a = NoiseStream::new(42).normals(100_000);
        assert_eq!(a, NoiseStream::new(42).normals(100_000));
        assert_ne!(a[..8], NoiseStream::new(43).normals(8)[..]);
        let mean = a.iter().map(|&x| x as f64).sum::<f64>() / a.len() as f64;
        let var = a.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / a.len() as f64;
        assert!(
            mean.abs() < 0.02 && (var - 1.0).abs() < 0.02,
            "mean {mean} var {var}"
        );
    }
}
