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
///
/// Every spacing gives `steps + 1` decreasing levels. Most end at zero noise; the
/// timestep samplers' own spacings ([`Spacing::Ddim`], [`Spacing::TimeUniform`]) end at
/// the model's smallest sigma, as those samplers do in A1111, and the image is decoded
/// from there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spacing {
    /// `steps` timesteps evenly from 999 to 0, then zero (k-diffusion's discretisation).
    Uniform,
    /// Karras et al. (2022), rho = 7, then zero.
    Karras,
    /// `steps` levels evenly spaced in log sigma from σ_max to σ_min, then zero.
    Exponential,
    /// `steps + 1` timesteps evenly from 999 to 0 with the last dropped, then zero.
    SgmUniform,
    /// DDIM's timesteps `k·⌊1000/n⌋ + 1`, ending at ᾱ_0 rather than at zero noise.
    Ddim,
    /// UniPC's "time_uniform": `steps + 1` timesteps evenly from 999 to 0, ending at
    /// ᾱ_0.
    TimeUniform,
    /// LCM's: `steps` levels evenly over its 50 original timesteps (999, 979, …, 19),
    /// interpolated in log sigma between them, then zero.
    Lcm,
}

/// How many original timesteps an LCM was distilled on, evenly spread over the 1000.
const LCM_ORIGINAL_STEPS: usize = 50;

impl Spacing {
    /// What a schedule type means for a sampler; "Automatic" takes A1111's default for
    /// that sampler.
    pub fn resolve(sampler: SamplerName, schedule: ScheduleType) -> Self {
        use SamplerName::*;
        match schedule {
            ScheduleType::Uniform => Self::Uniform,
            ScheduleType::Karras => Self::Karras,
            ScheduleType::Exponential => Self::Exponential,
            ScheduleType::SgmUniform => Self::SgmUniform,
            ScheduleType::Automatic => match sampler {
                DpmPp2m | DpmPpSde | DpmPp2sA | Dpm2 | Dpm2A => Self::Karras,
                DpmPp2mSde => Self::Exponential,
                Ddim => Self::Ddim,
                UniPc => Self::TimeUniform,
                Lcm => Self::Lcm,
                Euler | EulerA | Heun | Lms => Self::Uniform,
            },
        }
    }

    pub const ALL: [Spacing; 7] = [
        Self::Uniform,
        Self::Karras,
        Self::Exponential,
        Self::SgmUniform,
        Self::Ddim,
        Self::TimeUniform,
        Self::Lcm,
    ];
}

