//! Stable Diffusion on ONNX Runtime: a diffusers ONNX folder loaded as an [`SdModel`]
//! whose networks implement the [`crate::parts`] traits, so the pipeline runs on it
//! unchanged.
//!
//! The folder (what diffusers' ONNX exporter and `ra-daemon dev make-model --layout
//! onnx` write): `model_index.json`, `text_encoder/model.onnx`, `unet/model.onnx`,
//! `vae_decoder/model.onnx`, `vae_encoder/model.onnx` (optional: img2img and
//! inpainting need it), `tokenizer/`, and the `config.json` files beside the graphs
//! (`scheduler/scheduler_config.json` for the prediction type). What the configs do not
//! say is read off the graphs' inputs where it can be, else SD 1.5's values are assumed.
//!
//! Limits, each refused with a message: textual-inversion embeddings and clip skip need
//! the text encoder's inner layers, and LoRAs its weights, which a graph does not expose.

use std::path::Path;
use std::sync::Arc;

use candle_core::{Device, Tensor};
use serde_json::Value;

use super::runtime::{Runtime, RuntimeOptions};
use super::session::{as_candle, OnnxGraph};
use crate::arch::{Family, ModelArch, Prediction};
use crate::clip::{ClipActivation, ClipConfig};
use crate::error::{EngineError, Result};
use crate::model::{autov2, Layout, LoadOptions, SdModel};
use crate::parts::{Backend, Denoiser, LatentCodec, TextEncoder};
use crate::tokenizer::ClipTokenizer;
use crate::unet::{BlockConfig, Structure, UnetConfig};
use crate::vae::{tiles, VaeConfig, VaeTiling};

/// Whether `dir` holds an SD model in the diffusers ONNX layout.
pub fn is_onnx_folder(dir: &Path) -> bool {
    dir.join("unet/model.onnx").is_file()
}

pub struct OnnxTextEncoder {
    graph: OnnxGraph,
    output: Option<String>,
}

impl TextEncoder for OnnxTextEncoder {
    fn forward_with(
        &self,
        ids: &Tensor,
        fixes: &[(usize, &Tensor)],
        clip_skip: usize,
    ) -> candle_core::Result<Tensor> {
        if !fixes.is_empty() {
            return Err(candle_core::Error::Msg(
                "textual-inversion embeddings need the candle backend: an ONNX text encoder takes token ids only (pin this model to candle, or drop the embedding from the prompt)".into(),
            ));
        }
        if clip_skip > 1 {
            return Err(candle_core::Error::Msg(
                "clip skip needs the candle backend: an ONNX text encoder gives its last layer only".into(),
            ));
        }
        self.graph
            .run(&[("input_ids", ids)], self.output.as_deref())
            .map_err(as_candle)
    }
}

pub struct OnnxUnet {
    graph: OnnxGraph,
    /// The `timestep` input's rank: 0 (a scalar) or 1 (`[1]` or `[batch]`).
    timestep_rank: usize,
    timestep_len_one: bool,
}

impl Denoiser for OnnxUnet {
    fn forward(&self, xs: &Tensor, timestep: f64, context: &Tensor) -> candle_core::Result<Tensor> {
        let batch = xs.dim(0)?;
        let t = match (self.timestep_rank, self.timestep_len_one) {
            (0, _) => Tensor::new(timestep as f32, &Device::Cpu)?,
            (_, true) => Tensor::new(&[timestep as f32], &Device::Cpu)?,
            _ => Tensor::from_vec(vec![timestep as f32; batch], batch, &Device::Cpu)?,
        };
        let out = self
            .graph
            .run(
                &[
                    ("sample", xs),
                    ("timestep", &t),
                    ("encoder_hidden_states", context),
                ],
                None,
            )
            .map_err(as_candle)?;
        out.to_device(xs.device())?.to_dtype(xs.dtype())
    }
}

pub struct OnnxVae {
    decoder: OnnxGraph,
    encoder: Option<OnnxGraph>,
    config: VaeConfig,
    tiling: Option<VaeTiling>,
}

impl OnnxVae {
    fn decode_whole(&self, latent: &Tensor) -> candle_core::Result<Tensor> {
        self.decoder
            .run(&[("latent_sample", latent)], None)
            .map_err(as_candle)
    }

    fn encode_whole(&self, image: &Tensor) -> candle_core::Result<Tensor> {
        let Some(encoder) = &self.encoder else {
            return Err(candle_core::Error::Msg(
                "this ONNX model has no vae_encoder/model.onnx; img2img and inpainting need one"
                    .into(),
            ));
        };
        let out = encoder.run(&[("sample", image)], None).map_err(as_candle)?;
        // Exports that return the moments (mean and log-variance) give twice the channels.
        let l = self.config.latent_channels;
        let out = if out.dim(1)? > l {
            out.narrow(1, 0, l)?
        } else {
            out
        };
        out * self.config.scaling_factor
    }
}

