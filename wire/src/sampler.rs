//! Sampler and schedule-type names as A1111 spells them, so that clients and infotexts
//! written by A1111 mean the same thing here.

use std::fmt;
use std::str::FromStr;

/// A name that is not one we know, with the names that are valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} '{given}'; valid names are: {}", valid.join(", "))]
pub struct UnknownName {
    pub kind: &'static str,
    pub given: String,
    pub valid: Vec<&'static str>,
}

/// The samplers RA implements, under the names A1111 gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SamplerName {
    Euler,
    EulerA,
    Heun,
    Dpm2,
    Dpm2A,
    DpmPp2sA,
    DpmPp2m,
    DpmPpSde,
    DpmPp2mSde,
    Lms,
    Ddim,
    UniPc,
    Lcm,
}

/// Combined names older A1111 versions listed as samplers of their own, each meaning a
/// sampler with a schedule type.
const LEGACY_ALIASES: [(&str, SamplerName, ScheduleType); 8] = [
    ("k_lms_ka", SamplerName::Lms, ScheduleType::Karras),
    ("k_dpm_2_ka", SamplerName::Dpm2, ScheduleType::Karras),
    ("k_dpm_2_a_ka", SamplerName::Dpm2A, ScheduleType::Karras),
    (
        "k_dpmpp_2s_a_ka",
        SamplerName::DpmPp2sA,
        ScheduleType::Karras,
    ),
    ("k_dpmpp_2m_ka", SamplerName::DpmPp2m, ScheduleType::Karras),
    (
        "k_dpmpp_sde_ka",
        SamplerName::DpmPpSde,
        ScheduleType::Karras,
    ),
    (
        "k_dpmpp_2m_sde_ka",
        SamplerName::DpmPp2mSde,
        ScheduleType::Karras,
    ),
    (
        "k_dpmpp_2m_sde_exp",
        SamplerName::DpmPp2mSde,
        ScheduleType::Exponential,
    ),
];

impl SamplerName {
    pub const ALL: [SamplerName; 13] = [
        Self::Euler,
        Self::EulerA,
        Self::Heun,
        Self::Dpm2,
        Self::Dpm2A,
        Self::DpmPp2sA,
        Self::DpmPp2m,
        Self::DpmPpSde,
        Self::DpmPp2mSde,
        Self::Lms,
        Self::Ddim,
        Self::UniPc,
        Self::Lcm,
    ];