/// A1111 gives DPM2 and DPM2 a one level more than asked and drops the next-to-last
/// (`discard_next_to_last_sigma`), so their last step goes into zero noise from a level
/// above σ_min.
fn discards_penultimate(sampler: SamplerName) -> bool {
    matches!(sampler, SamplerName::Dpm2 | SamplerName::Dpm2A)
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

    /// `steps + 1` decreasing noise levels for a run of `steps` steps.
    pub fn sigmas(&self, spacing: Spacing, steps: usize) -> Vec<f64> {
        let steps = steps.max(1);
        let last_t = (self.sigmas.len() - 1) as f64;
        let mut out: Vec<f64> = match spacing {
            Spacing::Uniform => linspace(last_t, 0.0, steps)
                .map(|t| self.t_to_sigma(t))
                .collect(),
            Spacing::Karras => karras(self.sigma_min(), self.sigma_max(), steps, 7.0),
            Spacing::Exponential => linspace(self.sigma_max().ln(), self.sigma_min().ln(), steps)
                .map(f64::exp)
                .collect(),
            // The two differ only in their last level.
            Spacing::SgmUniform | Spacing::TimeUniform => linspace(last_t, 0.0, steps + 1)
                .take(steps)
                .map(|t| self.t_to_sigma(t))
                .collect(),
            Spacing::Ddim => {
                let stride = (self.sigmas.len() / steps).max(1);
                (0..steps)
                    .rev()
                    .map(|k| self.sigmas[(k * stride + 1).min(self.sigmas.len() - 1)])
                    .collect()
            }
            Spacing::Lcm => {
                let stride = self.sigmas.len() / LCM_ORIGINAL_STEPS;
                let grid: Vec<f64> = (0..LCM_ORIGINAL_STEPS)
                    .map(|k| self.log_sigmas[k * stride + stride - 1])
                    .collect();
                linspace((LCM_ORIGINAL_STEPS - 1) as f64, 0.0, steps)
                    .map(|j| {
                        let lo = (j.floor() as usize).min(LCM_ORIGINAL_STEPS - 2);
                        let w = j - lo as f64;
                        ((1.0 - w) * grid[lo] + w * grid[lo + 1]).exp()
                    })
                    .collect()
            }
        };
        out.push(match spacing {
            Spacing::Ddim | Spacing::TimeUniform => self.sigma_min(),
            _ => 0.0,
        });
        out
    }

    /// The levels A1111 runs `sampler` on for `steps` steps with `schedule`: the
    /// resolved spacing, with the next-to-last level of DPM2 and DPM2 a dropped.
    pub fn sigmas_for(
        &self,
        sampler: SamplerName,
        schedule: ScheduleType,
        steps: usize,
    ) -> Vec<f64> {
        let spacing = Spacing::resolve(sampler, schedule);
        if !discards_penultimate(sampler) {
            return self.sigmas(spacing, steps);
        }
        let mut sigmas = self.sigmas(spacing, steps.max(1) + 1);
        sigmas.remove(sigmas.len() - 2);
        sigmas
    }

    /// The timestep an LCM sees for a noise level: the nearest (in log sigma) of its 50
    /// original timesteps, the only ones it was distilled on. (Its boundary-condition
    /// scalings are within 1e-5 of the identity at all of them, timestep 19 and up.)
    pub fn lcm_timestep(&self, sigma: f64) -> f64 {
        let stride = self.sigmas.len() / LCM_ORIGINAL_STEPS;
        let ls = sigma.max(1e-10).ln();
        let nearest = (0..LCM_ORIGINAL_STEPS)
            .map(|k| k * stride + stride - 1)
            .min_by(|&a, &b| {
                (self.log_sigmas[a] - ls)
                    .abs()
                    .total_cmp(&(self.log_sigmas[b] - ls).abs())
            })
            .unwrap_or(0);
        nearest as f64
    }
}

/// `n` values evenly from `a` to `b` inclusive (just `a` when `n` is 1).
fn linspace(a: f64, b: f64, n: usize) -> impl Iterator<Item = f64> {
    (0..n).map(move |i| {
        if n <= 1 {
            a
        } else {
            a + (b - a) * i as f64 / (n - 1) as f64
        }
    })
}

