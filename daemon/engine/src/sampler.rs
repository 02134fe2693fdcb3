//! Samplers: numerical solvers that walk a latent from high noise to low noise, calling a
//! denoiser `D(x, sigma)` (an estimate of the clean latent) once or twice per step.
//!
//! All of them work in k-diffusion's sigma space, `x = x0 + sigma·noise`, and follow
//! k-diffusion's formulas. A1111's timestep samplers are written in the same space: DDIM
//! is Euler's step in x0-form (its eta is the ancestral split below), and UniPC's
//! data-prediction update depends only on log sigma, so it runs on any spacing.
//!
//! Three shapes cover the set: one step at a time with an optional ancestral split
//! (`SingleStep`: Euler, Euler a, Heun, DPM2, DPM2 a, DPM++ 2S a, DDIM), multistep
//! methods that keep earlier denoised estimates ([`DpmPp2m`], [`Lms`], [`UniPc`]), and
//! the two that re-noise inside a step ([`DpmPpSde`], [`Lcm`]). Fresh noise enters only
//! through `add_noise`, one `NoiseStream::tensor` call per draw.

use std::collections::VecDeque;

use candle_core::{Result, Tensor};
use ra_wire::SamplerName;

use crate::noise::NoiseStream;

/// The model as the samplers see it: `(x, sigma, step index) → denoised x`. Samplers that
/// call it more than once per step pass the same index each time.
pub type Denoiser<'a> = dyn FnMut(&Tensor, f64, usize) -> Result<Tensor> + 'a;

pub trait Sampler {
    /// Runs the whole chain over `sigmas` (decreasing, `steps + 1` values) from `x`, which
    /// is already at noise level `sigmas[0]`. `noise` feeds the stochastic samplers.
    fn sample(
        &self,
        denoise: &mut Denoiser,
        x: Tensor,
        sigmas: &[f64],
        noise: &mut NoiseStream,
    ) -> Result<Tensor>;
}

/// The settings A1111 exposes for stochastic samplers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplerOptions {
    /// How much of each step's noise is replaced by fresh noise: 0 follows the
    /// deterministic probability-flow ODE, 1 is the full ancestral or SDE step. Read by
    /// the ancestral and SDE samplers and by DDIM; the others have no eta.
    pub eta: f64,
    /// Scale of the fresh noise (k-diffusion's `s_noise`); 1 keeps the variance right.
    pub s_noise: f64,
}

impl SamplerOptions {
    /// A1111's defaults: "Eta for ancestral samplers" 1, "Eta for DDIM" 0, sigma noise 1.
    pub fn for_sampler(name: SamplerName) -> Self {
        let eta = if name == SamplerName::Ddim { 0.0 } else { 1.0 };
        Self { eta, s_noise: 1.0 }
    }
}

pub fn sampler_for(name: SamplerName, options: &SamplerOptions) -> Box<dyn Sampler> {
    let SamplerOptions { eta, s_noise } = *options;
    let single = |method, eta| -> Box<dyn Sampler> {
        Box::new(SingleStep {
            method,
            eta,
            s_noise,
        })
    };
    match name {
        SamplerName::Euler => single(Method::Euler, 0.0),
        SamplerName::EulerA | SamplerName::Ddim => single(Method::Euler, eta),
        SamplerName::Heun => single(Method::Heun, 0.0),
        SamplerName::Dpm2 => single(Method::Dpm2, 0.0),
        SamplerName::Dpm2A => single(Method::Dpm2, eta),
        SamplerName::DpmPp2sA => single(Method::DpmPp2s, eta),
        SamplerName::DpmPp2m => Box::new(DpmPp2m { eta: 0.0, s_noise }),
        SamplerName::DpmPp2mSde => Box::new(DpmPp2m { eta, s_noise }),
        SamplerName::DpmPpSde => Box::new(DpmPpSde { eta, s_noise }),
        SamplerName::Lms => Box::new(Lms),
        SamplerName::UniPc => Box::new(UniPc::default()),
        SamplerName::Lcm => Box::new(Lcm),
    }
}

/// `first.1·first.0 + Σ c·t` over `rest`.
fn combine(first: (&Tensor, f64), rest: &[(&Tensor, f64)]) -> Result<Tensor> {
    let mut acc = (first.0 * first.1)?;
    for &(t, c) in rest {
        acc = (acc + (t * c)?)?;
    }
    Ok(acc)
}

/// The first-order step from `sigma` to `to` given the denoised estimate at `sigma`:
/// Euler's step on the probability-flow ODE `dx/dσ = (x − D)/σ`, which is also DDIM's
/// (eta 0) and DPM-Solver++(1)'s, `x' = D + (x − D)·to/σ`. Into zero noise it gives the
/// denoised estimate itself.
fn first_order(x: &Tensor, denoised: &Tensor, sigma: f64, to: f64) -> Result<Tensor> {
    let r = to / sigma;
    combine((x, r), &[(denoised, 1.0 - r)])
}

