//! Loading a Stable Diffusion model from either layout users have on disk:
//!
//! - a diffusers folder (`model_index.json`, `unet/`, `vae/`, `text_encoder/`,
//!   `tokenizer/`, `scheduler/`), whose `config.json` files give what weights cannot
//!   (attention heads, prediction type);
//! - an A1111 single-file `.safetensors` checkpoint in the LDM layout, read through
//!   [`crate::ldm_names`]; its tokenizer is the built-in CLIP one.
//!
//! The architecture is read from the tensors; file names never decide anything.
//!
//! Both run on candle. A diffusers ONNX folder (`unet/model.onnx`) loads on ONNX Runtime
//! instead ([`crate::onnx::sd`]), unless [`LoadOptions::backend`] pins another backend;
//! either way the result is the same [`SdModel`], its networks behind [`crate::parts`].

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::{DType, Device};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::arch::{
    infer_clip, infer_unet, infer_vae, Family, HeadRule, ModelArch, Prediction, UnetConditioning,
};
use crate::clip::{ClipActivation, ClipTextEncoder};
use crate::error::{EngineError, Result};
use crate::ldm_names::{UnetLayout, OPENCLIP_PREFIX, UNET_PREFIX, VAE_PREFIX};
use crate::onnx::RuntimeOptions;
use crate::parts::{Backend, Denoiser, LatentCodec, TextEncoder};
use crate::tokenizer::ClipTokenizer;
use crate::unet::{AttentionSlicing, Unet, UnetOptions};
use crate::vae::Vae;
use crate::weights::{Naming, Patched, Recording, SafetensorsFile, TensorMap, Weights};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Diffusers,
    SingleFile,
}

/// How to load: precision and device.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub dtype: DType,
    pub device: Device,
    /// The AutoV2 hash when a cache already knows it (hashing a checkpoint reads it all).
    pub known_hash: Option<String>,
    /// How much attention score memory the UNet holds at once.
    pub attention: AttentionSlicing,
    /// `None`: ONNX Runtime for a diffusers ONNX folder, candle for everything else.
    pub backend: Option<Backend>,
    /// Where ONNX Runtime is and how it runs, for models on that backend.
    pub onnx: RuntimeOptions,
}

impl LoadOptions {
    /// f32 on the CPU: measured faster than f16 there (see docs/PERFORMANCE.md), and
    /// candle has no bf16 matrix multiply on the CPU.
    pub fn cpu() -> Self {
        Self {
            dtype: DType::F32,
            device: Device::Cpu,
            known_hash: None,
            attention: AttentionSlicing::DEFAULT,
            backend: None,
            onnx: RuntimeOptions::default(),
        }
    }
}

/// How a service loads its models beyond precision: where ONNX Runtime is, and which
/// models are pinned to a backend (by any name the service matches models by).
#[derive(Debug, Clone, Default)]
pub struct BackendSettings {
    pub onnx: RuntimeOptions,
    pub pins: std::collections::BTreeMap<String, Backend>,
}

/// A loaded model. Its parts are shared, so a clone is cheap; [`SdModel::patched`]
/// makes a copy with some weights replaced.
#[derive(Clone)]
pub struct SdModel {
    pub arch: ModelArch,
    pub layout: Layout,
    /// Which library runs the networks below.
    pub backend: Backend,
    pub tokenizer: Arc<ClipTokenizer>,
    pub text_encoder: Arc<dyn TextEncoder>,
    pub unet: Arc<dyn Denoiser>,
    pub vae: Arc<dyn LatentCodec>,
    /// The tensors the text encoder and UNet were built from, by the names their code
    /// asks for (diffusers names): what LoRAs patch. Empty on ONNX Runtime.
    pub text_encoder_weights: Arc<TensorMap>,
    pub unet_weights: Arc<TensorMap>,
    /// What infotext calls the model: the file stem or the folder name.
    pub name: String,
    /// A1111's AutoV2 hash: the first 10 hex digits of the sha256 of the checkpoint file
    /// (of the UNet weights for a diffusers folder).
    pub hash: String,
    pub options: LoadOptions,
}

