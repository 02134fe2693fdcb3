//! RA's plugin host.
//!
//! A plugin is a WebAssembly component built against one of the contract versions in
//! `plugin-sdk/wit/` plus a `plugin.toml` manifest. This crate reads and checks
//! manifests ([`manifest`]), installs packages and folders ([`package`]), runs
//! components under wasmtime with no ambient authority and with a memory cap and a
//! deadline on every call ([`runtime`]), and keeps the set of installed plugins with
//! their enabled state and settings ([`registry`]).
//!
//! Contract of this layer: a plugin can only fail the hook it was called for. Every
//! trap, timeout, exhausted memory or malformed answer comes back as a [`PluginError`]
//! naming the plugin; nothing a plugin does can stop the host from serving the next
//! call.

pub mod error;
pub mod manifest;
pub mod package;
pub mod registry;
pub mod runtime;

pub use error::PluginError;
pub use manifest::{Hook, Manifest, OnError, MODEL_KINDS, SUPPORTED_APIS};
pub use registry::{PluginInfo, Plugins, PluginsConfig, Source};
pub use runtime::{Limits, ModelRunner, NoModels};
pub use runtime::v0_1_0::ra::plugin::types::{
    ActionOutput, Field, Image, ModelInfo, Params, Postprocessed, Tensor, Upscaler,
};
