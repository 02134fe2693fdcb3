//! Seeded Gaussian noise that reproduces what A1111 users' seeds produce.
//!
//! A generation draws its starting noise and every ancestral step's noise from one
//! [`NoiseStream`], built for the job's [`RngSource`]:
//!
//! - `GPU` / `NV`: Philox 4x32-10 keyed by the seed, one counter block per value, turned
//!   into normals by A1111's single-output Box–Muller. This is the stream `torch.randn`
//!   gives on NVIDIA GPUs, which A1111's `NV` option reproduces on any device; every
//!   draw moves the counter's offset on by one, whatever its size.
//! - `CPU`: PyTorch's CPU generator: MT19937 seeded with the low 32 bits, uniforms in
//!   blocks of 16 turned into normals pairwise (`normal_fill`), or one double-precision
//!   normal at a time for draws of fewer than 16 values.
//!
//! Variation seeds ([`initial_noise`]) blend a second seed's first draw in by spherical
//! interpolation, as A1111's `slerp` does. [`SeedStream`] is RA's own stream for what
//! nobody else has to reproduce.

use candle_core::{Device, Result, Tensor};
pub use ra_wire::RngSource;

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

/// The generator behind a [`NoiseStream`].
#[derive(Debug, Clone)]
enum Generator {
    Philox { key: [u32; 2], offset: u32 },
    Torch(Box<TorchCpu>),
}

/// One image's noise: its first draw starts the latent, later draws feed ancestral steps.
#[derive(Debug, Clone)]
pub struct NoiseStream {
    generator: Generator,
}

impl NoiseStream {
    pub fn new(rng: RngSource, seed: u64) -> Self {
        let generator = match rng {
            RngSource::Gpu | RngSource::Nv => Generator::Philox {
                key: [seed as u32, (seed >> 32) as u32],
                offset: 0,
            },
            RngSource::Cpu => Generator::Torch(Box::new(TorchCpu::new(seed as u32))),
        };
        Self { generator }
    }

    /// The next draw of `n` standard normal values.
    pub fn normals(&mut self, n: usize) -> Vec<f32> {
        match &mut self.generator {
            Generator::Philox { key, offset } => {
                let values = philox_normals(*key, *offset, n);
                *offset = offset.wrapping_add(1);
                values
            }
            Generator::Torch(t) => t.randn(n),
        }
    }

    /// The next draw as a tensor of `shape` (f32).
    pub fn tensor(&mut self, shape: &[usize], device: &Device) -> Result<Tensor> {
        let n = shape.iter().product();
        Tensor::from_vec(self.normals(n), shape, device)
    }
}

/// A1111's `rng_philox.randn`: value `i` of the draw at `offset` comes from counter
/// `[offset, 0, i, 0]`; only the first two words are used.
fn philox_normals(key: [u32; 2], offset: u32, n: usize) -> Vec<f32> {
    // The constants are f32 in A1111's code; the arithmetic is f64.
    let a = f64::from(2.328_306_4e-10_f32);
    let b = f64::from((2.328_306_4e-10_f64 * 6.283_185_5_f64) as f32);
    (0..n)
        .map(|i| {
            let w = philox([offset, 0, i as u32, 0], key);
            let u = f64::from(w[0]) * a + a / 2.0;
            let v = f64::from(w[1]) * b + b / 2.0;
            ((-2.0 * u.ln()).sqrt() * v.sin()) as f32
        })
        .collect()
}

/// PyTorch's CPU generator (`torch.manual_seed` + `torch.randn`).
#[derive(Debug, Clone)]
struct TorchCpu {
    mt: Vec<u32>,
    index: usize,
    /// The second value of the last double-precision Box–Muller pair.
    cached: Option<f64>,
}

impl TorchCpu {
    const N: usize = 624;

    fn new(seed: u32) -> Self {
        let mut mt = vec![0u32; Self::N];
        mt[0] = seed;
        for i in 1..Self::N {
            mt[i] = 1_812_433_253u32
                .wrapping_mul(mt[i - 1] ^ (mt[i - 1] >> 30))
                .wrapping_add(i as u32);
        }
        Self {
            mt,
            index: Self::N,
            cached: None,
        }
    }