impl SdModel {
    pub fn load(path: &Path, options: &LoadOptions) -> Result<Self> {
        if options.dtype == DType::BF16 && options.device.is_cpu() {
            return Err(EngineError::InvalidRequest(
                "bf16 cannot run on the CPU: candle has no bf16 matrix multiply there. Use f32 (the CPU default) or f16, or bf16 with a CUDA or Metal build".into(),
            ));
        }
        let meta = std::fs::metadata(path).map_err(|e| EngineError::io(path, e))?;
        if Backend::for_model(path, options.backend) == Backend::Onnx {
            return Self::load_onnx(path, options);
        }
        if meta.is_dir() {
            Self::load_diffusers(path, options)
        } else {
            Self::load_single_file(path, options)
        }
    }

    fn load_single_file(path: &Path, options: &LoadOptions) -> Result<Self> {
        let file = Arc::new(SafetensorsFile::open(path)?);
        let family = if file.contains(&format!("{OPENCLIP_PREFIX}token_embedding.weight")) {
            Family::Sd2
        } else if file
            .contains("cond_stage_model.transformer.text_model.embeddings.token_embedding.weight")
            || file.contains("cond_stage_model.transformer.embeddings.token_embedding.weight")
        {
            Family::Sd1
        } else if file
            .names()
            .iter()
            .any(|n| n.starts_with("conditioner.embedders."))
        {
            return Err(EngineError::Architecture(
                "this is an SDXL checkpoint; RA runs SD 1.x and 2.x models so far".into(),
            ));
        } else {
            return Err(EngineError::Architecture(format!(
                "{} has no text encoder weights (cond_stage_model.*); it is not a complete SD 1.x/2.x checkpoint",
                path.display()
            )));
        };
        let unet_layout = ldm_unet_layout(&file)?;
        let vae_levels = (0..)
            .take_while(|i| {
                file.contains(&format!(
                    "{VAE_PREFIX}encoder.down.{i}.block.0.conv1.weight"
                ))
            })
            .count();
        let clip_naming = match family {
            Family::Sd1 => Naming::LdmClip,
            Family::Sd2 => Naming::LdmOpenClip,
        };
        let unet_w = Weights::new(file.clone(), Naming::LdmUnet(unet_layout));
        let unet = infer_unet(&unet_w, &HeadRule::for_family(family))?;
        let prediction = file
            .metadata
            .get("modelspec.prediction_type")
            .and_then(|p| Prediction::parse(p))
            .or_else(|| sidecar_prediction(path))
            .unwrap_or(match (family, unet.conditioning()) {
                (Family::Sd1, _) => Prediction::Epsilon,
                // Most SD 2.x single files in use are the 768 v-prediction release; SD 2's
                // depth and inpainting releases (512-depth-ema, 512-inpainting-ema) are
                // 512 epsilon models and carry no metadata saying so.
                (Family::Sd2, UnetConditioning::Plain) => Prediction::V,
                (Family::Sd2, _) => Prediction::Epsilon,
            });
        let vae_w = Weights::new(file.clone(), Naming::LdmVae { levels: vae_levels });
        let clip_w = Weights::new(file.clone(), clip_naming);
        // SD 2.x reads OpenCLIP's penultimate layer: its last layer is never run.
        let max_layers = match family {
            Family::Sd1 => None,
            Family::Sd2 => Some(
                (0..)
                    .take_while(|i| {
                        clip_w.contains(&format!("text_model.encoder.layers.{i}.mlp.fc1.weight"))
                    })
                    .count()
                    .saturating_sub(1),
            ),
        };
        let arch = ModelArch {
            family,
            prediction,
            clip: infer_clip(&clip_w, family, max_layers)?,
            unet,
            vae: infer_vae(&vae_w)?,
        };
        let tokenizer = ClipTokenizer::builtin()?;
        let name = stem(path);
        Self::build(
            arch,
            Layout::SingleFile,
            tokenizer,
            [clip_w, unet_w, vae_w],
            name,
            known_or_hash(options, path)?,
            options,
        )
    }

