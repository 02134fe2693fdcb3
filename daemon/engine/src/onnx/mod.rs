//! The ONNX Runtime backend, through `ort` with `load-dynamic`.
//!
//! - [`runtime`]: finds and starts the shared library; clear errors when it is missing
//!   or wrong, and execution providers from configuration.
//! - [`session`]: one graph, fed and read as candle tensors.
//! - [`sd`]: a diffusers ONNX folder as an [`crate::SdModel`] whose networks implement
//!   [`crate::parts`], so the one pipeline runs on it.
//! - [`image_model`]: single-image graphs (ESRGAN-family upscalers, depth estimators)
//!   for the plugin host's `run-model`.
//! - [`proto`], [`graph`], [`export`]: ONNX files written from Rust (fixtures, benches,
//!   converting a diffusers safetensors folder).

pub mod export;
pub mod graph;
pub mod image_model;
pub mod proto;
pub mod runtime;
pub mod sd;
pub mod session;

pub use runtime::{ExecutionProvider, Runtime, RuntimeOptions};