/// Tiled exactly as the candle VAE tiles ([`crate::vae::Vae`]), so that both backends
/// agree on large images too.
impl LatentCodec for OnnxVae {
    fn encode(&self, image: &Tensor) -> candle_core::Result<Tensor> {
        let (dev, dtype) = (image.device().clone(), image.dtype());
        let f = self.config.downscale();
        let (_, _, h, w) = image.dims4()?;
        let out = match self.tiling.filter(|t| t.applies(h / f, w / f)) {
            Some(t) if h % f == 0 && w % f == 0 => {
                tiles::run(image, &t, f, 1, |x| self.encode_whole(x))?
            }
            _ => self.encode_whole(image)?,
        };
        out.to_device(&dev)?.to_dtype(dtype)
    }

    fn decode(&self, latent: &Tensor) -> candle_core::Result<Tensor> {
        let (dev, dtype) = (latent.device().clone(), latent.dtype());
        let unscaled = (latent / self.config.scaling_factor)?;
        let (_, _, h, w) = latent.dims4()?;
        let out = match self.tiling.filter(|t| t.applies(h, w)) {
            Some(t) => tiles::run(&unscaled, &t, 1, self.config.downscale(), |x| {
                self.decode_whole(x)
            })?,
            None => self.decode_whole(&unscaled)?,
        };
        out.to_device(&dev)?.to_dtype(dtype)
    }
}

fn read_json(path: &Path) -> Result<Value> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| EngineError::UnknownFormat {
            path: path.to_path_buf(),
            reason: format!("invalid JSON: {e}"),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Value::Null),
        Err(e) => Err(EngineError::io(path, e)),
    }
}

fn usize_of(v: &Value, key: &str) -> Option<usize> {
    v.get(key).and_then(Value::as_u64).map(|n| n as usize)
}

fn usizes_of(v: &Value, key: &str) -> Option<Vec<usize>> {
    v.get(key)?
        .as_array()?
        .iter()
        .map(|x| x.as_u64().map(|n| n as usize))
        .collect()
}

/// The UNet's structure from its config; the channels from the graph when it fixes them.
fn unet_config(cfg: &Value, graph: &OnnxGraph) -> UnetConfig {
    let mut u = UnetConfig::sd15();
    if let Some(channels) = usizes_of(cfg, "block_out_channels") {
        let cross: Vec<bool> = cfg
            .get("down_block_types")
            .and_then(Value::as_array)
            .map(|v| {
                v.iter()
                    .map(|t| t.as_str().is_some_and(|s| s.contains("CrossAttn")))
                    .collect()
            })
            .unwrap_or_else(|| vec![true; channels.len()]);
        let heads = usize_of(cfg, "attention_head_dim").unwrap_or(8);
        let blocks = channels
            .iter()
            .enumerate()
            .map(|(i, &c)| BlockConfig {
                out_channels: c,
                use_cross_attn: cross.get(i).copied().unwrap_or(true).then_some(1),
                heads,
            })
            .collect();
        u.inner = Structure::sd(
            blocks,
            usize_of(cfg, "layers_per_block").unwrap_or(2),
            usize_of(cfg, "cross_attention_dim").unwrap_or(768),
            cfg.get("use_linear_projection")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        );
    }
    let declared = graph
        .input_shape("sample")
        .and_then(|s| s.get(1).copied())
        .filter(|&c| c > 0);
    u.in_channels = usize_of(cfg, "in_channels")
        .or(declared.map(|c| c as usize))
        .unwrap_or(4);
    u.out_channels = usize_of(cfg, "out_channels").unwrap_or(4);
    u
}

fn vae_config(cfg: &Value) -> VaeConfig {
    let mut v = VaeConfig::sd15();
    if let Some(c) = usizes_of(cfg, "block_out_channels") {
        v.block_out_channels = c;
    }
    if let Some(l) = usize_of(cfg, "layers_per_block") {
        v.layers_per_block = l;
    }
    if let Some(l) = usize_of(cfg, "latent_channels") {
        v.latent_channels = l;
    }
    if let Some(s) = cfg.get("scaling_factor").and_then(Value::as_f64) {
        v.scaling_factor = s;
    }
    v
}

fn clip_config(cfg: &Value) -> (Family, ClipConfig) {
    let width = usize_of(cfg, "hidden_size").unwrap_or(768);
    let act = cfg
        .get("hidden_act")
        .and_then(Value::as_str)
        .and_then(ClipActivation::parse)
        .unwrap_or(if width == 1024 {
            ClipActivation::Gelu
        } else {
            ClipActivation::QuickGelu
        });
    let (family, base) = match act {
        ClipActivation::QuickGelu => (Family::Sd1, ClipConfig::sd15()),
        ClipActivation::Gelu => (Family::Sd2, ClipConfig::sd21()),
    };
    let c = ClipConfig {
        embed_dim: width,
        activation: act,
        layers: usize_of(cfg, "num_hidden_layers").unwrap_or(base.layers),
        heads: usize_of(cfg, "num_attention_heads").unwrap_or(base.heads),
        intermediate_size: usize_of(cfg, "intermediate_size").unwrap_or(base.intermediate_size),
        ..base
    };
    (family, c)
}