    /// The name A1111 shows and writes into infotext.
    pub fn a1111_name(self) -> &'static str {
        match self {
            Self::Euler => "Euler",
            Self::EulerA => "Euler a",
            Self::Heun => "Heun",
            Self::Dpm2 => "DPM2",
            Self::Dpm2A => "DPM2 a",
            Self::DpmPp2sA => "DPM++ 2S a",
            Self::DpmPp2m => "DPM++ 2M",
            Self::DpmPpSde => "DPM++ SDE",
            Self::DpmPp2mSde => "DPM++ 2M SDE",
            Self::Lms => "LMS",
            Self::Ddim => "DDIM",
            Self::UniPc => "UniPC",
            Self::Lcm => "LCM",
        }
    }

    /// The aliases A1111's API accepts (k-diffusion function names), then the names
    /// ComfyUI workflows use where they differ.
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            Self::Euler => &["k_euler", "euler"],
            Self::EulerA => &[
                "k_euler_a",
                "k_euler_ancestral",
                "euler_ancestral",
                "euler_a",
            ],
            Self::Heun => &["k_heun", "heun"],
            Self::Dpm2 => &["k_dpm_2", "dpm_2"],
            Self::Dpm2A => &["k_dpm_2_a", "dpm_2_ancestral"],
            Self::DpmPp2sA => &["k_dpmpp_2s_a", "dpmpp_2s_ancestral"],
            Self::DpmPp2m => &["k_dpmpp_2m", "dpmpp_2m"],
            Self::DpmPpSde => &["k_dpmpp_sde", "dpmpp_sde"],
            Self::DpmPp2mSde => &["k_dpmpp_2m_sde", "dpmpp_2m_sde"],
            Self::Lms => &["k_lms", "lms"],
            Self::Ddim => &["ddim"],
            Self::UniPc => &["unipc", "uni_pc"],
            Self::Lcm => &["k_lcm", "lcm"],
        }
    }

    /// Whether the sampler injects fresh noise while it runs (and so depends on the seed
    /// beyond the initial latent). DDIM does only when its eta is above zero, which is
    /// not its default.
    pub fn is_ancestral(self) -> bool {
        matches!(
            self,
            Self::EulerA
                | Self::Dpm2A
                | Self::DpmPp2sA
                | Self::DpmPpSde
                | Self::DpmPp2mSde
                | Self::Lcm
        )
    }

    /// Parses a sampler name, also accepting the combined names older clients send
    /// (`DPM++ 2M Karras`, `k_dpmpp_2m_ka`), which carry a schedule type with them.
    pub fn parse_with_schedule(s: &str) -> Result<(Self, Option<ScheduleType>), UnknownName> {
        if let Ok(sampler) = s.parse() {
            return Ok((sampler, None));
        }
        let t = s.trim();
        if let Some((_, sampler, schedule)) = LEGACY_ALIASES
            .iter()
            .find(|(alias, _, _)| alias.eq_ignore_ascii_case(t))
        {
            return Ok((*sampler, Some(*schedule)));
        }
        for schedule in ScheduleType::ALL {
            for label in schedule.labels() {
                let base = strip_suffix_ignore_case(t, label).and_then(|b| b.strip_suffix(' '));
                if let Some(Ok(sampler)) = base.map(str::parse) {
                    return Ok((sampler, Some(schedule)));
                }
            }
        }
        Err(Self::unknown(s))
    }

    fn unknown(s: &str) -> UnknownName {
        UnknownName {
            kind: "sampler",
            given: s.to_string(),
            valid: Self::ALL.iter().map(|s| s.a1111_name()).collect(),
        }
    }
}

impl fmt::Display for SamplerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.a1111_name())
    }
}

impl FromStr for SamplerName {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        Self::ALL
            .into_iter()
            .find(|n| {
                n.a1111_name().eq_ignore_ascii_case(t)
                    || n.aliases().iter().any(|a| a.eq_ignore_ascii_case(t))
            })
            .ok_or_else(|| Self::unknown(s))
    }
}

fn strip_suffix_ignore_case<'a>(s: &'a str, suffix: &str) -> Option<&'a str> {
    let cut = s.len().checked_sub(suffix.len())?;
    let tail = s.get(cut..)?;
    tail.eq_ignore_ascii_case(suffix).then(|| &s[..cut])
}

/// How the noise levels of a run are spaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScheduleType {
    /// The sampler's own default, as A1111 chooses it: Karras for DPM++ 2M, DPM++ SDE,
    /// DPM++ 2S a, DPM2 and DPM2 a; Exponential for DPM++ 2M SDE; DDIM, UniPC and LCM
    /// their own timesteps; Uniform for the rest.
    Automatic,
    /// The model's own discretisation: timesteps evenly from the last to the first.
    Uniform,
    /// Karras et al. (2022), rho = 7, between the model's smallest and largest sigma.
    Karras,
    /// Evenly spaced in log sigma between the model's smallest and largest sigma.
    Exponential,
    /// Timesteps evenly from the last towards the first, the first left out (SDXL's
    /// training spacing).
    SgmUniform,
}

impl ScheduleType {
    pub const ALL: [ScheduleType; 5] = [
        Self::Automatic,
        Self::Uniform,
        Self::Karras,
        Self::Exponential,
        Self::SgmUniform,
    ];

    /// The label A1111 shows and writes into infotext as `Schedule type`.
    pub fn a1111_name(self) -> &'static str {
        match self {
            Self::Automatic => "Automatic",
            Self::Uniform => "Uniform",
            Self::Karras => "Karras",
            Self::Exponential => "Exponential",
            Self::SgmUniform => "SGM Uniform",
        }
    }

    /// The `name` A1111's `/sdapi/v1/schedulers` lists (and its API accepts).
    pub fn api_name(self) -> &'static str {
        match self {
            Self::Automatic => "automatic",
            Self::Uniform => "uniform",
            Self::Karras => "karras",
            Self::Exponential => "exponential",
            Self::SgmUniform => "sgm_uniform",
        }
    }

    /// Other spellings A1111 accepts for the label.
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            Self::SgmUniform => &["SGMUniform"],
            _ => &[],
        }
    }

    /// The label and its aliases: the forms a legacy combined sampler name ends with.
    fn labels(self) -> impl Iterator<Item = &'static str> {
        std::iter::once(self.a1111_name()).chain(self.aliases().iter().copied())
    }
}