/// Splits a step from `from` to `to` into the level a deterministic step goes down to
/// and the standard deviation of fresh noise that brings the variance back up to
/// `to` (k-diffusion's `get_ancestral_step`): `down² + up² = to²`.
fn ancestral_step(from: f64, to: f64, eta: f64) -> (f64, f64) {
    if eta == 0.0 || to == 0.0 {
        return (to, 0.0);
    }
    let up = (eta * (to * to * (from * from - to * to) / (from * from)).sqrt()).min(to);
    ((to * to - up * up).sqrt(), up)
}

/// Adds `amount` times fresh standard normal noise to `x`.
///
/// The SDE samplers (DPM++ SDE, DPM++ 2M SDE) draw plain per-step noise here where
/// k-diffusion, and so A1111, samples torchsde's Brownian tree. Each draw is standard
/// normal either way, but DPM++ SDE's two draws within a step are independent here
/// rather than pieces of one Brownian path, and no seed gives A1111's exact image.
fn add_noise(x: Tensor, noise: &mut NoiseStream, amount: f64) -> Result<Tensor> {
    if amount == 0.0 {
        return Ok(x);
    }
    let z = noise.tensor(x.dims(), x.device())?.to_dtype(x.dtype())?;
    x + (z * amount)?
}

/// The deterministic part of a [`SingleStep`] sampler's step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    /// First order.
    Euler,
    /// Heun's second-order step: the slope averaged with one at the target level.
    Heun,
    /// DPM-Solver-2: the slope at the log-midpoint carries the whole step.
    Dpm2,
    /// DPM-Solver++(2S): a first-order step to the log-midpoint, then one from the start
    /// with the midpoint's denoised estimate.
    DpmPp2s,
}

impl Method {
    /// From `x` at `sigma`, whose denoised estimate is `denoised`, to level `to`. Into
    /// zero noise every method takes Euler's step, which is exact there and where a
    /// second evaluation would divide by zero.
    fn step(
        self,
        denoise: &mut Denoiser,
        x: &Tensor,
        denoised: &Tensor,
        (sigma, to): (f64, f64),
        i: usize,
    ) -> Result<Tensor> {
        if to == 0.0 {
            return first_order(x, denoised, sigma, to);
        }
        match self {
            Self::Euler => first_order(x, denoised, sigma, to),
            Self::Heun => {
                let x2 = first_order(x, denoised, sigma, to)?;
                let d2 = denoise(&x2, to, i)?;
                // x + (to − σ)/2 · [(x − D)/σ + (x2 − D2)/to]
                let (a, b) = ((to - sigma) / (2.0 * sigma), (to - sigma) / (2.0 * to));
                combine((x, 1.0 + a), &[(denoised, -a), (&x2, b), (&d2, -b)])
            }
            Self::Dpm2 => {
                let mid = (sigma * to).sqrt();
                let x2 = first_order(x, denoised, sigma, mid)?;
                let d2 = denoise(&x2, mid, i)?;
                // x + (to − σ) · (x2 − D2)/mid
                let c = (to - sigma) / mid;
                combine((x, 1.0), &[(&x2, c), (&d2, -c)])
            }
            Self::DpmPp2s => {
                let mid = (sigma * to).sqrt();
                let x2 = first_order(x, denoised, sigma, mid)?;
                let d2 = denoise(&x2, mid, i)?;
                first_order(x, &d2, sigma, to)
            }
        }
    }
}

/// Samplers that take each step on its own: a deterministic step down to the ancestral
/// split's lower level, then fresh noise back up to the next level. With eta 0 there is
/// no split, which makes Euler, Heun and DPM2; with eta > 0 Euler a, DPM2 a and
/// DPM++ 2S a. DDIM is Euler's step with DDIM's own eta: its `σ_t(η)` noise works out
/// to exactly the split's `up` in sigma space.
struct SingleStep {
    method: Method,
    eta: f64,
    s_noise: f64,
}

impl Sampler for SingleStep {
    fn sample(
        &self,
        denoise: &mut Denoiser,
        mut x: Tensor,
        sigmas: &[f64],
        noise: &mut NoiseStream,
    ) -> Result<Tensor> {
        for (i, w) in sigmas.windows(2).enumerate() {
            let (sigma, next) = (w[0], w[1]);
            let denoised = denoise(&x, sigma, i)?;
            let (down, up) = ancestral_step(sigma, next, self.eta);
            x = self.method.step(denoise, &x, &denoised, (sigma, down), i)?;
            x = add_noise(x, noise, up * self.s_noise)?;
        }
        Ok(x)
    }
}

