//! Samplers: numerical solvers that walk a latent from high noise to low noise, calling a
//! denoiser `D(x, sigma)` (an estimate of the clean latent) once per step.
//!
//! Every sampler implements [`Sampler`] over the same denoiser signature, so adding one
//! is one more type and one more arm in [`sampler_for`].

use candle_core::{Result, Tensor};
use ra_wire::SamplerName;

use crate::noise::NoiseStream;

/// The model as the samplers see it: `(x, sigma, step index) → denoised x`.
pub type Denoiser<'a> = dyn FnMut(&Tensor, f64, usize) -> Result<Tensor> + 'a;

pub trait Sampler {
    /// Runs the whole chain over `sigmas` (decreasing, `steps + 1` values) from `x`, which
    /// is already at noise level `sigmas[0]`. `noise` feeds ancestral samplers.
    fn sample(
        &self,
        denoise: &mut Denoiser,
        x: Tensor,
        sigmas: &[f64],
        noise: &mut NoiseStream,
    ) -> Result<Tensor>;
}

pub fn sampler_for(name: SamplerName) -> Box<dyn Sampler> {
    match name {
        SamplerName::Euler => Box::new(Euler),
        SamplerName::EulerA => Box::new(EulerAncestral),
        SamplerName::Ddim => Box::new(Ddim),
        SamplerName::DpmPp2m => Box::new(DpmPp2m),
    }
}

/// Euler's method on the probability-flow ODE `dx/dsigma = (x − D) / sigma`; first order.
pub struct Euler;

impl Sampler for Euler {
    fn sample(
        &self,
        denoise: &mut Denoiser,
        mut x: Tensor,
        sigmas: &[f64],
        _: &mut NoiseStream,
    ) -> Result<Tensor> {
        for (i, w) in sigmas.windows(2).enumerate() {
            let (s, next) = (w[0], w[1]);
            let d = ((&x - denoise(&x, s, i)?)? / s)?;
            x = (x + (d * (next - s))?)?;
        }
        Ok(x)
    }
}

/// Euler with fresh noise each step (eta = 1): steps down past the target level, then
/// adds noise back up to it.
pub struct EulerAncestral;

/// Splits a step into its deterministic target and the noise to add (k-diffusion's
/// `get_ancestral_step` with eta = 1).
fn ancestral_step(from: f64, to: f64) -> (f64, f64) {
    if to == 0.0 {
        return (0.0, 0.0);
    }
    let up = (to * to * (from * from - to * to) / (from * from))
        .sqrt()
        .min(to);
    ((to * to - up * up).sqrt(), up)
}

impl Sampler for EulerAncestral {
    fn sample(
        &self,
        denoise: &mut Denoiser,
        mut x: Tensor,
        sigmas: &[f64],
        noise: &mut NoiseStream,
    ) -> Result<Tensor> {
        for (i, w) in sigmas.windows(2).enumerate() {
            let (s, next) = (w[0], w[1]);
            let denoised = denoise(&x, s, i)?;
            let (down, up) = ancestral_step(s, next);
            let d = ((&x - &denoised)? / s)?;
            x = (x + (d * (down - s))?)?;
            if up > 0.0 {
                let z = noise.tensor(x.dims(), x.device())?;
                x = (x + (z * up)?)?;
            }
        }
        Ok(x)
    }
}

/// DDIM with eta = 0: keeps the predicted noise direction and rescales it to the next
/// level, `x' = D + (x − D)·sigma'/sigma`.
pub struct Ddim;

impl Sampler for Ddim {
    fn sample(
        &self,
        denoise: &mut Denoiser,
        mut x: Tensor,
        sigmas: &[f64],
        _: &mut NoiseStream,
    ) -> Result<Tensor> {
        for (i, w) in sigmas.windows(2).enumerate() {
            let (s, next) = (w[0], w[1]);
            let denoised = denoise(&x, s, i)?;
            x = (&denoised + ((&x - &denoised)? * (next / s))?)?;
        }
        Ok(x)
    }
}

/// DPM-Solver++(2M) (Lu et al., 2022): second order from the previous step's denoised
/// estimate, in log-sigma time.
pub struct DpmPp2m;

