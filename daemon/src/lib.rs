//! `ra-daemon` as a library: the pieces of the service, each with its own contract.
//!
//! - [`config`]: TOML configuration and XDG paths, and the rule that RA never listens
//!   beyond loopback without credentials.
//! - [`store`]: SQLite (WAL) job queue, history and model-hash cache.
//! - [`models`]: model folders in A1111/ComfyUI layouts.
//! - [`worker`]: the thread that owns the model and runs queued jobs.
//!
//! The HTTP API and the D-Bus interface build on these (daemon issue).

pub mod config;
pub mod http;
pub mod models;
pub mod store;
pub mod worker;
