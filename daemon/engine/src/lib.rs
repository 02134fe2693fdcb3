//! RA's Stable Diffusion engine, on candle or ONNX Runtime.
//!
//! Layers, from the file up:
//! - [`weights`]: recognises weight files by content, refuses pickles, validates
//!   safetensors, and serves tensors under diffusers names ([`ldm_names`] maps the
//!   single-file LDM layout onto them).
//! - [`arch`]: what a model is (family, prediction type, component configs), read from
//!   the tensors; [`clip`], [`unet`] and [`vae`] are the components.
//! - [`model`]: loads either layout into an [`SdModel`] with its tokenizer and hash;
//!   [`parts`] are the traits its networks implement, on candle or on ONNX Runtime
//!   ([`onnx`]), so that everything above runs on either backend.
//! - [`networks`]: LoRAs and textual-inversion embeddings named by a prompt.
//! - [`conditioning`]: prompts (A1111's syntax) → the UNet's conditioning over a run.
//! - [`schedule`], [`sampler`], [`noise`]: noise levels, solvers and seeded noise that
//!   matches A1111's generators.
//! - [`inpaint`]: masks, fills, "only masked" crops and the final overlay.
//! - [`depth`]: the depth map a depth-to-image model reads, checked, resized and
//!   normalised.
//! - [`pipeline`]: txt2img, img2img and inpainting producing an image plus its infotext;
//!   [`preview`] turns a step's latent into a thumbnail, with [`taesd`] when its
//!   decoder file is present.
//! - [`esrgan`] and [`depth_anything`]: the upscaler and depth networks the plugin host
//!   runs for plugins (`run-model`).
//! - [`make_model`]: random-weight models in the real layouts, for tests and benchmarks.
//!
//! Nothing here is async; the daemon runs it on a worker thread.

pub mod arch;
pub mod clip;
pub mod conditioning;
pub mod depth;
pub mod depth_anything;
pub mod error;
pub mod esrgan;
pub mod inpaint;
pub mod ldm_names;
pub mod make_model;
pub mod model;
pub mod networks;
pub mod noise;
pub mod onnx;
pub mod output;
pub mod parts;
pub mod pipeline;
pub mod preview;
pub mod sampler;
pub mod schedule;
pub mod taesd;
pub mod unet;
pub mod vae;
pub mod weights;

pub use candle_core as candle;
pub use error::{EngineError, Result};
pub use model::{LoadOptions, SdModel};
pub use parts::Backend;
pub use pipeline::{generate, DepthMap, GenerateRequest, Generated, InitImage, Progress};
/// CLIP's tokenizer lives in its own crate so the launcher can count tokens without candle.
pub use ra_tokenizer as tokenizer;
