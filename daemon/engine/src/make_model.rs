//! Writes Stable Diffusion models with random weights in the real on-disk layouts, so
//! that tests and benchmarks run the real loading, sampling and decoding code without
//! downloading anything.
//!
//! Weights are drawn from a seeded counter-based generator per tensor name, so the same
//! preset and seed give the same bytes. Single files carry what published checkpoints
//! carry besides the model (DDPM buffers, EMA bookkeeping, CLIP's int64 `position_ids`)
//! so that loaders are exercised on them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder};
use serde_json::json;

use crate::arch::{Family, ModelArch, UnetConditioning};
use crate::clip::{ClipActivation, ClipTextEncoder};
use crate::error::{EngineError, Result};
use crate::ldm_names::{self, LdmSource, UnetLayout};
use crate::noise::SeedStream;
use crate::schedule::NoiseSchedule;
use crate::tokenizer::ClipTokenizer;
use crate::unet::Unet;
use crate::vae::Vae;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    Tiny,
    TinySd2,
    /// Tiny with a 9-channel UNet input, like SD's inpainting checkpoints.
    TinyInpaint,
    /// Tiny SD 2.x with a 5-channel UNet input (latent + depth) and epsilon prediction,
    /// like SD 2's `512-depth-ema`.
    TinyDepth,
    Sd15,
    Sd21,
}