    fn next_u32(&mut self) -> u32 {
        const M: usize = 397;
        if self.index >= Self::N {
            for i in 0..Self::N {
                let y = (self.mt[i] & 0x8000_0000) | (self.mt[(i + 1) % Self::N] & 0x7fff_ffff);
                let mag = if y & 1 == 1 { 0x9908_b0df } else { 0 };
                self.mt[i] = self.mt[(i + M) % Self::N] ^ (y >> 1) ^ mag;
            }
            self.index = 0;
        }
        let mut y = self.mt[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    fn uniform_f32(&mut self) -> f32 {
        (self.next_u32() & 0x00ff_ffff) as f32 * (1.0 / 16_777_216.0)
    }

    fn uniform_f64(&mut self) -> f64 {
        let hi = u64::from(self.next_u32());
        let lo = u64::from(self.next_u32());
        (((hi << 32) | lo) & ((1 << 53) - 1)) as f64 * (1.0 / 9_007_199_254_740_992.0)
    }

    fn randn(&mut self, n: usize) -> Vec<f32> {
        if n < 16 {
            return (0..n).map(|_| self.normal_f64() as f32).collect();
        }
        let mut data: Vec<f32> = (0..n).map(|_| self.uniform_f32()).collect();
        for block in data.chunks_exact_mut(16) {
            normal_fill_16(block);
        }
        if n % 16 != 0 {
            // PyTorch redraws the last 16 values rather than transform a partial block.
            let tail = &mut data[n - 16..];
            for v in tail.iter_mut() {
                *v = self.uniform_f32();
            }
            normal_fill_16(tail);
        }
        data
    }

    fn normal_f64(&mut self) -> f64 {
        if let Some(v) = self.cached.take() {
            return v;
        }
        let u1 = self.uniform_f64();
        let u2 = self.uniform_f64();
        let r = (-2.0 * (-u2).ln_1p()).sqrt();
        let theta = 2.0 * std::f64::consts::PI * u1;
        self.cached = Some(r * theta.sin());
        r * theta.cos()
    }
}

/// Box–Muller on a block of 16 uniforms, pairing value `j` with value `j + 8`, in f32.
fn normal_fill_16(block: &mut [f32]) {
    for j in 0..8 {
        let u1 = 1.0 - block[j];
        let u2 = block[j + 8];
        let radius = (-2.0 * u1.ln()).sqrt();
        let theta = (2.0 * std::f64::consts::PI * f64::from(u2)) as f32;
        block[j] = radius * theta.cos();
        block[j + 8] = radius * theta.sin();
    }
}

/// A second seed blended into the first: A1111's variation seed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Variation {
    pub seed: u64,
    /// 0 keeps the main seed's noise, 1 gives the variation seed's.
    pub strength: f64,
}

/// The starting noise of one image (`[1, C, H, W]`) and the stream its ancestral steps
/// continue from.
pub fn initial_noise(
    rng: RngSource,
    seed: u64,
    variation: Option<Variation>,
    shape: &[usize],
    device: &Device,
) -> Result<(Tensor, NoiseStream)> {
    let mut stream = NoiseStream::new(rng, seed);
    let n: usize = shape.iter().product();
    let mut noise = stream.normals(n);
    if let Some(v) = variation.filter(|v| v.strength != 0.0) {
        let sub = NoiseStream::new(rng, v.seed).normals(n);
        // Columns are per (image, channel, x), so batch and channel fold together.
        let (h, w) = (shape[shape.len() - 2], shape[shape.len() - 1]);
        noise = slerp(v.strength as f32, &noise, &sub, [n / (h * w), h, w]);
    }
    Ok((Tensor::from_vec(noise, shape, device)?, stream))
}

/// A1111's `slerp(val, low, high)` on `(C, H, W)` values: the angle is taken per column
/// (over H, for each channel and x), and nearly parallel noise falls back to a linear mix
/// that, as in A1111, weighs `low` by `val`.
fn slerp(val: f32, low: &[f32], high: &[f32], [c, h, w]: [usize; 3]) -> Vec<f32> {
    let at = |ch: usize, y: usize, x: usize| (ch * h + y) * w + x;
    let mut dots = vec![0f32; c * w];
    for ch in 0..c {
        for x in 0..w {
            let (mut ll, mut hh) = (0f32, 0f32);
            for y in 0..h {
                ll += low[at(ch, y, x)] * low[at(ch, y, x)];
                hh += high[at(ch, y, x)] * high[at(ch, y, x)];
            }
            let (ln, hn) = (ll.sqrt(), hh.sqrt());
            dots[ch * w + x] = (0..h)
                .map(|y| (low[at(ch, y, x)] / ln) * (high[at(ch, y, x)] / hn))
                .sum();
        }
    }
    if dots.iter().sum::<f32>() / dots.len() as f32 > 0.9995 {
        return low
            .iter()
            .zip(high)
            .map(|(l, h)| l * val + h * (1.0 - val))
            .collect();
    }
    let mut out = vec![0f32; low.len()];
    for ch in 0..c {
        for x in 0..w {
            let omega = dots[ch * w + x].acos();
            let so = omega.sin();
            let (kl, kh) = (((1.0 - val) * omega).sin() / so, (val * omega).sin() / so);
            for y in 0..h {
                let i = at(ch, y, x);
                out[i] = kl * low[i] + kh * high[i];
            }
        }
    }
    out
}

/// RA's own counter-based stream, for what no other program has to reproduce: the
/// random weights of generated test models and the pick of a random seed.
#[derive(Debug, Clone)]
pub struct SeedStream {
    key: [u32; 2],
    /// Index of the next block of four 32-bit words.
    block: u64,
}

impl SeedStream {
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
        let a = SeedStream::new(42).normals(100_000);
        assert_eq!(a, SeedStream::new(42).normals(100_000));
        assert_ne!(a[..8], SeedStream::new(43).normals(8)[..]);
        let mean = a.iter().map(|&x| x as f64).sum::<f64>() / a.len() as f64;
        let var = a.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / a.len() as f64;
        assert!(
            mean.abs() < 0.02 && (var - 1.0).abs() < 0.02,
            "mean {mean} var {var}"
        );
    }
}
