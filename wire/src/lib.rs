//! Types that RA's launcher and daemon both speak, kept free of the engine's heavy
//! dependencies so the launcher can build without candle.
//!
//! - [`rng`]: A1111's noise generators by name.
//! - [`sampler`]: sampler and schedule-type names exactly as A1111 spells them.
//! - [`infotext`]: the A1111 `parameters` text, written and read back.
//! - [`png_text`]: PNG files carrying that text in a `parameters` chunk.
//! - `dbus` (feature `dbus`): the daemon's D-Bus names and a client proxy.
//! - [`job`], [`status`]: jobs, their events, and the daemon's state as clients see them.

#[cfg(feature = "dbus")]
pub mod dbus;
pub mod infotext;
pub mod job;
pub mod paths;
pub mod png_text;
pub mod rng;
pub mod sampler;
pub mod status;

pub use infotext::{GenerationInfo, Infotext, InfotextError};
pub use job::{JobEvent, JobInfo, JobRequest, JobStatus};
pub use png_text::{PngError, PngImage};
pub use rng::RngSource;
pub use sampler::{SamplerName, ScheduleType, UnknownName};
pub use status::{DaemonStatus, ModelInfo, ModelKind};