impl fmt::Display for ScheduleType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.a1111_name())
    }
}

impl FromStr for ScheduleType {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        Self::ALL
            .into_iter()
            .find(|n| {
                n.api_name().eq_ignore_ascii_case(t)
                    || n.labels().any(|l| l.eq_ignore_ascii_case(t))
            })
            .ok_or_else(|| UnknownName {
                kind: "schedule type",
                given: s.to_string(),
                valid: Self::ALL.iter().map(|s| s.a1111_name()).collect(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_exactly_as_a1111_spells_them() {
        for s in SamplerName::ALL {
            assert_eq!(s.a1111_name().parse::<SamplerName>(), Ok(s));
            for alias in s.aliases() {
                assert_eq!(alias.parse::<SamplerName>(), Ok(s), "{alias}");
            }
        }
        for t in ScheduleType::ALL {
            assert_eq!(t.a1111_name().parse::<ScheduleType>(), Ok(t));
            assert_eq!(t.api_name().parse::<ScheduleType>(), Ok(t));
        }
        assert_eq!("Euler a".parse(), Ok(SamplerName::EulerA));
        assert_eq!("k_euler_a".parse(), Ok(SamplerName::EulerA));
        assert_eq!("K_DPMPP_2M_SDE".parse(), Ok(SamplerName::DpmPp2mSde));
        assert_eq!("unipc".parse(), Ok(SamplerName::UniPc));
        assert_eq!("sgm_uniform".parse(), Ok(ScheduleType::SgmUniform));
        assert_eq!("SGMUniform".parse(), Ok(ScheduleType::SgmUniform));
    }

    #[test]
    fn combined_legacy_names_split_into_sampler_and_schedule() {
        use {SamplerName::*, ScheduleType::*};
        for (text, expected) in [
            ("DPM++ 2M Karras", (DpmPp2m, Some(Karras))),
            ("DPM++ 2M SDE Exponential", (DpmPp2mSde, Some(Exponential))),
            ("DPM++ 2M SDE Karras", (DpmPp2mSde, Some(Karras))),
            ("DPM++ 2M SDE", (DpmPp2mSde, None)),
            ("DPM2 a Karras", (Dpm2A, Some(Karras))),
            ("LMS Karras", (Lms, Some(Karras))),
            ("Euler SGMUniform", (Euler, Some(SgmUniform))),
            ("Euler a SGM Uniform", (EulerA, Some(SgmUniform))),
            ("Euler a", (EulerA, None)),
            ("k_dpmpp_2m_ka", (DpmPp2m, Some(Karras))),
            ("k_dpmpp_2m_sde_exp", (DpmPp2mSde, Some(Exponential))),
            ("k_dpm_2_a_ka", (Dpm2A, Some(Karras))),
        ] {
            assert_eq!(
                SamplerName::parse_with_schedule(text),
                Ok(expected),
                "{text}"
            );
        }
        assert!(SamplerName::parse_with_schedule("DPM++ 2M SDE Heun").is_err());
        assert!(SamplerName::parse_with_schedule(" Karras").is_err());
    }

    #[test]
    fn unknown_sampler_lists_the_valid_names() {
        let err = "Heun++".parse::<SamplerName>().unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown sampler 'Heun++'; valid names are: Euler, Euler a, Heun, DPM2, DPM2 a, \
             DPM++ 2S a, DPM++ 2M, DPM++ SDE, DPM++ 2M SDE, LMS, DDIM, UniPC, LCM"
        );
        let err = "Cosine".parse::<ScheduleType>().unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown schedule type 'Cosine'; valid names are: Automatic, Uniform, Karras, \
             Exponential, SGM Uniform"
        );
    }
}