/// DPM-Solver++(2M) (Lu et al., 2022) and its SDE form: second order from the previous
/// step's denoised estimate, in log-sigma time. `eta` 0 is DPM++ 2M; `eta` 1 is
/// DPM++ 2M SDE with k-diffusion's midpoint correction, which at eta 0 reduces to
/// 2M's own.
pub struct DpmPp2m {
    pub eta: f64,
    pub s_noise: f64,
}

impl Sampler for DpmPp2m {
    fn sample(
        &self,
        denoise: &mut Denoiser,
        mut x: Tensor,
        sigmas: &[f64],
        noise: &mut NoiseStream,
    ) -> Result<Tensor> {
        let mut previous: Option<(Tensor, f64)> = None;
        for (i, w) in sigmas.windows(2).enumerate() {
            let (sigma, next) = (w[0], w[1]);
            let denoised = denoise(&x, sigma, i)?;
            if next == 0.0 {
                x = denoised;
                continue;
            }
            let h = (sigma / next).ln();
            let eta_h = self.eta * h;
            let decay = -(-h - eta_h).exp_m1();
            let keep = next / sigma * (-eta_h).exp();
            x = match &previous {
                Some((old, h_last)) => {
                    let c = 0.5 * decay * h / h_last;
                    combine((&x, keep), &[(&denoised, decay + c), (old, -c)])?
                }
                None => combine((&x, keep), &[(&denoised, decay)])?,
            };
            let fresh = next * (-(-2.0 * eta_h).exp_m1()).sqrt() * self.s_noise;
            x = add_noise(x, noise, fresh)?;
            previous = Some((denoised, h));
        }
        Ok(x)
    }
}

/// DPM-Solver++ SDE (k-diffusion's `sample_dpmpp_sde`, r = ½): each step goes to the
/// log-midpoint with an ancestral split, denoises there, and takes the whole step with
/// that estimate and a second split. Two model calls and two noise draws per step.
pub struct DpmPpSde {
    pub eta: f64,
    pub s_noise: f64,
}

impl Sampler for DpmPpSde {
    fn sample(
        &self,
        denoise: &mut Denoiser,
        mut x: Tensor,
        sigmas: &[f64],
        noise: &mut NoiseStream,
    ) -> Result<Tensor> {
        for (i, w) in sigmas.windows(2).enumerate() {
            let (sigma, next) = (w[0], w[1]);
            let denoised = denoise(&x, sigma, i)?;
            if next == 0.0 {
                x = first_order(&x, &denoised, sigma, next)?;
                continue;
            }
            let mid = (sigma * next).sqrt();
            let (down, up) = ancestral_step(sigma, mid, self.eta);
            let x2 = first_order(&x, &denoised, sigma, down)?;
            let x2 = add_noise(x2, noise, up * self.s_noise)?;
            // With r = ½ the final step's estimate is the midpoint's alone.
            let d2 = denoise(&x2, mid, i)?;
            let (down, up) = ancestral_step(sigma, next, self.eta);
            x = first_order(&x, &d2, sigma, down)?;
            x = add_noise(x, noise, up * self.s_noise)?;
        }
        Ok(x)
    }
}

/// How many past slopes LMS combines (k-diffusion's and A1111's default).
const LMS_ORDER: usize = 4;

/// Linear multistep (Adams–Bashforth on the sigma axis): the slope is extrapolated by
/// the polynomial through the last four slopes and integrated over the step.
pub struct Lms;

impl Sampler for Lms {
    fn sample(
        &self,
        denoise: &mut Denoiser,
        mut x: Tensor,
        sigmas: &[f64],
        _: &mut NoiseStream,
    ) -> Result<Tensor> {
        let mut slopes: VecDeque<Tensor> = VecDeque::with_capacity(LMS_ORDER);
        for (i, w) in sigmas.windows(2).enumerate() {
            let (sigma, next) = (w[0], w[1]);
            let denoised = denoise(&x, sigma, i)?;
            if slopes.len() == LMS_ORDER {
                slopes.pop_front();
            }
            slopes.push_back(combine((&x, 1.0 / sigma), &[(&denoised, -1.0 / sigma)])?);
            let nodes = &sigmas[i + 1 - slopes.len()..=i];
            let terms: Vec<(&Tensor, f64)> = slopes
                .iter()
                .enumerate()
                .map(|(j, d)| (d, lagrange_integral(nodes, j, sigma, next)))
                .collect();
            x = combine((&x, 1.0), &terms)?;
        }
        Ok(x)
    }
}

