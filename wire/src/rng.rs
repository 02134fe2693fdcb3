//! Which random generator makes a job's noise: A1111's `randn_source` setting.

use serde::{Deserialize, Serialize};

use crate::sampler::UnknownName;

/// `GPU` and `NV` are the same Philox stream that `torch.randn` gives on NVIDIA GPUs
/// (A1111's NV option reproduces it on any device); `CPU` is PyTorch's CPU generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum RngSource {
    #[default]
    #[serde(rename = "GPU")]
    Gpu,
    #[serde(rename = "NV")]
    Nv,
    #[serde(rename = "CPU")]
    Cpu,
}

impl RngSource {
    pub const ALL: [Self; 3] = [Self::Gpu, Self::Nv, Self::Cpu];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gpu => "GPU",
            Self::Nv => "NV",
            Self::Cpu => "CPU",
        }
    }

    /// Case-insensitive, as A1111's settings are typed by hand in API payloads.
    pub fn parse(s: &str) -> Result<Self, UnknownName> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownName {
                kind: "RNG source",
                given: s.to_string(),
                valid: Self::ALL.iter().map(|r| r.as_str()).collect(),
            })
    }

    /// What infotext records: A1111 writes `RNG:` only when it is not the default.
    pub fn infotext(self) -> Option<&'static str> {
        (self != Self::Gpu).then_some(self.as_str())
    }
}
