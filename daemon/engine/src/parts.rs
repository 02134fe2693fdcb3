//! The three networks of a Stable Diffusion model as the pipeline sees them, whatever
//! runs them. [`crate::pipeline`] and [`crate::conditioning`] only call these traits, so
//! the samplers, prompt handling, seeds, img2img and inpainting are the same code on
//! every backend; a backend is an implementation of them:
//!
//! - candle: [`ClipTextEncoder`], [`Unet`] and [`Vae`] (this file);
//! - ONNX Runtime: [`crate::onnx::sd`].
//!
//! Tensors crossing these traits are candle tensors on the model's device; a backend
//! that computes elsewhere copies in and out. Methods return candle's `Result` because
//! the samplers' model closures do; a backend's own failures arrive as their message.

use candle_core::{Result, Tensor};

use crate::clip::ClipTextEncoder;
use crate::unet::Unet;
use crate::vae::Vae;

/// Which library runs a model's networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    #[default]
    Candle,
    Onnx,
}

impl Backend {
    pub fn parse(s: &str) -> std::result::Result<Self, crate::EngineError> {
        match s.to_ascii_lowercase().as_str() {
            "candle" => Ok(Self::Candle),
            "onnx" | "onnxruntime" | "ort" => Ok(Self::Onnx),
            _ => Err(crate::EngineError::InvalidRequest(format!(
                "unknown backend '{s}'; use candle or onnx"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Candle => "candle",
            Self::Onnx => "onnx",
        }
    }

    /// The backend that runs the model at `path`: the pinned one, else ONNX Runtime for
    /// a diffusers ONNX folder and candle for everything else.
    pub fn for_model(path: &std::path::Path, pinned: Option<Backend>) -> Backend {
        pinned.unwrap_or(if path.is_dir() && crate::onnx::sd::is_onnx_folder(path) { Self::Onnx } else { Self::Candle })
    }
}

/// Token ids → the hidden states the UNet's cross-attention reads.
pub trait TextEncoder: Send + Sync {
    /// `ids: [batch, n]` u32 → `[batch, n, width]`, with textual-inversion `fixes`
    /// (position in row 0, vectors) written over the token embeddings, and the output
    /// taken `clip_skip - 1` layers before the last (the final norm still applies).
    fn forward_with(
        &self,
        ids: &Tensor,
        fixes: &[(usize, &Tensor)],
        clip_skip: usize,
    ) -> Result<Tensor>;
}

/// The denoiser: the model's prediction (ε or v) for a noisy latent.
pub trait Denoiser: Send + Sync {
    /// `xs: [b, in_channels, h, w]` at `timestep` (fractional between the trained ones),
    /// `context: [b, tokens, width]`.
    fn forward(&self, xs: &Tensor, timestep: f64, context: &Tensor) -> Result<Tensor>;
}

/// The auto-encoder between images in [-1, 1] and scaled latents.
pub trait LatentCodec: Send + Sync {
    /// `[b, 3, h, w]` → scaled latent mean `[b, c, h/8, w/8]`.
    fn encode(&self, image: &Tensor) -> Result<Tensor>;
    /// Scaled latent → image in roughly [-1, 1].
    fn decode(&self, latent: &Tensor) -> Result<Tensor>;
}

impl TextEncoder for ClipTextEncoder {
    fn forward_with(
        &self,
        ids: &Tensor,
        fixes: &[(usize, &Tensor)],
        clip_skip: usize,
    ) -> Result<Tensor> {
        ClipTextEncoder::forward_with(self, ids, fixes, clip_skip)
    }
}

impl Denoiser for Unet {
    fn forward(&self, xs: &Tensor, timestep: f64, context: &Tensor) -> Result<Tensor> {
        Unet::forward(self, xs, timestep, context)
    }
}

impl LatentCodec for Vae {
    fn encode(&self, image: &Tensor) -> Result<Tensor> {
        Vae::encode(self, image)
    }
    fn decode(&self, latent: &Tensor) -> Result<Tensor> {
        Vae::decode(self, latent)
    }
}