impl SdModel {
    /// Loads a diffusers ONNX folder onto ONNX Runtime.
    pub fn load_onnx(dir: &Path, options: &LoadOptions) -> Result<Self> {
        if !is_onnx_folder(dir) {
            return Err(EngineError::UnknownFormat {
                path: dir.to_path_buf(),
                reason: "an ONNX model folder needs unet/model.onnx, text_encoder/model.onnx, vae_decoder/model.onnx and tokenizer/ (the diffusers ONNX layout)".into(),
            });
        }
        for part in ["text_encoder/model.onnx", "vae_decoder/model.onnx"] {
            if !dir.join(part).is_file() {
                return Err(EngineError::UnknownFormat {
                    path: dir.to_path_buf(),
                    reason: format!("{part} is missing; the folder is incomplete"),
                });
            }
        }
        let rt = Runtime::get(&options.onnx)?;
        let unet_graph = OnnxGraph::open(&rt, &dir.join("unet/model.onnx"))?;
        for input in ["sample", "timestep", "encoder_hidden_states"] {
            if !unet_graph.has_input(input) {
                return Err(EngineError::UnknownFormat {
                    path: dir.join("unet/model.onnx"),
                    reason: format!("the UNet graph has no '{input}' input (diffusers' ONNX UNet has sample, timestep and encoder_hidden_states)"),
                });
            }
        }
        let text_graph = OnnxGraph::open(&rt, &dir.join("text_encoder/model.onnx"))?;
        if !text_graph.has_input("input_ids") {
            return Err(EngineError::UnknownFormat {
                path: dir.join("text_encoder/model.onnx"),
                reason: "the text encoder graph has no 'input_ids' input".into(),
            });
        }
        let decoder = OnnxGraph::open(&rt, &dir.join("vae_decoder/model.onnx"))?;
        let encoder_path = dir.join("vae_encoder/model.onnx");
        let encoder = encoder_path
            .is_file()
            .then(|| OnnxGraph::open(&rt, &encoder_path))
            .transpose()?;

        let (family, mut clip) = clip_config(&read_json(&dir.join("text_encoder/config.json"))?);
        let tokenizer = ClipTokenizer::from_dir(&dir.join("tokenizer"))?;
        clip.pad_id = match family {
            Family::Sd1 => clip.pad_id,
            Family::Sd2 => 0,
        };
        let vae_cfg = {
            let d = read_json(&dir.join("vae_decoder/config.json"))?;
            if d.is_null() {
                read_json(&dir.join("vae/config.json"))?
            } else {
                d
            }
        };
        let prediction = read_json(&dir.join("scheduler/scheduler_config.json"))?
            .get("prediction_type")
            .and_then(Value::as_str)
            .and_then(Prediction::parse)
            .unwrap_or(Prediction::Epsilon);
        let unet = unet_config(&read_json(&dir.join("unet/config.json"))?, &unet_graph);
        let arch = ModelArch {
            family,
            prediction,
            clip,
            unet,
            vae: vae_config(&vae_cfg),
        };
        let output = text_graph
            .outputs
            .iter()
            .any(|(n, _)| n == "last_hidden_state")
            .then(|| "last_hidden_state".to_string());
        let timestep_shape = unet_graph.input_shape("timestep").unwrap_or(&[]).to_vec();
        let hash = match &options.known_hash {
            Some(h) => h.chars().take(10).collect(),
            None => autov2(&dir.join("unet/model.onnx"))?,
        };
        Ok(Self {
            tokenizer: Arc::new(tokenizer),
            text_encoder: Arc::new(OnnxTextEncoder {
                graph: text_graph,
                output,
            }),
            unet: Arc::new(OnnxUnet {
                graph: unet_graph,
                timestep_rank: timestep_shape.len(),
                timestep_len_one: timestep_shape == [1],
            }),
            vae: Arc::new(OnnxVae {
                decoder,
                encoder,
                config: arch.vae.clone(),
                tiling: Some(VaeTiling::DEFAULT),
            }),
            arch,
            layout: Layout::Diffusers,
            backend: Backend::Onnx,
            text_encoder_weights: Arc::default(),
            unet_weights: Arc::default(),
            name: dir
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "model".into()),
            hash,
            options: options.clone(),
        })
    }
}

/// The runtime options, re-exported for callers that only load models.
pub type OnnxOptions = RuntimeOptions;
