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

/// The samplers RA implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SamplerName {
    Euler,
    EulerA,
    Ddim,
    DpmPp2m,
}

impl SamplerName {
    pub const ALL: [SamplerName; 4] = [Self::Euler, Self::EulerA, Self::Ddim, Self::DpmPp2m];

    /// The name A1111 shows and writes into infotext.
    pub fn a1111_name(self) -> &'static str {
        match self {
            Self::Euler => "Euler",
            Self::EulerA => "Euler a",
            Self::Ddim => "DDIM",
            Self::DpmPp2m => "DPM++ 2M",
        }
    }

    /// The k-diffusion / API aliases A1111 also accepts.
    fn aliases(self) -> &'static [&'static str] {
        match self {
            Self::Euler => &["k_euler"],
            Self::EulerA => &["k_euler_a", "euler_ancestral", "euler_a"],
            Self::Ddim => &["ddim"],
            Self::DpmPp2m => &["k_dpmpp_2m", "dpmpp_2m"],
        }
    }

    /// Whether the sampler injects fresh noise at every step (and so depends on the seed
    /// beyond the initial latent).
    pub fn is_ancestral(self) -> bool {
        matches!(self, Self::EulerA)
    }

    /// Parses a sampler name, also accepting the combined names older clients send
    /// (`DPM++ 2M Karras`), which carry a schedule type with them.
    pub fn parse_with_schedule(s: &str) -> Result<(Self, Option<ScheduleType>), UnknownName> {
        if let Ok(sampler) = s.parse() {
            return Ok((sampler, None));
        }
        for schedule in ScheduleType::ALL {
            let suffix = format!(" {}", schedule.a1111_name());
            if let Some(base) = s.strip_suffix(suffix.as_str()) {
                if let Ok(sampler) = base.parse() {
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
            .find(|n| n.a1111_name().eq_ignore_ascii_case(t) || n.aliases().contains(&t))
            .ok_or_else(|| Self::unknown(s))
    }
}

/// How the noise levels of a run are spaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScheduleType {
    /// The sampler's own default: Karras for DPM++ 2M, the model's timestep spacing for
    /// the others.
    Automatic,
    /// Karras et al. (2022), rho = 7, between the model's smallest and largest sigma.
    Karras,
}

impl ScheduleType {
    pub const ALL: [ScheduleType; 2] = [Self::Automatic, Self::Karras];

    pub fn a1111_name(self) -> &'static str {
        match self {
            Self::Automatic => "Automatic",
            Self::Karras => "Karras",
        }
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
            .find(|n| n.a1111_name().eq_ignore_ascii_case(t))
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
        }
        assert_eq!("Euler a".parse(), Ok(SamplerName::EulerA));
        assert_eq!("k_euler_a".parse(), Ok(SamplerName::EulerA));
        assert_eq!("Karras".parse(), Ok(ScheduleType::Karras));
    }

    #[test]
    fn combined_legacy_names_split_into_sampler_and_schedule() {
        assert_eq!(
            SamplerName::parse_with_schedule("DPM++ 2M Karras"),
            Ok((SamplerName::DpmPp2m, Some(ScheduleType::Karras)))
        );
        assert_eq!(
            SamplerName::parse_with_schedule("Euler a"),
            Ok((SamplerName::EulerA, None))
        );
    }

    #[test]
    fn unknown_sampler_lists_the_valid_names() {
        let err = "Heun++".parse::<SamplerName>().unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown sampler 'Heun++'; valid names are: Euler, Euler a, DDIM, DPM++ 2M"
        );
    }
}
