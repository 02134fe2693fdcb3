//! The training noise schedule of SD 1.x/2.x and the ways a run spaces its noise levels.
//!
//! Samplers work in k-diffusion's sigma space: `x = x0 + sigma·noise`, where
//! `sigma(t) = sqrt((1 − ᾱ_t) / ᾱ_t)` for the model's 1000 training timesteps.

use ra_wire::{SamplerName, ScheduleType};

/// SD's "scaled linear" betas over 1000 timesteps.
#[derive(Debug, Clone)]
pub struct NoiseSchedule {
    pub alphas_cumprod: Vec<f64>,
    sigmas: Vec<f64>,
    log_sigmas: Vec<f64>,
}

/// How the levels of one run are spaced, after "Automatic" is resolved for a sampler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spacing {
    /// Evenly spaced timesteps from 999 to 0 (k-diffusion's discretisation).
    Uniform,
    /// Karras et al. (2022), rho = 7.
    Karras,
    /// DDIM's timesteps `k·⌊1000/n⌋ + 1`, ending at ᾱ_0 rather than at zero noise.
    Ddim,
}

impl Spacing {
    /// A1111's defaults: DPM++ 2M uses Karras, DDIM its own timesteps, the rest uniform.
    pub fn resolve(sampler: SamplerName, schedule: ScheduleType) -> Self {
        match (schedule, sampler) {
            (ScheduleType::Karras, _) => Self::Karras,
            (ScheduleType::Automatic, SamplerName::DpmPp2m) => Self::Karras,
            (ScheduleType::Automatic, SamplerName::Ddim) => Self::Ddim,
            (ScheduleType::Automatic, _) => Self::Uniform,
        }
    }
}

impl NoiseSchedule {
    pub fn sd() -> Self {
        Self::scaled_linear(1000, 0.00085, 0.012)
    }

    pub fn scaled_linear(n: usize, beta_start: f64, beta_end: f64) -> Self {
        let (a, b) = (beta_start.sqrt(), beta_end.sqrt());
        let mut acc = 1.0;
        let alphas_cumprod: Vec<f64> = (0..n)
            .map(|i| {
                let s = a + (b - a) * i as f64 / (n - 1) as f64;
                acc *= 1.0 - s * s;
                acc
            })
            .collect();
        let sigmas: Vec<f64> = alphas_cumprod
            .iter()
            .map(|&ac| ((1.0 - ac) / ac).sqrt())
            .collect();
        let log_sigmas = sigmas.iter().map(|s| s.ln()).collect();
        Self {
            alphas_cumprod,
            sigmas,
            log_sigmas,
        }
    }

    pub fn sigma_min(&self) -> f64 {
        self.sigmas[0]
    }

    pub fn sigma_max(&self) -> f64 {
        self.sigmas[self.sigmas.len() - 1]
    }

    /// The (fractional) timestep of a noise level, interpolating log sigma.
    pub fn sigma_to_t(&self, sigma: f64) -> f64 {
        let ls = sigma.max(1e-10).ln();
        let n = self.log_sigmas.len();
        let hi = self.log_sigmas.partition_point(|&x| x < ls).clamp(1, n - 1);
        let lo = hi - 1;
        let w = ((ls - self.log_sigmas[lo]) / (self.log_sigmas[hi] - self.log_sigmas[lo]))
            .clamp(0.0, 1.0);
        lo as f64 + w
    }

    /// The noise level of a (fractional) timestep.
    pub fn t_to_sigma(&self, t: f64) -> f64 {
        let t = t.clamp(0.0, (self.sigmas.len() - 1) as f64);
        let lo = t.floor() as usize;
        let hi = (lo + 1).min(self.sigmas.len() - 1);
        let w = t - lo as f64;
        ((1.0 - w) * self.log_sigmas[lo] + w * self.log_sigmas[hi]).exp()
    }

    /// `steps + 1` decreasing noise levels for a run of `steps` model calls.
    pub fn sigmas(&self, spacing: Spacing, steps: usize) -> Vec<f64> {
        let steps = steps.max(1);
        let last_t = (self.sigmas.len() - 1) as f64;
        let mut out: Vec<f64> = match spacing {
            Spacing::Uniform => (0..steps)
                .map(|i| {
                    let t = if steps == 1 {
                        last_t
                    } else {
                        last_t * (1.0 - i as f64 / (steps - 1) as f64)
                    };
                    self.t_to_sigma(t)
                })
                .collect(),
            Spacing::Karras => karras(self.sigma_min(), self.sigma_max(), steps, 7.0),
            Spacing::Ddim => {
                let stride = (self.sigmas.len() / steps).max(1);
                (0..steps)
                    .rev()
                    .map(|k| self.sigmas[(k * stride + 1).min(self.sigmas.len() - 1)])
                    .collect()
            }
        };
        out.push(match spacing {
            Spacing::Ddim => self.sigma_min(),
            _ => 0.0,
        });
        out
    }
}

/// Karras et al.'s spacing: even steps in `sigma^(1/rho)`.
pub fn karras(sigma_min: f64, sigma_max: f64, steps: usize, rho: f64) -> Vec<f64> {
    let (lo, hi) = (sigma_min.powf(1.0 / rho), sigma_max.powf(1.0 / rho));
    (0..steps)
        .map(|i| {
            let r = if steps == 1 {
                0.0
            } else {
                i as f64 / (steps - 1) as f64
            };
            (hi + r * (lo - hi)).powf(rho)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sd_schedule_has_the_known_sigma_range() {
        let s = NoiseSchedule::sd();
        assert!((s.sigma_min() - 0.0292).abs() < 1e-3, "{}", s.sigma_min());
        assert!((s.sigma_max() - 14.6146).abs() < 1e-3, "{}", s.sigma_max());
        for t in [0.0, 10.5, 500.0, 999.0] {
            assert!((s.sigma_to_t(s.t_to_sigma(t)) - t).abs() < 1e-6);
        }
    }

    #[test]
    fn spacings_start_high_and_decrease() {
        let s = NoiseSchedule::sd();
        for spacing in [Spacing::Uniform, Spacing::Karras, Spacing::Ddim] {
            let sig = s.sigmas(spacing, 20);
            assert_eq!(sig.len(), 21);
            assert!(sig.windows(2).all(|w| w[0] > w[1]), "{spacing:?}: {sig:?}");
        }
        assert_eq!(*s.sigmas(Spacing::Karras, 20).last().unwrap(), 0.0);
        // DDIM's first timestep for 20 steps is 951, its last ends at ᾱ_0.
        let ddim = s.sigmas(Spacing::Ddim, 20);
        assert!((ddim[0] - s.t_to_sigma(951.0)).abs() < 1e-9);
        assert_eq!(ddim[20], s.sigma_min());
    }
}