/// Karras et al.'s spacing: even steps in `sigma^(1/rho)`.
pub fn karras(sigma_min: f64, sigma_max: f64, steps: usize, rho: f64) -> Vec<f64> {
    let (lo, hi) = (sigma_min.powf(1.0 / rho), sigma_max.powf(1.0 / rho));
    linspace(hi, lo, steps).map(|v| v.powf(rho)).collect()
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
    fn every_spacing_gives_steps_plus_one_decreasing_levels_ending_as_documented() {
        let s = NoiseSchedule::sd();
        for spacing in Spacing::ALL {
            for steps in [1, 2, 3, 7, 20, 50] {
                let sig = s.sigmas(spacing, steps);
                assert_eq!(sig.len(), steps + 1, "{spacing:?} × {steps}");
                assert!(sig.windows(2).all(|w| w[0] > w[1]), "{spacing:?}: {sig:?}");
                let end = match spacing {
                    Spacing::Ddim | Spacing::TimeUniform => s.sigma_min(),
                    _ => 0.0,
                };
                assert_eq!(sig[steps], end, "{spacing:?}");
                if spacing != Spacing::Ddim {
                    assert!(
                        (sig[0] - s.sigma_max()).abs() < 1e-9,
                        "{spacing:?}: {sig:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn each_spacing_follows_its_formula() {
        let s = NoiseSchedule::sd();
        let n = 10;
        // Uniform, Karras and Exponential run from σ_max to σ_min, then zero.
        for spacing in [Spacing::Uniform, Spacing::Karras, Spacing::Exponential] {
            assert!((s.sigmas(spacing, n)[n - 1] - s.sigma_min()).abs() < 1e-9);
        }
        let uniform = s.sigmas(Spacing::Uniform, n);
        assert!((uniform[3] - s.t_to_sigma(999.0 * (1.0 - 3.0 / 9.0))).abs() < 1e-9);
        let exp = s.sigmas(Spacing::Exponential, n);
        let ratios: Vec<f64> = exp[..n].windows(2).map(|w| w[0] / w[1]).collect();
        assert!(
            ratios.iter().all(|r| (r - ratios[0]).abs() < 1e-9),
            "{ratios:?}"
        );
        let karras = s.sigmas(Spacing::Karras, n);
        let roots: Vec<f64> = karras[..n].iter().map(|v| v.powf(1.0 / 7.0)).collect();
        let gaps: Vec<f64> = roots.windows(2).map(|w| w[0] - w[1]).collect();
        assert!(gaps.iter().all(|g| (g - gaps[0]).abs() < 1e-9), "{gaps:?}");
        // SGM Uniform and UniPC's spacing share their levels; they end differently.
        let sgm = s.sigmas(Spacing::SgmUniform, n);
        let tu = s.sigmas(Spacing::TimeUniform, n);
        assert_eq!(sgm[..n], tu[..n]);
        assert!((sgm[n - 1] - s.t_to_sigma(99.9)).abs() < 1e-9);
        // DDIM's first timestep for 20 steps is 951.
        let ddim = s.sigmas(Spacing::Ddim, 20);
        assert!((ddim[0] - s.t_to_sigma(951.0)).abs() < 1e-9);
        assert!((ddim[19] - s.t_to_sigma(1.0)).abs() < 1e-9);
    }

    #[test]
    fn lcm_spacing_walks_its_fifty_original_timesteps() {
        let s = NoiseSchedule::sd();
        let grid = s.sigmas(Spacing::Lcm, 50);
        for (k, sigma) in grid[..50].iter().enumerate() {
            let t = 999.0 - 20.0 * k as f64;
            assert!((sigma - s.t_to_sigma(t)).abs() < 1e-9, "{k}");
            assert_eq!(s.lcm_timestep(*sigma), t);
        }
        let four = s.sigmas(Spacing::Lcm, 4);
        assert!((four[3] - s.t_to_sigma(19.0)).abs() < 1e-9);
        // Between grid points the level is interpolated; the model still sees a grid
        // timestep.
        assert_eq!(s.lcm_timestep(four[1]) % 20.0, 19.0);
        assert_eq!(s.lcm_timestep(s.sigma_min()), 19.0);
    }

    #[test]
    fn automatic_takes_each_samplers_a1111_default() {
        use {SamplerName::*, ScheduleType::*};
        for (sampler, spacing) in [
            (Euler, Spacing::Uniform),
            (EulerA, Spacing::Uniform),
            (Heun, Spacing::Uniform),
            (Lms, Spacing::Uniform),
            (Dpm2, Spacing::Karras),
            (Dpm2A, Spacing::Karras),
            (DpmPp2sA, Spacing::Karras),
            (DpmPp2m, Spacing::Karras),
            (DpmPpSde, Spacing::Karras),
            (DpmPp2mSde, Spacing::Exponential),
            (Ddim, Spacing::Ddim),
            (UniPc, Spacing::TimeUniform),
            (Lcm, Spacing::Lcm),
        ] {
            assert_eq!(Spacing::resolve(sampler, Automatic), spacing, "{sampler}");
        }
        for sampler in SamplerName::ALL {
            assert_eq!(Spacing::resolve(sampler, Uniform), Spacing::Uniform);
            assert_eq!(Spacing::resolve(sampler, Karras), Spacing::Karras);
            assert_eq!(Spacing::resolve(sampler, Exponential), Spacing::Exponential);
            assert_eq!(Spacing::resolve(sampler, SgmUniform), Spacing::SgmUniform);
        }
    }

    #[test]
    fn dpm2_drops_the_next_to_last_level() {
        use {SamplerName::*, ScheduleType::*};
        let s = NoiseSchedule::sd();
        for sampler in [Dpm2, Dpm2A] {
            let sig = s.sigmas_for(sampler, Automatic, 10);
            let mut longer = s.sigmas(Spacing::Karras, 11);
            longer.remove(10);
            assert_eq!(sig, longer);
            assert_eq!(sig.len(), 11);
        }
        assert_eq!(
            s.sigmas_for(DpmPp2m, Automatic, 10),
            s.sigmas(Spacing::Karras, 10)
        );
    }
}
