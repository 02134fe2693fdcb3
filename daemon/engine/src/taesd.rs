//! TAESD's decoder: madebyollin's tiny distilled autoencoder, which turns a Stable
//! Diffusion latent into a full-size RGB image for a fraction of the VAE's cost. RA uses
//! it only for live previews, as A1111 does ("TAESD" in its live-preview settings).
//!
//! **Contract.** [`TaesdDecoder::decode`] takes the latent *as the UNet sees it* — the
//! VAE's encoding already multiplied by the model's scale (0.18215 for SD 1.x/2.x), the
//! same tensor the sampler hands to progress callbacks — with no further scaling (TAESD
//! has no scaling factor; its `latent_shift`/`latent_magnitude` only matter for storing
//! latents in PNGs). It returns `[batch, 3, 8·h, 8·w]` in `[0, 1]`: the network's output
//! is clamped there, as A1111 and the reference script do.
//!
//! **Files.** `taesd_decoder.safetensors` fits SD 1.x/2.x latents and
//! `taesdxl_decoder.safetensors` SDXL's; both have the same architecture and 4 latent
//! channels, and are read the same way. The tensors are named by position in the
//! reference's `nn.Sequential` (`1.weight`, `3.conv.0.weight`, …, `19.bias`); diffusers'
//! single-file export (`diffusion_pytorch_model.safetensors`) prefixes the same names
//! with `decoder.layers.`, which is accepted too.
//!
//! **Architecture**, by sequence index (`B` a block, `U` a 2× nearest upsample, convs
//! 3×3 with padding 1, 64 channels):
//!
//! ```text
//! 0 clamp (tanh(x/3)·3) · 1 conv(c→64) · 2 ReLU · 3–5 B · 6 U · 7 conv (no bias)
//! 8–10 B · 11 U · 12 conv (no bias) · 13–15 B · 16 U · 17 conv (no bias) · 18 B · 19 conv(64→3)
//! ```
//!
//! A block is `ReLU(conv·ReLU·conv·ReLU·conv (x) + x)` with its convs at `conv.0`,
//! `conv.2` and `conv.4`; its skip is the identity (64 in, 64 out), so it has no
//! weights. [`decoder_tensor_shapes`] lists every tensor; the loader and the test-file
//! writer in [`crate::make_model`] both go by it.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Conv2d, Conv2dConfig};

use crate::error::{EngineError, Result};
use crate::weights::SafetensorsFile;

/// Channels inside the decoder.
const WIDTH: usize = 64;
/// SD 1.x, 2.x and XL latents.
pub const LATENT_CHANNELS: usize = 4;
/// Where diffusers' export puts the sequence.
const DIFFUSERS_PREFIX: &str = "decoder.layers.";

/// One step of the sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layer {
    Clamp,
    Conv {
        index: usize,
        c_in: usize,
        c_out: usize,
        bias: bool,
    },
    Relu,
    Block(usize),
    Upsample,
}

/// The decoder's sequence for `latent_channels`; a layer's index is its position.
fn layers(latent_channels: usize) -> Vec<Layer> {
    fn conv(seq: &[Layer], c_in: usize, c_out: usize, bias: bool) -> Layer {
        Layer::Conv {
            index: seq.len(),
            c_in,
            c_out,
            bias,
        }
    }
    let mut seq = vec![Layer::Clamp];
    seq.push(conv(&seq, latent_channels, WIDTH, true));
    seq.push(Layer::Relu);
    for _ in 0..3 {
        for _ in 0..3 {
            seq.push(Layer::Block(seq.len()));
        }
        seq.push(Layer::Upsample);
        seq.push(conv(&seq, WIDTH, WIDTH, false));
    }
    seq.push(Layer::Block(seq.len()));
    seq.push(conv(&seq, WIDTH, 3, true));
    seq
}

/// Every tensor of a decoder for `latent_channels`, by its name in madebyollin's
/// layout, with its shape, in sequence order.
pub fn decoder_tensor_shapes(latent_channels: usize) -> Vec<(String, Vec<usize>)> {
    let conv = |out: &mut Vec<(String, Vec<usize>)>, name: String, c_in, c_out, bias| {
        out.push((format!("{name}.weight"), vec![c_out, c_in, 3, 3]));
        if bias {
            out.push((format!("{name}.bias"), vec![c_out]));
        }
    };
    let mut out = Vec::new();
    for layer in layers(latent_channels) {
        match layer {
            Layer::Conv {
                index,
                c_in,
                c_out,
                bias,
            } => conv(&mut out, index.to_string(), c_in, c_out, bias),
            Layer::Block(index) => {
                for k in [0, 2, 4] {
                    conv(&mut out, format!("{index}.conv.{k}"), WIDTH, WIDTH, true);
                }
            }
            Layer::Clamp | Layer::Relu | Layer::Upsample => {}
        }
    }
    out
}

/// A layer with its weights.
enum Step {
    Clamp,
    Conv(Conv2d),
    Relu,
    Block([Conv2d; 3]),
    Upsample,
}

/// A loaded TAESD decoder; see the module documentation for what it takes and gives.
pub struct TaesdDecoder {
    steps: Vec<Step>,
    latent_channels: usize,
    device: Device,
    path: PathBuf,
}

impl std::fmt::Debug for TaesdDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaesdDecoder")
            .field("path", &self.path)
            .field("latent_channels", &self.latent_channels)
            .finish_non_exhaustive()
    }
}

