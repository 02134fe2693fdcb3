//! `ra-daemon` as a library: the pieces of the service, each with its own contract.
//!
//! - [`config`]: TOML configuration and XDG paths, and the rule that RA never listens
//!   beyond loopback without credentials.
//! - [`store`]: SQLite (WAL) job queue, history, settings and model-hash cache.
//! - [`models`]: model folders in A1111/ComfyUI layouts.
//! - [`plugins`] (finding and calling plugins) and [`model_runner`] (the upscaler and
//!   depth networks plugins may run).
//! - [`worker`]: the thread that owns the model and runs queued jobs.
//! - [`service`]: what clients can ask for, validated once for every way in.
//! - [`http`] (RA's `/ra/v1` routes and the frame), [`a1111`] (A1111's `/sdapi/v1`
//!   routes), [`openapi`] and [`dbus`]: the ways in, thin over [`service`].
//! - [`server`]: `serve` put together.

pub mod a1111;
pub mod config;
pub mod dbus;
pub mod http;
pub mod model_runner;
pub mod models;
pub mod openapi;
pub mod plugin_api;
pub mod plugins;
pub mod server;
pub mod service;
pub mod store;
pub mod worker;