    fn load_diffusers(dir: &Path, options: &LoadOptions) -> Result<Self> {
        if !dir.join("model_index.json").is_file() && !dir.join("unet").is_dir() {
            return Err(EngineError::UnknownFormat {
                path: dir.to_path_buf(),
                reason: "a folder model must be a diffusers folder with model_index.json, unet/, vae/, text_encoder/ and tokenizer/".into(),
            });
        }
        let open = |component: &str, stems: &[&str]| -> Result<Weights> {
            let file = component_file(dir, component, stems)?;
            Ok(Weights::new(
                Arc::new(SafetensorsFile::open(&file)?),
                Naming::Diffusers,
            ))
        };
        let unet_w = open("unet", &["diffusion_pytorch_model"])?;
        let vae_w = open("vae", &["diffusion_pytorch_model"])?;
        let clip_w = open("text_encoder", &["model"])?;
        let text_cfg = read_config(&dir.join("text_encoder/config.json"))?;
        let unet_cfg = read_config(&dir.join("unet/config.json"))?;
        let sched_cfg = read_config(&dir.join("scheduler/scheduler_config.json"))?;
        // Without a config, OpenCLIP's 1024-wide embeddings mark SD 2.x.
        let wide = clip_w
            .shape("text_model.embeddings.token_embedding.weight")
            .or_else(|| clip_w.shape("embeddings.token_embedding.weight"))
            .is_some_and(|s| s.get(1) == Some(&1024));
        let activation = text_cfg
            .get("hidden_act")
            .and_then(Value::as_str)
            .and_then(ClipActivation::parse)
            .unwrap_or(if wide {
                ClipActivation::Gelu
            } else {
                ClipActivation::QuickGelu
            });
        let family = match activation {
            ClipActivation::QuickGelu => Family::Sd1,
            ClipActivation::Gelu => Family::Sd2,
        };
        let heads = match unet_cfg.get("attention_head_dim") {
            Some(Value::Number(n)) => HeadRule::Fixed(n.as_u64().unwrap_or(8) as usize),
            Some(Value::Array(v)) => HeadRule::PerBlock(
                v.iter()
                    .filter_map(Value::as_u64)
                    .map(|n| n as usize)
                    .collect(),
            ),
            _ => HeadRule::for_family(family),
        };
        let prediction = sched_cfg
            .get("prediction_type")
            .and_then(Value::as_str)
            .and_then(Prediction::parse)
            .unwrap_or(Prediction::Epsilon);
        let mut clip = infer_clip(&clip_w, family, None)?;
        if let Some(h) = text_cfg.get("num_attention_heads").and_then(Value::as_u64) {
            let h = h as usize;
            if h == 0 || clip.embed_dim % h != 0 {
                return Err(EngineError::Architecture(format!(
                    "text_encoder/config.json: {h} attention heads cannot split width {}",
                    clip.embed_dim
                )));
            }
            clip.heads = h;
        }
        clip.activation = activation;
        let arch = ModelArch {
            family,
            prediction,
            clip,
            unet: infer_unet(&unet_w, &heads)?,
            vae: infer_vae(&vae_w)?,
        };
        let tokenizer = ClipTokenizer::from_dir(&dir.join("tokenizer"))?;
        let hash = known_or_hash(options, &unet_w.file().path)?;
        let name = stem(dir);
        Self::build(
            arch,
            Layout::Diffusers,
            tokenizer,
            [clip_w, unet_w, vae_w],
            name,
            hash,
            options,
        )
    }

