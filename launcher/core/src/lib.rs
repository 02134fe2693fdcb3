//! The launcher's logic, without Qt, so `cargo test` covers it on any machine:
//!
//! - [`i18n`]: Fluent translations, zh-CN first; [`notice`]: messages kept as ids until
//!   shown, so errors follow a language switch.
//! - [`skin`]: skin folders read into a validated theme, with a fallback and a reason.
//! - [`settings`]: `launcher.toml`, and the daemon flags it implies.
//! - [`supervisor`]: start, watch, restart and stop `ra-daemon`; the D-Bus connection.
//! - [`session`]: what the pages ask of the daemon; [`job_view`] follows a job and
//!   builds the gallery; [`form`] checks the Generate form and reads infotexts back;
//!   [`pnginfo`], [`tokens`] and [`folders`] serve the PNG info page, the token counter
//!   and the welcome.
//! - [`model_library`], [`pack_list`], [`downloads`] and [`updates`]: the Models, Packs,
//!   Downloads and Updates pages over `ra-library` (the same code as `ra-daemon models`
//!   and `ra-daemon packs`).
//!
//! The Qt side (`launcher/`) only turns these into QObject properties and signals.

pub mod downloads;
pub mod files;
pub mod folders;
pub mod form;
pub mod i18n;
pub mod job_view;
pub mod model_library;
pub mod notice;
pub mod pack_list;
pub mod pnginfo;
pub mod session;
pub mod settings;
pub mod skin;
pub mod supervisor;
pub mod tokens;
pub mod updates;