/// `∫ₐᵇ ℓⱼ(τ) dτ` for the Lagrange basis polynomial that is 1 at `nodes[j]` and 0 at the
/// other nodes. Three-point Gauss–Legendre is exact up to degree 5, and the basis has
/// degree `nodes.len() − 1` ≤ 3.
fn lagrange_integral(nodes: &[f64], j: usize, a: f64, b: f64) -> f64 {
    const GAUSS: [(f64, f64); 3] = [
        (-0.774_596_669_241_483_4, 5.0 / 9.0),
        (0.0, 8.0 / 9.0),
        (0.774_596_669_241_483_4, 5.0 / 9.0),
    ];
    let (half, mid) = ((b - a) / 2.0, (a + b) / 2.0);
    let basis = |tau: f64| -> f64 {
        nodes
            .iter()
            .enumerate()
            .filter(|&(k, _)| k != j)
            .map(|(_, &t)| (tau - t) / (nodes[j] - t))
            .product()
    };
    half * GAUSS
        .iter()
        .map(|&(xi, w)| w * basis(mid + half * xi))
        .sum::<f64>()
}

/// UniPC's two B(h) variants (Zhao et al., 2023).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UniPcVariant {
    /// `B(h) = h`; A1111's default.
    Bh1,
    /// `B(h) = e^h − 1`.
    Bh2,
}

/// UniPC (Zhao et al., 2023), multistep, data prediction: a predictor of the given order
/// from earlier denoised estimates, then a corrector that reuses the model call at the
/// predicted point, which is also the next step's estimate — one model call per step.
pub struct UniPc {
    pub order: usize,
    pub variant: UniPcVariant,
    /// Lower the order over the last steps, as A1111 does by default.
    pub lower_order_final: bool,
}

impl Default for UniPc {
    /// A1111's defaults: bh1, order 3, lower order final.
    fn default() -> Self {
        Self {
            order: 3,
            variant: UniPcVariant::Bh1,
            lower_order_final: true,
        }
    }
}

impl Sampler for UniPc {
    fn sample(
        &self,
        denoise: &mut Denoiser,
        mut x: Tensor,
        sigmas: &[f64],
        _: &mut NoiseStream,
    ) -> Result<Tensor> {
        let steps = sigmas.len().saturating_sub(1);
        if steps == 0 {
            return Ok(x);
        }
        let order = self.order.clamp(1, steps);
        // (sigma, denoised) at the last `order` levels, oldest first.
        let mut history = VecDeque::from([(sigmas[0], denoise(&x, sigmas[0], 0)?)]);
        for (step, &to) in sigmas.iter().enumerate().skip(1) {
            let order_now = if step < order {
                step
            } else if self.lower_order_final {
                order.min(steps + 1 - step)
            } else {
                order
            };
            // The last step needs no corrector: its model call would only serve a next
            // step.
            let index = (step < steps).then_some(step);
            let (next_x, estimate) = self.update(denoise, &x, &history, to, order_now, index)?;
            x = next_x;
            if let Some(estimate) = estimate {
                if history.len() == order {
                    history.pop_front();
                }
                history.push_back((to, estimate));
            }
        }
        Ok(x)
    }
}

impl UniPc {
    /// One step of `order` to level `to`. With `corrector_index` it calls the model at
    /// the predicted point (passing that index), corrects, and returns the estimate.
    fn update(
        &self,
        denoise: &mut Denoiser,
        x: &Tensor,
        history: &VecDeque<(f64, Tensor)>,
        to: f64,
        order: usize,
        corrector_index: Option<usize>,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let Some((sigma, m0)) = history.back() else {
            return Err(candle_core::Error::Msg(
                "UniPC step without a model estimate".into(),
            ));
        };
        let sigma = *sigma;
        // Into zero noise log-sigma time is infinite and every order's coefficients
        // degenerate; the first-order step, exact there, gives the estimate itself.
        if to == 0.0 {
            return Ok((m0.clone(), None));
        }
        // In λ = −ln σ: h is the step, r_k where each earlier estimate lies relative to it.
        let h = (sigma / to).ln();
        let (hh, len) = (-h, history.len());
        let mut rks = Vec::with_capacity(order);
        let mut diffs = Vec::with_capacity(order);
        for k in 1..order {
            let (sk, mk) = &history[len - 1 - k];
            let rk = (sigma / sk).ln() / h;
            rks.push(rk);
            diffs.push(combine((mk, 1.0 / rk), &[(m0, -1.0 / rk)])?);
        }
        rks.push(1.0);

        let h_phi_1 = hh.exp_m1();
        let b_h = match self.variant {
            UniPcVariant::Bh1 => hh,
            UniPcVariant::Bh2 => h_phi_1,
        };
        let mut rows = vec![vec![0.0; order]; order];
        let mut b = vec![0.0; order];
        let (mut h_phi_k, mut factorial) = (h_phi_1 / hh - 1.0, 1.0);
        for i in 0..order {
            for (cell, rk) in rows[i].iter_mut().zip(&rks) {
                *cell = rk.powi(i as i32);
            }
            b[i] = h_phi_k * factorial / b_h;
            factorial *= (i + 2) as f64;
            h_phi_k = h_phi_k / hh - 1.0 / factorial;
        }

        // x_t = base − B(h)·Σ ρ_k·D1_k, for the predictor's or the corrector's ρ.
        let weigh = |rhos: &[f64]| -> Vec<(&Tensor, f64)> {
            diffs
                .iter()
                .zip(rhos)
                .map(|(d, rho)| (d, -b_h * rho))
                .collect()
        };
        let base = first_order(x, m0, sigma, to)?;
        let predicted = if diffs.is_empty() {
            base.clone()
        } else {
            let rhos = if order == 2 {
                vec![0.5]
            } else {
                let sub: Vec<Vec<f64>> = rows[..order - 1]
                    .iter()
                    .map(|r| r[..order - 1].to_vec())
                    .collect();
                solve(sub, b[..order - 1].to_vec())?
            };
            combine((&base, 1.0), &weigh(&rhos))?
        };
        let Some(index) = corrector_index else {
            return Ok((predicted, None));
        };
        let estimate = denoise(&predicted, to, index)?;
        let rhos = if order == 1 {
            vec![0.5]
        } else {
            solve(rows, b)?
        };
        let last = rhos[order - 1];
        let mut terms = weigh(&rhos);
        terms.push((&estimate, -b_h * last));
        terms.push((m0, b_h * last));
        let corrected = combine((&base, 1.0), &terms)?;
        Ok((corrected, Some(estimate)))
    }
}