    fn build(
        arch: ModelArch,
        layout: Layout,
        tokenizer: ClipTokenizer,
        [clip_w, unet_w, vae_w]: [Weights; 3],
        name: String,
        hash: String,
        options: &LoadOptions,
    ) -> Result<Self> {
        let (dt, dev) = (options.dtype, &options.device);
        let (text_encoder, text_encoder_weights) = Recording::new(clip_w)
            .build(dt, dev, |vb| Ok(ClipTextEncoder::new(vb, &arch.clip)?))?;
        let (unet, unet_weights) =
            Recording::new(unet_w).build(dt, dev, |vb| build_unet(vb, &arch, options))?;
        let vae = Vae::new(vae_w.into_var_builder(dt, dev), &arch.vae)?;
        Ok(Self {
            arch,
            layout,
            backend: Backend::Candle,
            tokenizer: Arc::new(tokenizer),
            text_encoder: Arc::new(text_encoder),
            unet: Arc::new(unet),
            vae: Arc::new(vae),
            text_encoder_weights: Arc::new(text_encoder_weights),
            unet_weights: Arc::new(unet_weights),
            name,
            hash,
            options: options.clone(),
        })
    }
}

fn build_unet(vb: candle_nn::VarBuilder, arch: &ModelArch, options: &LoadOptions) -> Result<Unet> {
    let unet_options = UnetOptions {
        slicing: options.attention,
        ..Default::default()
    };
    Ok(Unet::new(vb, &arch.unet, unet_options)?)
}

impl SdModel {
    /// A copy whose text encoder and UNet have some weights replaced (by name, as in
    /// [`Self::unet_weights`]); everything else is shared with this model, which is
    /// left exactly as it was.
    pub fn patched(&self, text_encoder: TensorMap, unet: TensorMap) -> Result<Self> {
        if self.backend != Backend::Candle && !(text_encoder.is_empty() && unet.is_empty()) {
            return Err(EngineError::InvalidRequest(format!(
                "LoRAs need the candle backend: {} runs on {}, whose graphs do not expose their weights (pin the model to candle, or drop <lora:…> from the prompt)",
                self.name,
                self.backend.as_str()
            )));
        }
        let (dt, dev) = (self.options.dtype, &self.options.device);
        let mut out = self.clone();
        if !text_encoder.is_empty() {
            let backend = Patched {
                base: Arc::clone(&self.text_encoder_weights),
                patches: text_encoder,
            };
            let vb = candle_nn::VarBuilder::from_backend(Box::new(backend), dt, dev.clone());
            out.text_encoder = Arc::new(ClipTextEncoder::new(vb, &self.arch.clip)?);
        }
        if !unet.is_empty() {
            let backend = Patched {
                base: Arc::clone(&self.unet_weights),
                patches: unet,
            };
            let vb = candle_nn::VarBuilder::from_backend(Box::new(backend), dt, dev.clone());
            out.unet = Arc::new(build_unet(vb, &self.arch, &self.options)?);
        }
        Ok(out)
    }
}

impl SdModel {
    /// This model with the VAE from a separate file (A1111's "SD VAE" setting): a
    /// standalone `.safetensors` VAE in the LDM layout (`encoder.down.0…`), or in the
    /// diffusers layout, or a whole checkpoint whose VAE is wanted. Returns the model
    /// and the VAE file's AutoV2 hash for the infotext.
    pub fn with_vae(&self, path: &Path) -> Result<(Self, String)> {
        let file = Arc::new(SafetensorsFile::open(path)?);
        let levels = |prefix: &str| {
            (0..)
                .take_while(|i| {
                    file.contains(&format!("{prefix}encoder.down.{i}.block.0.conv1.weight"))
                })
                .count()
        };
        let naming = if file.contains("encoder.down_blocks.0.resnets.0.conv1.weight") {
            Naming::Diffusers
        } else if levels("") > 0 {
            Naming::LdmVaeAlone { levels: levels("") }
        } else if levels(VAE_PREFIX) > 0 {
            Naming::LdmVae {
                levels: levels(VAE_PREFIX),
            }
        } else {
            return Err(EngineError::Architecture(format!(
                "{} holds no VAE (no encoder.down.* or encoder.down_blocks.* weights)",
                path.display()
            )));
        };
        let w = Weights::new(file, naming);
        let config = infer_vae(&w)?;
        if config.latent_channels != self.arch.vae.latent_channels {
            return Err(EngineError::Architecture(format!(
                "the VAE in {} makes {}-channel latents; this model uses {}",
                path.display(),
                config.latent_channels,
                self.arch.vae.latent_channels
            )));
        }
        let vae = Vae::new(
            w.into_var_builder(self.options.dtype, &self.options.device),
            &config,
        )?;
        let mut out = self.clone();
        out.vae = Arc::new(vae);
        out.arch.vae = config;
        Ok((out, autov2(path)?))
    }
}