impl Preset {
    pub fn arch(self) -> ModelArch {
        match self {
            Self::Tiny => ModelArch::tiny(),
            Self::TinySd2 => ModelArch::tiny_sd2(),
            Self::TinyInpaint => {
                let mut arch = ModelArch::tiny();
                arch.unet.in_channels = 9;
                arch
            }
            Self::TinyDepth => {
                let mut arch = ModelArch::tiny_sd2();
                arch.unet.in_channels = 5;
                arch.prediction = crate::arch::Prediction::Epsilon;
                arch
            }
            Self::Sd15 => ModelArch::sd15(),
            Self::Sd21 => ModelArch::sd21(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputLayout {
    Diffusers,
    SingleFile,
    /// The diffusers ONNX layout: the same weights as ONNX graphs
    /// ([`crate::onnx::export`]), always in f32.
    Onnx,
}

#[derive(Debug, Clone)]
pub struct MakeModel {
    pub preset: Preset,
    pub layout: OutputLayout,
    pub seed: u64,
    pub dtype: DType,
}

/// Hands out seeded random tensors as the model code asks for them, remembering each.
struct RandomInit {
    seed: u64,
    made: Arc<Mutex<BTreeMap<String, Tensor>>>,
}

type Made = Arc<Mutex<BTreeMap<String, Tensor>>>;

/// A var builder drawing seeded random weights, and the map that records them.
fn random_init(seed: u64, dtype: DType, dev: &Device) -> (VarBuilder<'static>, Made) {
    let made = Made::default();
    let init = RandomInit {
        seed,
        made: made.clone(),
    };
    (
        VarBuilder::from_backend(Box::new(init), dtype, dev.clone()),
        made,
    )
}

fn name_hash(name: &str) -> u32 {
    // FNV-1a: stable across builds, unlike std's hasher.
    name.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

impl SimpleBackend for RandomInit {
    fn get(
        &self,
        s: Shape,
        name: &str,
        h: Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let mut made = self
            .made
            .lock()
            .map_err(|_| candle_core::Error::Msg("poisoned".into()))?;
        if let Some(t) = made.get(name) {
            return Ok(t.clone());
        }
        let n = s.elem_count();
        let mut rng = SeedStream::substream(self.seed, name_hash(name));
        let fan_in = s.dims().iter().skip(1).product::<usize>().max(1) as f64;
        let values: Vec<f32> = match h {
            Init::Const(v) => vec![v as f32; n],
            Init::Uniform { lo, up } => rng
                .uniforms(n)
                .iter()
                .map(|u| (lo + (up - lo) * u) as f32)
                .collect(),
            Init::Randn { mean, stdev } => rng
                .normals(n)
                .iter()
                .map(|z| (mean + stdev * f64::from(*z)) as f32)
                .collect(),
            // Variance 1/fan_in keeps activations of a deep random network bounded.
            Init::Kaiming { .. } => {
                let std = fan_in.powf(-0.5);
                rng.normals(n)
                    .iter()
                    .map(|z| (f64::from(*z) * std) as f32)
                    .collect()
            }
        };
        let t = Tensor::from_vec(values, s, dev)?.to_dtype(dtype)?;
        made.insert(name.to_string(), t.clone());
        Ok(t)
    }

    fn get_unchecked(&self, name: &str, _: DType, _: &Device) -> candle_core::Result<Tensor> {
        Err(candle_core::Error::Msg(format!(
            "{name} has no shape to draw from"
        )))
    }

    fn contains_tensor(&self, _: &str) -> bool {
        false
    }
}

/// A var builder that hands out seeded random weights: model code built on it gets a
/// model of the real architecture without any file (benchmarks use this).
pub fn random_var_builder(seed: u64, dtype: DType, device: &Device) -> VarBuilder<'static> {
    random_init(seed, dtype, device).0
}

/// Random weights for each component, by diffusers name.
struct Components {
    clip: BTreeMap<String, Tensor>,
    unet: BTreeMap<String, Tensor>,
    vae: BTreeMap<String, Tensor>,
}

fn draw(arch: &ModelArch, seed: u64, dtype: DType, clip_layers: usize) -> Result<Components> {
    let dev = Device::Cpu;
    let take = |made: Made| std::mem::take(&mut *made.lock().unwrap_or_else(|p| p.into_inner()));
    let mut clip_cfg = arch.clip.clone();
    clip_cfg.layers = clip_layers;
    let (vb, clip) = random_init(seed, dtype, &dev);
    ClipTextEncoder::new(vb.pp("text_model"), &clip_cfg)?;
    let (vb, unet) = random_init(seed ^ 1, dtype, &dev);
    Unet::new(vb, &arch.unet, Default::default())?;
    let (vb, vae) = random_init(seed ^ 2, dtype, &dev);
    Vae::new(vb, &arch.vae)?;
    Ok(Components {
        clip: take(clip),
        unet: take(unet),
        vae: take(vae),
    })
}

impl MakeModel {
    /// Writes the model at `out` (a folder for diffusers, a `.safetensors` file
    /// otherwise). Everything is written under a temporary name first and renamed into
    /// place, so `out` is either complete or absent.
    pub fn write(&self, out: &Path) -> Result<()> {
        if out.exists() {
            return Err(EngineError::InvalidRequest(format!(
                "{} already exists; choose a new path or remove it first",
                out.display()
            )));
        }
        let parent = out
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(|e| EngineError::io(parent, e))?;
        let tmp = temp_sibling(out);
        let result = match self.layout {
            OutputLayout::Diffusers => self.write_diffusers(&tmp),
            OutputLayout::SingleFile => self.write_single_file(&tmp),
            OutputLayout::Onnx => self.write_onnx(&tmp),
        }
        .and_then(|()| std::fs::rename(&tmp, out).map_err(|e| EngineError::io(out, e)));
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    fn write_diffusers(&self, dir: &Path) -> Result<()> {
        let arch = self.preset.arch();
        let c = draw(&arch, self.seed, self.dtype, arch.clip.layers)?;
        for sub in ["unet", "vae", "text_encoder", "tokenizer", "scheduler"] {
            let p = dir.join(sub);
            std::fs::create_dir_all(&p).map_err(|e| EngineError::io(&p, e))?;
        }
        save(
            &dir.join("unet/diffusion_pytorch_model.safetensors"),
            &c.unet,
            None,
        )?;
        save(
            &dir.join("vae/diffusion_pytorch_model.safetensors"),
            &c.vae,
            None,
        )?;
        save(&dir.join("text_encoder/model.safetensors"), &c.clip, None)?;
        write_configs(dir, &arch, &["vae"], false)
    }

    /// The same weights as [`Self::write_diffusers`] (same preset and seed), as graphs.
    fn write_onnx(&self, dir: &Path) -> Result<()> {
        use crate::onnx::export;
        let arch = self.preset.arch();
        let c = draw(&arch, self.seed, self.dtype, arch.clip.layers)?;
        for sub in [
            "unet",
            "vae_decoder",
            "vae_encoder",
            "text_encoder",
            "tokenizer",
            "scheduler",
        ] {
            let p = dir.join(sub);
            std::fs::create_dir_all(&p).map_err(|e| EngineError::io(&p, e))?;
        }
        let vb = |m: &BTreeMap<String, Tensor>| {
            VarBuilder::from_tensors(
                m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                DType::F32,
                &Device::Cpu,
            )
        };
        export::write_graph(
            &export::text_encoder(&vb(&c.clip), &arch.clip)?,
            &dir.join("text_encoder/model.onnx"),
        )?;
        export::write_graph(
            &export::unet(&vb(&c.unet), &arch.unet)?,
            &dir.join("unet/model.onnx"),
        )?;
        let vae = vb(&c.vae);
        export::write_graph(
            &export::vae_decoder(&vae, &arch.vae)?,
            &dir.join("vae_decoder/model.onnx"),
        )?;
        export::write_graph(
            &export::vae_encoder(&vae, &arch.vae)?,
            &dir.join("vae_encoder/model.onnx"),
        )?;
        write_configs(dir, &arch, &["vae_decoder", "vae_encoder"], true)
    }

    fn write_single_file(&self, path: &Path) -> Result<()> {
        let arch = self.preset.arch();
        // OpenCLIP checkpoints hold the full tower; SD 2.x stops one layer short of it.
        let clip_layers = match arch.family {
            Family::Sd1 => arch.clip.layers,
            Family::Sd2 => arch.clip.layers + 1,
        };
        let c = draw(&arch, self.seed, self.dtype, clip_layers)?;
        let mut out: BTreeMap<String, Tensor> = BTreeMap::new();
        let u = &arch.unet.inner;
        let layout = UnetLayout {
            layers_per_block: u.layers_per_block,
            up_has_attention: u
                .blocks
                .iter()
                .rev()
                .map(|b| b.use_cross_attn.is_some())
                .collect(),
        };
        for (name, t) in c.unet {
            let ldm = ldm_names::unet(&name, &layout).ok_or_else(|| {
                EngineError::Architecture(format!("no LDM name for UNet weight {name}"))
            })?;
            out.insert(ldm, t);
        }
        let levels = arch.vae.block_out_channels.len();
        for (name, t) in c.vae {
            let ldm = ldm_names::vae(&name, levels).ok_or_else(|| {
                EngineError::Architecture(format!("no LDM name for VAE weight {name}"))
            })?;
            // LDM stores the VAE's attention projections as 1×1 convolutions.
            let t = if ldm.contains(".attn_1.") && t.rank() == 2 {
                t.unsqueeze(2)?.unsqueeze(3)?
            } else {
                t
            };
            out.insert(ldm, t);
        }
        let dev = Device::Cpu;
        match arch.family {
            Family::Sd1 => {
                for (name, t) in c.clip {
                    let LdmSource::Tensor(ldm) = ldm_names::clip(&name) else {
                        continue;
                    };
                    out.insert(ldm, t);
                }
                let ids: Vec<i64> = (0..arch.clip.max_positions as i64).collect();
                out.insert(
                    format!(
                        "{}text_model.embeddings.position_ids",
                        ldm_names::CLIP_PREFIX
                    ),
                    Tensor::from_vec(ids, (1, arch.clip.max_positions), &dev)?,
                );
            }
            Family::Sd2 => {
                let mut fused: BTreeMap<String, Vec<(usize, Tensor)>> = BTreeMap::new();
                for (name, t) in c.clip {
                    match ldm_names::open_clip(&name) {
                        Some(LdmSource::Tensor(ldm)) => {
                            out.insert(ldm, t);
                        }
                        Some(LdmSource::Rows { name, part, .. }) => {
                            fused.entry(name).or_default().push((part, t))
                        }
                        None => {}
                    }
                }
                for (name, mut parts) in fused {
                    parts.sort_by_key(|(p, _)| *p);
                    let ts: Vec<Tensor> = parts.into_iter().map(|(_, t)| t).collect();
                    out.insert(name, Tensor::cat(&ts, 0)?);
                }
                let width = arch.clip.embed_dim;
                out.insert(
                    format!("{}text_projection", ldm_names::OPENCLIP_PREFIX),
                    Tensor::zeros((width, width), self.dtype, &dev)?,
                );
                out.insert(
                    format!("{}logit_scale", ldm_names::OPENCLIP_PREFIX),
                    Tensor::new(4.6052f32, &dev)?.to_dtype(self.dtype)?,
                );
            }
        }
        let sched = NoiseSchedule::sd();
        let ac: Vec<f32> = sched.alphas_cumprod.iter().map(|&a| a as f32).collect();
        out.insert("alphas_cumprod".into(), Tensor::from_vec(ac, 1000, &dev)?);
        out.insert("model_ema.decay".into(), Tensor::new(0.9999f32, &dev)?);
        out.insert("model_ema.num_updates".into(), Tensor::new(0i64, &dev)?);
        let depth = arch.unet.conditioning() == UnetConditioning::Depth;
        if depth {
            out.extend(midas_stub(self.seed, self.dtype)?);
        }
        let mut metadata = BTreeMap::from([(
            "ra.generator".to_string(),
            format!(
                "ra-daemon dev make-model (random weights, seed {})",
                self.seed
            ),
        )]);
        // The published 512-depth-ema carries no ModelSpec; leaving it out here too makes
        // the loader tell its epsilon prediction from the weights, as it must there.
        if !depth {
            metadata.insert(
                "modelspec.prediction_type".to_string(),
                match arch.prediction {
                    crate::arch::Prediction::Epsilon => "epsilon".to_string(),
                    crate::arch::Prediction::V => "v".to_string(),
                },
            );
            metadata.insert(
                "modelspec.architecture".to_string(),
                match arch.family {
                    Family::Sd1 => "stable-diffusion-v1".to_string(),
                    Family::Sd2 => "stable-diffusion-v2-768-v".to_string(),
                },
            );
        }
        save(path, &out, Some(metadata))
    }
}

/// The configs, tokenizer and `model_index.json` beside the weights; the VAE's config goes
/// into each of `vae_dirs` (`vae`, or `vae_decoder` and `vae_encoder` for ONNX).
fn write_configs(dir: &Path, arch: &ModelArch, vae_dirs: &[&str], onnx: bool) -> Result<()> {
    let u = &arch.unet.inner;
    let heads: Vec<usize> = u.blocks.iter().map(|b| b.heads).collect();
    let kind =
        |cross: bool, dir: &str| format!("{}{dir}Block2D", if cross { "CrossAttn" } else { "" });
    let down: Vec<String> = u
        .blocks
        .iter()
        .map(|b| kind(b.use_cross_attn.is_some(), "Down"))
        .collect();
    let up: Vec<String> = u
        .blocks
        .iter()
        .rev()
        .map(|b| kind(b.use_cross_attn.is_some(), "Up"))
        .collect();
    write_json(
        &dir.join("unet/config.json"),
        &json!({
            "_class_name": "UNet2DConditionModel",
            "in_channels": arch.unet.in_channels,
            "out_channels": arch.unet.out_channels,
            "block_out_channels": u.blocks.iter().map(|b| b.out_channels).collect::<Vec<_>>(),
            "down_block_types": down,
            "up_block_types": up,
            "layers_per_block": u.layers_per_block,
            "cross_attention_dim": u.cross_attention_dim,
            "attention_head_dim": if heads.iter().all(|&h| h == heads[0]) { json!(heads[0]) } else { json!(heads) },
            "use_linear_projection": u.use_linear_projection,
            "norm_num_groups": u.norm_num_groups,
            "sample_size": 64,
        }),
    )?;
    let v = &arch.vae;
    for vae_dir in vae_dirs {
        write_json(
            &dir.join(format!("{vae_dir}/config.json")),
            &json!({
                "_class_name": "AutoencoderKL",
                "block_out_channels": v.block_out_channels,
                "layers_per_block": v.layers_per_block,
                "latent_channels": v.latent_channels,
                "norm_num_groups": v.norm_num_groups,
                "scaling_factor": v.scaling_factor,
                "in_channels": 3, "out_channels": 3,
            }),
        )?;
    }
    let t = &arch.clip;
    write_json(
        &dir.join("text_encoder/config.json"),
        &json!({
            "architectures": ["CLIPTextModel"],
            "hidden_size": t.embed_dim,
            "intermediate_size": t.intermediate_size,
            "num_hidden_layers": t.layers,
            "num_attention_heads": t.heads,
            "max_position_embeddings": t.max_positions,
            "vocab_size": t.vocab_size,
            "hidden_act": match t.activation { ClipActivation::QuickGelu => "quick_gelu", ClipActivation::Gelu => "gelu" },
        }),
    )?;
    write_json(
        &dir.join("scheduler/scheduler_config.json"),
        &json!({
            "_class_name": "EulerDiscreteScheduler",
            "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
            "num_train_timesteps": 1000,
            "prediction_type": arch.prediction.diffusers_name(),
        }),
    )?;
    let (vocab, merges) = ClipTokenizer::builtin_parts()?;
    let tokenizer = ClipTokenizer::from_merges(&merges)?;
    write_text(&dir.join("tokenizer/tokenizer.json"), &tokenizer.to_json()?)?;
    write_json(&dir.join("tokenizer/vocab.json"), &json!(vocab))?;
    write_text(
        &dir.join("tokenizer/merges.txt"),
        &format!("#version: 0.2\n{}\n", merges.join("\n")),
    )?;
    write_json(
        &dir.join("tokenizer/special_tokens_map.json"),
        &json!({
            "bos_token": crate::tokenizer::BOS, "eos_token": crate::tokenizer::EOS,
            "pad_token": if t.pad_id == 0 { "!" } else { crate::tokenizer::EOS },
        }),
    )?;
    if onnx {
        let part = json!(["diffusers", "OnnxRuntimeModel"]);
        return write_json(
            &dir.join("model_index.json"),
            &json!({
                "_class_name": "OnnxStableDiffusionPipeline",
                "text_encoder": part, "unet": part, "vae_decoder": part, "vae_encoder": part,
                "tokenizer": ["transformers", "CLIPTokenizer"],
                "scheduler": ["diffusers", "EulerDiscreteScheduler"],
            }),
        );
    }
    write_json(
        &dir.join("model_index.json"),
        &json!({
            "_class_name": "StableDiffusionPipeline",
            "text_encoder": ["transformers", "CLIPTextModel"],
            "tokenizer": ["transformers", "CLIPTokenizer"],
            "unet": ["diffusers", "UNet2DConditionModel"],
            "vae": ["diffusers", "AutoencoderKL"],
            "scheduler": ["diffusers", "EulerDiscreteScheduler"],
        }),
    )
}

/// A few tensors named as the MiDaS (DPT-Hybrid) depth estimator that SD 2's depth
/// checkpoint bundles under `depth_model.*`: RA does not run it (depth maps come from a
/// preprocessor), so loaders must pass over it, and a small stand-in shows they do.
fn midas_stub(seed: u64, dtype: DType) -> Result<BTreeMap<String, Tensor>> {
    let shapes: [(&str, &[usize]); 4] = [
        ("depth_model.model.pretrained.model.cls_token", &[1, 1, 16]),
        ("depth_model.model.pretrained.model.pos_embed", &[1, 5, 16]),
        (
            "depth_model.model.scratch.output_conv.0.weight",
            &[8, 16, 3, 3],
        ),
        ("depth_model.model.scratch.output_conv.0.bias", &[8]),
    ];
    let mut out = BTreeMap::new();
    for (name, dims) in shapes {
        let n = dims.iter().product();
        let v = SeedStream::substream(seed, name_hash(name)).normals(n);
        let t = Tensor::from_vec(v, dims, &Device::Cpu)?.to_dtype(dtype)?;
        out.insert(name.to_string(), t);
    }
    Ok(out)
}

fn temp_sibling(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    out.with_file_name(format!(".{name}.part-{}", std::process::id()))
}

/// A kohya-format LoRA with random weights for `model`: every attention projection of
/// the UNet and the text encoder, and the UNet's ResNet convolutions as LoCon layers,
/// at `rank` with alpha `rank / 2`. Written atomically.
pub fn write_lora(model: &crate::SdModel, out: &Path, seed: u64, rank: usize) -> Result<()> {
    let attention = [
        ".to_q.",
        ".to_k.",
        ".to_v.",
        ".to_out.0.",
        "q_proj.",
        "k_proj.",
        "v_proj.",
        "out_proj.",
    ];
    let mut tensors = BTreeMap::new();
    let parts = [
        ("lora_te_text_model_", &model.text_encoder_weights),
        ("lora_unet_", &model.unet_weights),
    ];
    for (prefix, weights) in parts {
        let mut names: Vec<&String> = weights.keys().collect();
        names.sort();
        for name in names {
            let is_target = name.ends_with(".weight")
                && (attention.iter().any(|a| name.contains(a))
                    || (name.contains(".resnets.") && name.contains(".conv1.")));
            if !is_target {
                continue;
            }
            let shape = weights[name.as_str()].dims().to_vec();
            let module = name.trim_end_matches(".weight");
            let module = module.strip_prefix("text_model.").unwrap_or(module);
            let key = format!("{prefix}{}", module.replace('.', "_"));
            let mut rng = SeedStream::substream(seed, name_hash(&key));
            let mut random = |dims: Vec<usize>, scale: f32| -> Result<Tensor> {
                let n = dims.iter().product();
                let v: Vec<f32> = rng.normals(n).iter().map(|z| z * scale).collect();
                Ok(Tensor::from_vec(v, dims, &Device::Cpu)?)
            };
            let (down, up) = if shape.len() == 4 {
                (
                    vec![rank, shape[1], shape[2], shape[3]],
                    vec![shape[0], rank, 1, 1],
                )
            } else {
                (vec![rank, shape[1]], vec![shape[0], rank])
            };
            tensors.insert(format!("{key}.lora_down.weight"), random(down, 0.3)?);
            tensors.insert(format!("{key}.lora_up.weight"), random(up, 0.3)?);
            tensors.insert(
                format!("{key}.alpha"),
                Tensor::new(rank as f32 / 2.0, &Device::Cpu)?,
            );
        }
    }
    let part = temp_sibling(out);
    save(&part, &tensors, None)?;
    std::fs::rename(&part, out).map_err(|e| EngineError::io(out, e))
}

/// A textual-inversion embedding with random vectors in A1111's `emb_params` layout.
pub fn write_embedding(out: &Path, dim: usize, vectors: usize, seed: u64) -> Result<()> {
    let v: Vec<f32> = SeedStream::new(seed)
        .normals(vectors * dim)
        .iter()
        .map(|z| z * 0.5)
        .collect();
    let mut tensors = BTreeMap::new();
    tensors.insert(
        "emb_params".to_string(),
        Tensor::from_vec(v, (vectors, dim), &Device::Cpu)?,
    );
    let part = temp_sibling(out);
    save(&part, &tensors, None)?;
    std::fs::rename(&part, out).map_err(|e| EngineError::io(out, e))
}

/// A TAESD decoder with random weights in madebyollin's layout
/// ([`crate::taesd::decoder_tensor_shapes`]), for 4-channel latents. The weights are
/// scaled by fan-in so activations neither vanish nor saturate through the ten blocks,
/// and its previews show structure rather than a flat colour. Written atomically.
pub fn write_taesd_decoder(out: &Path, seed: u64) -> Result<()> {
    let mut tensors = BTreeMap::new();
    for (name, dims) in crate::taesd::decoder_tensor_shapes(crate::taesd::LATENT_CHANNELS) {
        let n: usize = dims.iter().product();
        let scale = if name.ends_with(".bias") {
            0.05
        } else {
            // He initialisation; the block's third convolution is halved so the
            // residual sum keeps its scale.
            let fan_in: usize = dims[1..].iter().product();
            let he = (2.0 / fan_in as f32).sqrt();
            if name.contains(".conv.4.") {
                he * 0.5
            } else {
                he
            }
        };
        let mut rng = SeedStream::substream(seed, name_hash(&name));
        let v: Vec<f32> = rng.normals(n).iter().map(|z| z * scale).collect();
        tensors.insert(name, Tensor::from_vec(v, dims, &Device::Cpu)?);
    }
    let part = temp_sibling(out);
    save(&part, &tensors, None)?;
    std::fs::rename(&part, out).map_err(|e| EngineError::io(out, e))
}

/// A safetensors file of `shapes` with seeded He-normal weights and small biases:
/// a network of a real layout with random weights, for tests. Written atomically.
pub fn write_random_tensors(out: &Path, seed: u64, shapes: &[(String, Vec<usize>)]) -> Result<()> {
    let mut tensors = BTreeMap::new();
    for (name, dims) in shapes {
        let n: usize = dims.iter().product();
        let fan_in: usize = dims[1..].iter().product::<usize>().max(1);
        let scale = if dims.len() == 1 {
            0.05
        } else {
            (2.0 / fan_in as f32).sqrt()
        };
        let v: Vec<f32> = SeedStream::substream(seed, name_hash(name))
            .normals(n)
            .iter()
            .map(|z| z * scale)
            .collect();
        tensors.insert(
            name.clone(),
            Tensor::from_vec(v, dims.as_slice(), &Device::Cpu)?,
        );
    }
    let part = temp_sibling(out);
    save(&part, &tensors, None)?;
    std::fs::rename(&part, out).map_err(|e| EngineError::io(out, e))
}

/// The tiny RRDBNet of [`write_random_tensors`] with the same `seed` and `shapes`
/// (Real-ESRGAN names, 4×), as an ONNX graph at `out`: the same weights, so the candle
/// and ONNX upscalers can be compared.
pub fn write_onnx_upscaler(out: &Path, seed: u64, shapes: &[(String, Vec<usize>)]) -> Result<()> {
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| EngineError::io(parent, e))?;
    }
    let tmp = temp_sibling(out).with_extension("safetensors");
    let written = write_random_tensors(&tmp, seed, shapes).and_then(|()| {
        let tensors = candle_core::safetensors::load(&tmp, &Device::Cpu)?;
        let dim = |name: &str, i: usize| {
            tensors.get(name).and_then(|t| t.dims().get(i).copied()).ok_or_else(|| EngineError::MissingWeight {
                name: name.into(),
                detail: Some("the ONNX upscaler takes Real-ESRGAN names".into()),
            })
        };
        let features = dim("conv_first.weight", 0)?;
        let growth = dim("body.0.rdb1.conv1.weight", 0)?;
        let blocks = (0..).take_while(|b| tensors.contains_key(&format!("body.{b}.rdb1.conv1.weight"))).count();
        let ups = (1..).take_while(|i| tensors.contains_key(&format!("conv_up{i}.weight"))).count();
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
        crate::onnx::export::write_graph(&crate::onnx::export::esrgan(&vb, features, blocks, growth, ups)?, out)
    });
    let _ = std::fs::remove_file(&tmp);
    written
}

/// The weights `build` asks for when constructing a network from a var builder, drawn at
/// random (seeded) and written atomically to `out` under the names it used.
pub fn write_random_model(
    out: &Path,
    seed: u64,
    build: impl FnOnce(VarBuilder<'static>) -> Result<()>,
) -> Result<()> {
    let (vb, made) = random_init(seed, DType::F32, &Device::Cpu);
    build(vb)?;
    let tensors = made
        .lock()
        .map_err(|_| EngineError::Architecture("random weights were poisoned".into()))?
        .clone();
    let part = temp_sibling(out);
    save(&part, &tensors, None)?;
    std::fs::rename(&part, out).map_err(|e| EngineError::io(out, e))
}

/// Writes a safetensors file with its header in sorted order, so that the same tensors
/// always give the same bytes (the `safetensors` crate orders metadata by hash).
fn save(
    path: &Path,
    tensors: &BTreeMap<String, Tensor>,
    metadata: Option<BTreeMap<String, String>>,
) -> Result<()> {
    use std::io::Write;
    let io = |e: std::io::Error| EngineError::io(path, e);
    let mut entries: Vec<(String, serde_json::Value)> = Vec::new();
    if let Some(m) = metadata {
        entries.push(("__metadata__".into(), json!(m)));
    }
    let mut offset = 0usize;
    for (name, t) in tensors {
        let end = offset + t.elem_count() * t.dtype().size_in_bytes();
        entries.push((
            name.clone(),
            json!({"dtype": dtype_name(t.dtype())?, "shape": t.dims(), "data_offsets": [offset, end]}),
        ));
        offset = end;
    }
    // Written by hand so key order is ours whatever serde_json's map type is.
    let mut head = b"{".to_vec();
    for (i, (k, v)) in entries.iter().enumerate() {
        if i > 0 {
            head.push(b',');
        }
        head.extend(json!(k).to_string().as_bytes());
        head.push(b':');
        head.extend(sorted_json(v).as_bytes());
    }
    head.push(b'}');
    // Pad so tensor data starts 8-byte aligned, as the format recommends.
    head.resize(head.len().div_ceil(8) * 8, b' ');
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
    f.write_all(&(head.len() as u64).to_le_bytes())
        .map_err(io)?;
    f.write_all(&head).map_err(io)?;
    // One tensor's bytes at a time: a full-size model is several GB.
    for t in tensors.values() {
        f.write_all(&tensor_bytes(t)?).map_err(io)?;
    }
    f.into_inner()
        .map_err(|e| io(e.into_error()))?
        .sync_all()
        .map_err(io)
}

/// A JSON object with its keys sorted (flat values only, as safetensors headers hold).
fn sorted_json(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", json!(k), m[k]))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        other => other.to_string(),
    }
}

fn dtype_name(dtype: DType) -> Result<&'static str> {
    Ok(match dtype {
        DType::F32 => "F32",
        DType::F16 => "F16",
        DType::BF16 => "BF16",
        DType::I64 => "I64",
        other => {
            return Err(EngineError::InvalidRequest(format!(
                "cannot save {other:?} tensors"
            )))
        }
    })
}

fn tensor_bytes(t: &Tensor) -> Result<Vec<u8>> {
    fn le<T: candle_core::WithDType, const N: usize>(
        t: &Tensor,
        f: fn(T) -> [u8; N],
    ) -> Result<Vec<u8>> {
        Ok(t.to_vec1::<T>()?.into_iter().flat_map(f).collect())
    }
    let t = t.flatten_all()?;
    match t.dtype() {
        DType::F32 => le(&t, f32::to_le_bytes),
        DType::F16 => le(&t, half::f16::to_le_bytes),
        DType::BF16 => le(&t, half::bf16::to_le_bytes),
        DType::I64 => le(&t, i64::to_le_bytes),
        other => dtype_name(other).map(|_| Vec::new()),
    }
}

fn write_json(path: &Path, v: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(v)
        .map_err(|e| EngineError::io(path, std::io::Error::other(e)))?;
    write_text(path, &text)
}

fn write_text(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| EngineError::io(path, e))
}
