//! The launcher's logic, without Qt, so `cargo test` covers it on any machine:
//!
//! - [`i18n`]: Fluent translations, zh-CN first.
//! - [`skin`]: skin folders read into a validated theme, with a fallback and a reason.
//! - [`supervisor`]: start, watch, restart and stop `ra-daemon`; the D-Bus connection.
//!
//! The Qt side (`launcher/`) only turns these into QObject properties and signals.

pub mod i18n;
pub mod skin;
pub mod supervisor;