/// Solves the small dense system `a·x = b` by Gaussian elimination with partial pivoting.
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Result<Vec<f64>> {
    let n = b.len();
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))
            .unwrap_or(col);
        if a[pivot][col].abs() < 1e-300 {
            return Err(candle_core::Error::Msg(
                "UniPC: singular coefficient matrix".into(),
            ));
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        for row in col + 1..n {
            let (above, below) = a.split_at_mut(row);
            let f = below[0][col] / above[col][col];
            for (cell, &p) in below[0][col..].iter_mut().zip(&above[col][col..]) {
                *cell -= f * p;
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    Ok(x)
}

/// Latent Consistency Model sampling: each call predicts the clean latent outright,
/// which is then noised afresh to the next level.
pub struct Lcm;

impl Sampler for Lcm {
    fn sample(
        &self,
        denoise: &mut Denoiser,
        mut x: Tensor,
        sigmas: &[f64],
        noise: &mut NoiseStream,
    ) -> Result<Tensor> {
        for (i, w) in sigmas.windows(2).enumerate() {
            let denoised = denoise(&x, w[0], i)?;
            x = add_noise(denoised, noise, w[1])?;
        }
        Ok(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::noise::RngSource;
    use crate::schedule::{NoiseSchedule, Spacing};
    use candle_core::Device;

    /// Data from N(0, s²I) has the ideal denoiser D(x, σ) = x·s²/(s²+σ²), and the
    /// probability-flow ODE solution x(σ) = x_T·√(s²+σ²)/√(s²+σ_T²).
    const S: f64 = 0.5;

    fn ideal(x: &Tensor, sigma: f64, _: usize) -> Result<Tensor> {
        x * (S * S / (S * S + sigma * sigma))
    }

    fn stream(seed: u64) -> NoiseStream {
        NoiseStream::new(RngSource::Nv, seed)
    }

    fn by_name(name: SamplerName) -> Box<dyn Sampler> {
        sampler_for(name, &SamplerOptions::for_sampler(name))
    }

    const DETERMINISTIC: [SamplerName; 7] = [
        SamplerName::Euler,
        SamplerName::Heun,
        SamplerName::Dpm2,
        SamplerName::DpmPp2m,
        SamplerName::Lms,
        SamplerName::Ddim,
        SamplerName::UniPc,
    ];

    const STOCHASTIC: [SamplerName; 6] = [
        SamplerName::EulerA,
        SamplerName::Dpm2A,
        SamplerName::DpmPp2sA,
        SamplerName::DpmPpSde,
        SamplerName::DpmPp2mSde,
        SamplerName::Lcm,
    ];

    /// The answer a run over `sigmas` from x_T = 1 should give: the exact ODE solution
    /// at the last level. Into zero noise most samplers take one plain denoise from the
    /// last non-zero level, whose error is set by σ_min rather than the step count, so for
    /// them the answer is the exact solution there followed by one ideal denoise. LMS
    /// integrates its extrapolated slope all the way down instead.
    fn target(sigmas: &[f64], denoises_into_zero: bool) -> f64 {
        let n = sigmas.len() - 1;
        let ode = |to: f64| (S * S + to * to).sqrt() / (S * S + sigmas[0].powi(2)).sqrt();
        if sigmas[n] == 0.0 && denoises_into_zero {
            ode(sigmas[n - 1]) * S * S / (S * S + sigmas[n - 1].powi(2))
        } else {
            ode(sigmas[n])
        }
    }

    /// Relative error of a deterministic run from x_T = 1.
    fn run(sampler: &dyn Sampler, sigmas: &[f64], denoises_into_zero: bool) -> f64 {
        let x0 = Tensor::new(&[1.0f64], &Device::Cpu).unwrap();
        let out = sampler
            .sample(&mut ideal, x0, sigmas, &mut stream(0))
            .unwrap();
        let exact = target(sigmas, denoises_into_zero);
        (out.to_vec1::<f64>().unwrap()[0] - exact).abs() / exact
    }

    /// Empirical order of the ODE solve from σ_max down to the last non-zero level.
    fn order(sampler: &dyn Sampler, spacing: Spacing) -> (f64, f64) {
        let sched = NoiseSchedule::sd();
        let solve = |steps| {
            let sigmas = sched.sigmas(spacing, steps);
            let end = if sigmas[sigmas.len() - 1] == 0.0 {
                sigmas.len() - 1
            } else {
                sigmas.len()
            };
            run(sampler, &sigmas[..end], true)
        };
        let (e1, e2) = (solve(50), solve(100));
        ((e1 / e2).log2(), e2)
    }

    /// The spacings whose last non-zero level is the same for any step count, so that
    /// runs of different lengths solve the same problem. SGM Uniform's last non-zero
    /// timestep is 999/steps.
    fn fixed_end_spacings() -> impl Iterator<Item = Spacing> {
        Spacing::ALL
            .into_iter()
            .filter(|&s| s != Spacing::SgmUniform)
    }

    #[test]
    fn every_deterministic_sampler_lands_on_the_closed_form_answer_for_every_spacing() {
        let sched = NoiseSchedule::sd();
        let mut bad = Vec::new();
        for name in DETERMINISTIC {
            let sampler = by_name(name);
            let denoises_into_zero = name != SamplerName::Lms;
            for spacing in Spacing::ALL {
                let errors: Vec<f64> = [10, 100]
                    .into_iter()
                    .map(|steps| {
                        let sigmas = sched.sigmas(spacing, steps);
                        run(sampler.as_ref(), &sigmas, denoises_into_zero)
                    })
                    .collect();
                if !(errors[1] < errors[0] / 3.0 && errors[1] < 0.03) {
                    bad.push(format!("{name} {spacing:?}: {errors:?}"));
                }
            }
        }
        assert!(bad.is_empty(), "{bad:#?}");
    }

    #[test]
    fn first_order_samplers_halve_their_error_when_steps_double() {
        for name in [SamplerName::Euler, SamplerName::Ddim] {
            for spacing in fixed_end_spacings() {
                let (p, err) = order(by_name(name).as_ref(), spacing);
                assert!(
                    (0.8..1.5).contains(&p),
                    "{name}: order {p} with {spacing:?}"
                );
                assert!(err < 0.05, "error {err}");
            }
        }
    }

    #[test]
    fn second_order_samplers_quarter_their_error_when_steps_double() {
        for spacing in fixed_end_spacings() {
            let (p, err) = order(by_name(SamplerName::Heun).as_ref(), spacing);
            assert!((1.8..2.5).contains(&p), "Heun: order {p} with {spacing:?}");
            assert!(err < 1e-3, "Heun: error {err} with {spacing:?}");
        }
        // DPM2 steps in log sigma. Uniform timesteps make the last few log-sigma steps
        // far longer than the rest, so 100 steps are short of its asymptotic order there.
        for spacing in fixed_end_spacings() {
            let (p, err) = order(by_name(SamplerName::Dpm2).as_ref(), spacing);
            let log_even = matches!(
                spacing,
                Spacing::Karras | Spacing::Exponential | Spacing::Lcm
            );
            let expected = if log_even { 1.8..2.5 } else { 1.5..2.5 };
            assert!(expected.contains(&p), "DPM2: order {p} with {spacing:?}");
            assert!(err < 5e-3, "DPM2: error {err} with {spacing:?}");
        }
    }

    #[test]
    fn multistep_samplers_beat_first_order() {
        // Karras is DPM++ 2M's own schedule; on uniform timesteps it is short of its
        // asymptotic order at 100 steps, as DPM2 is.
        let (p, err) = order(by_name(SamplerName::DpmPp2m).as_ref(), Spacing::Karras);
        assert!(p > 1.8, "DPM++ 2M: order {p}");
        assert!(err < 1e-3, "DPM++ 2M: error {err}");
        let (p, _) = order(by_name(SamplerName::DpmPp2m).as_ref(), Spacing::Uniform);
        assert!(p > 1.3, "DPM++ 2M: order {p} with uniform spacing");
        for spacing in fixed_end_spacings() {
            let (p, err) = order(&Lms, spacing);
            assert!(p > 2.5, "LMS: order {p} with {spacing:?}");
            assert!(err < 1e-4, "LMS: error {err} with {spacing:?}");
        }
        for variant in [UniPcVariant::Bh1, UniPcVariant::Bh2] {
            let unipc = UniPc {
                variant,
                ..UniPc::default()
            };
            for spacing in [Spacing::Karras, Spacing::Exponential] {
                let (p, err) = order(&unipc, spacing);
                assert!(p >= 2.0, "UniPC {variant:?}: order {p} with {spacing:?}");
                assert!(
                    err < 1e-4,
                    "UniPC {variant:?}: error {err} with {spacing:?}"
                );
            }
        }
    }

    #[test]
    fn unipc_matches_a1111s_formulation_in_vp_space() {
        // A1111's UniPC works on x_vp = α·x with α = 1/√(1+σ²); a scalar transcription of
        // its multistep update (order 3, lower order final) gives these on 10 Karras
        // levels ending at σ_min.
        let sigmas = crate::schedule::karras(0.0291675, 14.614642, 10, 7.0);
        for (variant, expected) in [
            (UniPcVariant::Bh1, 0.037_201_215_965_839_71),
            (UniPcVariant::Bh2, 0.036_264_070_101_229_47),
        ] {
            let unipc = UniPc {
                variant,
                ..UniPc::default()
            };
            let x0 = Tensor::new(&[1.0f64], &Device::Cpu).unwrap();
            let out = unipc
                .sample(&mut ideal, x0, &sigmas, &mut stream(0))
                .unwrap();
            let got = out.to_vec1::<f64>().unwrap()[0];
            assert!((got - expected).abs() < 1e-13, "{variant:?}: {got}");
        }
    }

    #[test]
    fn stochastic_samplers_run_on_every_spacing_reproducibly_and_sample_the_data() {
        let sched = NoiseSchedule::sd();
        let (n, steps) = (4096, 100);
        let options = SamplerOptions {
            eta: 1.0,
            s_noise: 1.0,
        };
        let mut bad = Vec::new();
        for name in STOCHASTIC.into_iter().chain([SamplerName::Ddim]) {
            let sampler = sampler_for(name, &options);
            for spacing in Spacing::ALL {
                let sigmas = sched.sigmas(spacing, steps);
                let start_var = S * S + sigmas[0] * sigmas[0];
                let go = |seed| {
                    let x = (stream(99).tensor(&[n], &Device::Cpu).unwrap() * start_var.sqrt())
                        .unwrap();
                    sampler
                        .sample(&mut ideal, x, &sigmas, &mut stream(seed))
                        .unwrap()
                        .to_vec1::<f32>()
                        .unwrap()
                };
                let (a, b, other) = (go(7), go(7), go(8));
                assert!(a.iter().all(|v| v.is_finite()), "{name} {spacing:?}");
                assert_eq!(a, b, "{name} {spacing:?}: same seed, different result");
                assert_ne!(a, other, "{name} {spacing:?}: the seed is ignored");

                let var = a.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / n as f64;
                let expected = if name == SamplerName::Lcm {
                    // A consistency model predicts a sample; the ideal denoiser predicts
                    // the posterior mean, whose variance LCM's update then carries on:
                    // v' = (s²/(s²+σ²))²·v + σ'².
                    sigmas.windows(2).fold(start_var, |v, w| {
                        (S * S / (S * S + w[0] * w[0])).powi(2) * v + w[1] * w[1]
                    })
                } else {
                    // A correct sampler turns N(0, s² + σ_T²) into the data, N(0, s²), to
                    // within its discretisation error: at 100 steps up to 13 % for the
                    // first-order ones on uniform timesteps, whose last steps are long.
                    S * S + sigmas[steps].powi(2)
                };
                if (var / expected - 1.0).abs() >= 0.15 {
                    bad.push(format!(
                        "{name} {spacing:?}: variance ratio {}",
                        var / expected
                    ));
                }
            }
        }
        assert!(bad.is_empty(), "{bad:#?}");
    }

    #[test]
    fn options_follow_a1111_defaults_and_eta_zero_is_deterministic() {
        for name in SamplerName::ALL {
            let o = SamplerOptions::for_sampler(name);
            assert_eq!(o.s_noise, 1.0);
            assert_eq!(o.eta, if name == SamplerName::Ddim { 0.0 } else { 1.0 });
        }
        let sigmas = NoiseSchedule::sd().sigmas(Spacing::Karras, 12);
        let x = || stream(1).tensor(&[64], &Device::Cpu).unwrap() * 14.6;
        let out = |name, eta, seed| {
            let o = SamplerOptions { eta, s_noise: 1.0 };
            sampler_for(name, &o)
                .sample(&mut ideal, x().unwrap(), &sigmas, &mut stream(seed))
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        };
        use SamplerName::*;
        // Without eta the ancestral split vanishes: Euler a is Euler, DPM2 a is DPM2,
        // DPM++ 2M SDE is DPM++ 2M, and DDIM (eta 0) is Euler.
        for (stochastic, plain) in [(EulerA, Euler), (Dpm2A, Dpm2), (DpmPp2mSde, DpmPp2m)] {
            assert_eq!(out(stochastic, 0.0, 1), out(plain, 1.0, 2), "{stochastic}");
        }
        assert_eq!(out(Ddim, 0.0, 1), out(Euler, 0.0, 2));
        // DDIM at eta 1 is Euler a, draw for draw.
        assert_eq!(out(Ddim, 1.0, 3), out(EulerA, 1.0, 3));
        assert_ne!(out(Ddim, 0.5, 3), out(Ddim, 0.0, 3));
    }

    #[test]
    fn ddim_eta_matches_the_papers_update() {
        // DDIM (Song et al., 2020) in VP space with ᾱ = 1/(1+σ²):
        // x' = √ᾱ'·x0 + √(1−ᾱ'−σ_η²)·ε + σ_η·z, σ_η = η√((1−ᾱ')/(1−ᾱ))·√(1−ᾱ/ᾱ').
        let (sigma, next, eta) = (3.0f64, 1.2f64, 0.7f64);
        let (x, d, z) = (0.9f64, 0.3f64, -1.1f64);
        let (a, a_next) = (1.0 / (1.0 + sigma * sigma), 1.0 / (1.0 + next * next));
        let eps = (x - d) / sigma;
        let s_eta = eta * ((1.0 - a_next) / (1.0 - a) * (1.0 - a / a_next)).sqrt();
        let vp = a_next.sqrt() * d + (1.0 - a_next - s_eta * s_eta).sqrt() * eps + s_eta * z;
        let expected = vp / a_next.sqrt();

        let (down, up) = ancestral_step(sigma, next, eta);
        let t = |v: f64| Tensor::new(&[v], &Device::Cpu).unwrap();
        let step = first_order(&t(x), &t(d), sigma, down).unwrap();
        let got = step.to_vec1::<f64>().unwrap()[0] + up * z;
        assert!((got - expected).abs() < 1e-12, "{got} vs {expected}");
    }

    #[test]
    fn step_indices_count_steps_even_for_two_calls_per_step() {
        let sigmas = NoiseSchedule::sd().sigmas(Spacing::Karras, 8);
        for name in SamplerName::ALL {
            let mut seen = Vec::new();
            let mut d = |x: &Tensor, sigma: f64, i: usize| {
                seen.push(i);
                ideal(x, sigma, i)
            };
            let x = Tensor::new(&[1.0f32], &Device::Cpu).unwrap();
            by_name(name)
                .sample(&mut d, x, &sigmas, &mut stream(0))
                .unwrap();
            assert_eq!(seen[0], 0, "{name}");
            assert_eq!(*seen.last().unwrap(), 7, "{name}: {seen:?}");
            assert!(
                seen.windows(2).all(|w| w[1] - w[0] <= 1),
                "{name}: {seen:?}"
            );
            assert!(seen.windows(2).all(|w| w[1] >= w[0]), "{name}: {seen:?}");
            let two_calls = matches!(
                name,
                SamplerName::Heun
                    | SamplerName::Dpm2
                    | SamplerName::Dpm2A
                    | SamplerName::DpmPp2sA
                    | SamplerName::DpmPpSde
            );
            // The step into zero noise is one call for every sampler.
            let calls = if two_calls { 15 } else { 8 };
            assert_eq!(seen.len(), calls, "{name}: {seen:?}");
        }
    }

    #[test]
    fn lms_coefficients_integrate_polynomials_exactly() {
        // The weights must integrate any cubic through the nodes exactly.
        let nodes = [5.0, 3.5, 2.0, 1.2];
        let f = |t: f64| 0.3 * t.powi(3) - t * t + 2.0 * t - 0.7;
        let big_f = |t: f64| 0.075 * t.powi(4) - t.powi(3) / 3.0 + t * t - 0.7 * t;
        let (a, b) = (1.2, 0.6);
        let sum: f64 = (0..4)
            .map(|j| lagrange_integral(&nodes, j, a, b) * f(nodes[j]))
            .sum();
        assert!((sum - (big_f(b) - big_f(a))).abs() < 1e-12);
    }

    #[test]
    fn ancestral_steps_keep_the_target_variance() {
        let (down, up) = ancestral_step(2.0, 1.0, 1.0);
        assert!((down * down + up * up - 1.0).abs() < 1e-12);
        assert_eq!(ancestral_step(1.0, 0.0, 1.0), (0.0, 0.0));
        assert_eq!(ancestral_step(2.0, 1.0, 0.0), (1.0, 0.0));
    }
}