impl Sampler for DpmPp2m {
    fn sample(
        &self,
        denoise: &mut Denoiser,
        mut x: Tensor,
        sigmas: &[f64],
        _: &mut NoiseStream,
    ) -> Result<Tensor> {
        let mut previous: Option<(Tensor, f64)> = None;
        for (i, w) in sigmas.windows(2).enumerate() {
            let (s, next) = (w[0], w[1]);
            let denoised = denoise(&x, s, i)?;
            if next == 0.0 {
                x = denoised;
                break;
            }
            let h = (s / next).ln();
            let target = match &previous {
                Some((old, h_last)) => {
                    let r = h_last / h;
                    ((&denoised * (1.0 + 1.0 / (2.0 * r)))? - (old * (1.0 / (2.0 * r)))?)?
                }
                None => denoised.clone(),
            };
            x = ((&x * (next / s))? - (target * (-h).exp_m1())?)?;
            previous = Some((denoised, h));
        }
        Ok(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::{NoiseSchedule, Spacing};
    use candle_core::Device;

    /// Data from N(0, s²I) has the ideal denoiser D(x, σ) = x·s²/(s²+σ²), and the
    /// probability-flow ODE solution x(σ) = x_T·√(s²+σ²)/√(s²+σ_T²).
    const S: f64 = 0.5;

    fn run(sampler: &dyn Sampler, sigmas: &[f64]) -> f64 {
        let x0 = Tensor::new(&[1.0f64], &Device::Cpu).unwrap();
        let mut d = |x: &Tensor, sigma: f64, _: usize| x * (S * S / (S * S + sigma * sigma));
        let out = sampler
            .sample(&mut d, x0, sigmas, &mut NoiseStream::new(0))
            .unwrap();
        let exact =
            (S * S + sigmas[sigmas.len() - 1].powi(2)).sqrt() / (S * S + sigmas[0].powi(2)).sqrt();
        (out.to_vec1::<f64>().unwrap()[0] - exact).abs()
    }

    /// Empirical order of the ODE solve from σ_max down to the last non-zero level. The
    /// final jump to σ = 0 is one first-order denoise for every sampler, with an error
    /// set by σ_min rather than the step count, so it is checked on its own below.
    fn order(sampler: &dyn Sampler, spacing: Spacing) -> (f64, f64) {
        let sched = NoiseSchedule::sd();
        let solve = |steps| {
            let sigmas = sched.sigmas(spacing, steps);
            let end = if sigmas[sigmas.len() - 1] == 0.0 {
                sigmas.len() - 1
            } else {
                sigmas.len()
            };
            run(sampler, &sigmas[..end])
        };
        let (e1, e2) = (solve(50), solve(100));
        ((e1 / e2).log2(), e2)
    }

    #[test]
    fn every_deterministic_sampler_lands_on_the_closed_form_answer() {
        let sched = NoiseSchedule::sd();
        for sampler in [&Euler as &dyn Sampler, &Ddim, &DpmPp2m] {
            let exact = S / (S * S + sched.sigma_max().powi(2)).sqrt();
            let rel = |steps| run(sampler, &sched.sigmas(Spacing::Karras, steps)) / exact;
            let errors: Vec<f64> = [10, 20, 50, 100].into_iter().map(rel).collect();
            // Past ~50 steps the σ_min → 0 jump (≈ σ_min²/2s², 0.2 %) dominates.
            assert!(
                errors[3] < errors[0] / 4.0 && errors[3] < 0.02,
                "{errors:?}"
            );
        }
    }

    #[test]
    fn first_order_samplers_halve_their_error_when_steps_double() {
        for sampler in [&Euler as &dyn Sampler, &Ddim] {
            for spacing in [Spacing::Karras, Spacing::Uniform, Spacing::Ddim] {
                let (p, err) = order(sampler, spacing);
                assert!((0.8..1.5).contains(&p), "order {p} with {spacing:?}");
                assert!(err < 0.05, "error {err}");
            }
        }
    }

    #[test]
    fn dpmpp_2m_is_second_order() {
        // Karras is DPM++ 2M's own schedule; uniform timesteps end with steps so
        // uneven in log-sigma that 100 steps are still short of the asymptotic order.
        let (p, err) = order(&DpmPp2m, Spacing::Karras);
        assert!(p > 1.8, "order {p}");
        assert!(err < 1e-4, "error {err}");
        let (p, _) = order(&DpmPp2m, Spacing::Uniform);
        assert!(p > 1.3, "order {p} with uniform spacing");
    }

    #[test]
    fn ancestral_steps_keep_the_target_variance() {
        let (down, up) = ancestral_step(2.0, 1.0);
        assert!((down * down + up * up - 1.0).abs() < 1e-12);
        assert_eq!(ancestral_step(1.0, 0.0), (0.0, 0.0));
    }
}