/// The block structure of an LDM UNet, needed to map its sequential block indices.
fn ldm_unet_layout(file: &SafetensorsFile) -> Result<UnetLayout> {
    let has = |s: String| file.contains(&format!("{UNET_PREFIX}{s}"));
    if !has("input_blocks.0.0.weight".into()) {
        return Err(EngineError::MissingWeight {
            name: format!("{UNET_PREFIX}input_blocks.0.0.weight"),
            detail: Some("no UNet in this file".into()),
        });
    }
    let first_down = (1..64)
        .find(|k| has(format!("input_blocks.{k}.0.op.weight")))
        .ok_or_else(|| EngineError::Architecture("the UNet has no downsampling blocks".into()))?;
    let layers_per_block = first_down - 1;
    let per = layers_per_block + 1;
    let levels = (1..)
        .take_while(|l| has(format!("input_blocks.{}.0.op.weight", l * per)))
        .count()
        + 1;
    let down_attn: Vec<bool> = (0..levels)
        .map(|i| has(format!("input_blocks.{}.1.proj_in.weight", 1 + i * per)))
        .collect();
    Ok(UnetLayout {
        layers_per_block,
        up_has_attention: down_attn.into_iter().rev().collect(),
    })
}

/// A component's weights file, preferring full precision, refusing pickles.
fn component_file(dir: &Path, component: &str, stems: &[&str]) -> Result<PathBuf> {
    let folder = dir.join(component);
    for stem in stems {
        for suffix in ["safetensors", "fp16.safetensors"] {
            let p = folder.join(format!("{stem}.{suffix}"));
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    for stem in stems {
        let p = folder.join(format!("{stem}.bin"));
        if p.is_file() {
            // Opening it sniffs the content and refuses the pickle with its reason.
            SafetensorsFile::open(&p)?;
            return Ok(p);
        }
    }
    Err(EngineError::MissingWeight {
        name: format!("{component}/{}.safetensors", stems[0]),
        detail: Some(format!("not found in {}", dir.display())),
    })
}

/// A1111's convention: `model.yaml` beside `model.safetensors`, whose
/// `parameterization: "v"` marks a v-prediction model.
fn sidecar_prediction(path: &Path) -> Option<Prediction> {
    let text = std::fs::read_to_string(path.with_extension("yaml")).ok()?;
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("parameterization:"))?;
    let value = line.split_once(':')?.1.trim().trim_matches(['"', '\'']);
    Some(if value == "v" {
        Prediction::V
    } else {
        Prediction::Epsilon
    })
}

fn read_config(path: &Path) -> Result<Value> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| EngineError::UnknownFormat {
            path: path.to_path_buf(),
            reason: format!("invalid JSON: {e}"),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Value::Null),
        Err(e) => Err(EngineError::io(path, e)),
    }
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .or_else(|| path.file_name())
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".to_string())
}

fn known_or_hash(options: &LoadOptions, path: &Path) -> Result<String> {
    match &options.known_hash {
        Some(h) => Ok(h.chars().take(10).collect()),
        None => autov2(path),
    }
}

/// The sha256 of a file, as lowercase hex.
pub fn sha256_hex(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(|e| EngineError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| EngineError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// A1111's AutoV2 hash of a file: the first 10 hex digits of its sha256.
pub fn autov2(path: &Path) -> Result<String> {
    Ok(sha256_hex(path)?[..10].to_string())
}

impl SdModel {
    /// The UNet's native resolution: 768 for SD 2.x v-prediction, 512 otherwise.
    pub fn default_size(&self) -> u32 {
        match (self.arch.family, self.arch.prediction) {
            (Family::Sd2, Prediction::V) => 768,
            _ => 512,
        }
    }
}