impl TaesdDecoder {
    /// Reads a decoder from `path` onto `device`, computing in f32 whatever the file
    /// stores (the network is small; half precision would only cost accuracy on a
    /// CPU, where candle converts it anyway). Every tensor's presence and shape is
    /// checked, so a wrong file fails here, naming itself and what is wrong, and never
    /// mid-decode.
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        let file = SafetensorsFile::open(path)?;
        let bad = |reason: String| EngineError::Taesd {
            path: path.to_path_buf(),
            reason,
        };
        let prefix = if file.contains("1.weight") {
            ""
        } else if file.contains(&format!("{DIFFUSERS_PREFIX}1.weight")) {
            DIFFUSERS_PREFIX
        } else if file.contains("0.weight") || file.contains("encoder.layers.0.weight") {
            return Err(bad(
                "it holds a TAESD encoder; previews need the decoder (taesd_decoder.safetensors)"
                    .into(),
            ));
        } else {
            return Err(bad(format!(
                "it has no '1.weight' (madebyollin's layout) or '{DIFFUSERS_PREFIX}1.weight' \
                 (diffusers'); it is not a TAESD decoder"
            )));
        };
        // The first convolution's input channels say which latent space it decodes.
        let latent_channels = match file.shape(&format!("{prefix}1.weight")).as_deref() {
            Some([WIDTH, c, 3, 3]) => *c,
            other => {
                return Err(bad(format!(
                    "'{prefix}1.weight' has shape {other:?}; a TAESD decoder's first \
                     convolution is [64, latent channels, 3, 3]"
                )))
            }
        };
        let tensor = |name: &str, shape: &[usize]| -> Result<Tensor> {
            let full = format!("{prefix}{name}");
            match file.shape(&full) {
                None => Err(bad(format!(
                    "tensor '{full}' is missing; the file is incomplete or another network"
                ))),
                Some(found) if found != shape => Err(bad(format!(
                    "tensor '{full}' has shape {found:?} where a TAESD decoder for \
                     {latent_channels}-channel latents has {shape:?}"
                ))),
                Some(_) => Ok(file
                    .tensor(&full)?
                    .to_dtype(DType::F32)?
                    .to_device(device)?),
            }
        };
        let padded = Conv2dConfig {
            padding: 1,
            ..Default::default()
        };
        let conv = |name: &str, c_in: usize, c_out: usize, bias: bool| -> Result<Conv2d> {
            let weight = tensor(&format!("{name}.weight"), &[c_out, c_in, 3, 3])?;
            let bias = if bias {
                Some(tensor(&format!("{name}.bias"), &[c_out])?)
            } else {
                None
            };
            Ok(Conv2d::new(weight, bias, padded))
        };
        let mut steps = Vec::new();
        for layer in layers(latent_channels) {
            steps.push(match layer {
                Layer::Clamp => Step::Clamp,
                Layer::Relu => Step::Relu,
                Layer::Upsample => Step::Upsample,
                Layer::Conv {
                    index,
                    c_in,
                    c_out,
                    bias,
                } => Step::Conv(conv(&index.to_string(), c_in, c_out, bias)?),
                Layer::Block(index) => {
                    let c = |k: usize| conv(&format!("{index}.conv.{k}"), WIDTH, WIDTH, true);
                    Step::Block([c(0)?, c(2)?, c(4)?])
                }
            });
        }
        Ok(Self {
            steps,
            latent_channels,
            device: device.clone(),
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn latent_channels(&self) -> usize {
        self.latent_channels
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Decodes a `[batch, c, h, w]` latent (or `[c, h, w]`, taken as a batch of one) to
    /// `[batch, 3, 8·h, 8·w]` f32 in `[0, 1]`, on the decoder's device.
    pub fn decode(&self, latent: &Tensor) -> Result<Tensor> {
        let latent = match latent.rank() {
            3 => latent.unsqueeze(0)?,
            _ => latent.clone(),
        };
        let (_, c, _, _) = latent.dims4()?;
        if c != self.latent_channels {
            return Err(EngineError::Image(format!(
                "{} decodes {}-channel latents, got {c} channels",
                self.path.display(),
                self.latent_channels
            )));
        }
        let mut x = latent.to_device(&self.device)?.to_dtype(DType::F32)?;
        for step in &self.steps {
            x = match step {
                // Soft-limits the latent to ±3, as the network was trained.
                Step::Clamp => ((x / 3.0)?.tanh()? * 3.0)?,
                Step::Conv(conv) => conv.forward(&x)?,
                Step::Relu => x.relu()?,
                Step::Upsample => {
                    let (_, _, h, w) = x.dims4()?;
                    x.upsample_nearest2d(2 * h, 2 * w)?
                }
                Step::Block([a, b, c]) => {
                    let y = c.forward(&b.forward(&a.forward(&x)?.relu()?)?.relu()?)?;
                    (y + &x)?.relu()?
                }
            };
        }
        Ok(x.clamp(0f32, 1f32)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_reference_sequence() {
        let shapes = decoder_tensor_shapes(4);
        let names: Vec<&str> = shapes.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            &names[..4],
            ["1.weight", "1.bias", "3.conv.0.weight", "3.conv.0.bias"]
        );
        for n in [
            "7.weight",
            "12.weight",
            "17.weight",
            "18.conv.4.bias",
            "19.bias",
        ] {
            assert!(names.contains(&n), "{n}");
        }
        // The convolutions after each upsample carry no bias.
        for n in ["7.bias", "12.bias", "17.bias", "3.skip.weight"] {
            assert!(!names.contains(&n), "{n}");
        }
        assert_eq!(shapes.last().unwrap().1, vec![3]);
        // Weights: the first conv, 10 blocks of 3, 3 after upsamples, the last; biases the same
        // but for the 3.
        assert_eq!(names.len(), 35 + 32);
    }
}
